using System.Net;
using MaxMind.Db;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;

namespace Pipeline.Geolocation;

/// <summary>What the MaxMind-format databases say about one address.</summary>
public sealed record GeoIpFacts(long? Asn, string? AsOrganisation, string? Country);

/// <summary>A GeoLite2-ASN / DB-IP ASN record.</summary>
public sealed class AsnRecord
{
    [Constructor]
    public AsnRecord([MapKey("autonomous_system_number")] long? number, [MapKey("autonomous_system_organization")] string? organisation)
    {
        Number = number;
        Organisation = organisation;
    }

    public long? Number { get; }
    public string? Organisation { get; }
}

/// <summary>A GeoLite2-Country / DB-IP country record: the country the address is in, else where it is registered.</summary>
public sealed class CountryRecord
{
    [Constructor]
    public CountryRecord([MapKey("country")] CountryPart? country, [MapKey("registered_country")] CountryPart? registered)
    {
        IsoCode = country?.IsoCode ?? registered?.IsoCode;
    }

    public string? IsoCode { get; }
}

public sealed class CountryPart
{
    [Constructor]
    public CountryPart([MapKey("iso_code")] string? isoCode) => IsoCode = isoCode;

    public string? IsoCode { get; }
}

/// <summary>
/// One .mmdb file, shared by every lookup, swapped atomically when the file changes (checked by modification time
/// and size on a timer: more robust than a file-system watcher when the file is replaced by a rename, as
/// geoipupdate does). A file that fails to open keeps the previous database in service.
/// </summary>
public sealed class MaxMindDatabase : IDisposable
{
    private static readonly Counter Reloads = Metrics.CreateCounter("pipeline_geolocation_geoip_reloads_total",
        "Database (re)loads by database and outcome.", "database", "outcome");

    private readonly string path;
    private readonly string label;
    private readonly ILogger log;
    private readonly System.Threading.ITimer? timer;
    private readonly Lock reloading = new();
    private Reader? reader;
    private (DateTime Modified, long Length) stamp;

    public MaxMindDatabase(string path, string label, TimeSpan reloadCheck, TimeProvider time, ILogger? log = null)
    {
        this.path = path;
        this.label = label;
        this.log = log ?? NullLogger.Instance;
        if (!ReloadIfChanged())
            throw new InvalidOperationException($"Geolocation:GeoIp:{label}Database '{path}' could not be opened as a MaxMind database. Fix: point it at a valid .mmdb file.");
        timer = time.CreateTimer(_ => ReloadIfChanged(), null, reloadCheck, reloadCheck);
    }

    /// <summary>When the database in service was built (its metadata's build epoch).</summary>
    public DateTime BuiltAt => reader?.Metadata.BuildDate ?? DateTime.MinValue;

    public int Loads { get; private set; }

    public T? Find<T>(IPAddress address) where T : class => Volatile.Read(ref reader)?.Find<T>(address);

    /// <summary>Loads the file if its modification time or size changed; true if a database is in service.</summary>
    public bool ReloadIfChanged()
    {
        lock (reloading)
        {
            try
            {
                var info = new FileInfo(path);
                if (!info.Exists) return reader is not null;
                var now = (info.LastWriteTimeUtc, info.Length);
                if (reader is not null && now == stamp) return true;
                // Memory mode: the file is read whole, so replacing it in place can never corrupt lookups in flight,
                // and the old reader can be dropped at once.
                var fresh = new Reader(path, FileAccessMode.Memory);
                var old = Interlocked.Exchange(ref reader, fresh);
                stamp = now;
                Loads++;
                Reloads.WithLabels(label, "loaded").Inc();
                if (old is not null) log.LogInformation("GeoIP {Database} database reloaded from {Path} (built {Built:u})", label, path, fresh.Metadata.BuildDate);
                old?.Dispose();
                return true;
            }
            catch (Exception e) when (e is InvalidDatabaseException or IOException or UnauthorizedAccessException or DeserializationException)
            {
                Reloads.WithLabels(label, "failed").Inc();
                log.LogWarning("GeoIP {Database} database {Path} could not be loaded ({Error}); {Keeping}", label, path, e.Message,
                    reader is null ? "no database in service" : "keeping the previous one");
                return reader is not null;
            }
        }
    }

    public void Dispose()
    {
        timer?.Dispose();
        Interlocked.Exchange(ref reader, null)?.Dispose();
    }
}

/// <summary>IP → ASN, AS organisation and country from the configured databases (either may be absent).</summary>
public sealed class GeoIp : IDisposable
{
    public const string AsnSource = "geoip:asn";
    public const string CountrySource = "geoip:country";

    public GeoIp(GeoIpSettings settings, TimeProvider time, ILogger? log = null)
    {
        var check = TimeSpan.FromSeconds(settings.ReloadCheckSeconds);
        if (!string.IsNullOrWhiteSpace(settings.AsnDatabase)) AsnDatabase = new MaxMindDatabase(settings.AsnDatabase, "Asn", check, time, log);
        if (!string.IsNullOrWhiteSpace(settings.CountryDatabase)) CountryDatabase = new MaxMindDatabase(settings.CountryDatabase, "Country", check, time, log);
    }

    public MaxMindDatabase? AsnDatabase { get; }
    public MaxMindDatabase? CountryDatabase { get; }
    public bool Enabled => AsnDatabase is not null || CountryDatabase is not null;

    public GeoIpFacts? Lookup(IPAddress address)
    {
        if (!Enabled) return null;
        var asn = AsnDatabase?.Find<AsnRecord>(address);
        var country = CountryDatabase?.Find<CountryRecord>(address)?.IsoCode?.ToUpperInvariant();
        if (asn?.Number is null && country is null) return null;
        return new GeoIpFacts(asn?.Number, asn?.Organisation, country);
    }

    public void ReloadIfChanged()
    {
        AsnDatabase?.ReloadIfChanged();
        CountryDatabase?.ReloadIfChanged();
    }

    public void Dispose()
    {
        AsnDatabase?.Dispose();
        CountryDatabase?.Dispose();
    }
}
