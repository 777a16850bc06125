using Pipeline.Geolocation;
using Pipeline.Geolocation.Simulation;

namespace Pipeline.Geolocation.Tests;

/// <summary>
/// A synthetic hosting world on loopback: a DNS server, an RDAP registry and two generated .mmdb files covering the
/// documentation ranges. One per test (cheap: the servers start in milliseconds), so counts of queries are exact.
/// </summary>
internal sealed class World : IAsyncDisposable
{
    public const string AsOrgA = "Hoster A B.V. (example)";
    public const string AsOrgD = "DE Host GmbH (example)";
    public const string AsOrgCdn = "Example CDN Inc (example)";
    public const string AsOrgSlow = "Slow Hoster SAS (example)";
    public const string AsOrgV6 = "V6 Hosting Ltd (example)";

    private World(LoopbackDnsServer dns, LoopbackRdapServer rdap, string directory)
    {
        Dns = dns;
        Rdap = rdap;
        Directory = directory;
    }

    public LoopbackDnsServer Dns { get; }
    public LoopbackRdapServer Rdap { get; }
    public string Directory { get; }
    public string AsnPath => Path.Combine(Directory, "GeoLite2-ASN.mmdb");
    public string CountryPath => Path.Combine(Directory, "GeoLite2-Country.mmdb");

    public static async Task<World> StartAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "geo-tests-" + Guid.NewGuid().ToString("N")[..10]);
        System.IO.Directory.CreateDirectory(dir);
        var world = new World(new LoopbackDnsServer(), await LoopbackRdapServer.StartAsync(), dir);
        WriteAsn(world.AsnPath, AsOrgA);
        WriteCountry(world.CountryPath);

        world.Dns
            .A("www.hoster-a.example", "192.0.2.10", ttl: 120)
            .A("v6only.example", "2001:db8:6::10")
            .A("dual.example", "192.0.2.11").A("dual.example", "2001:db8:6::11")
            .A("multi.example", "192.0.2.20").A("multi.example", "198.51.100.20")
            .CName("alias.example", "cdn-alias.example").CName("cdn-alias.example", "edge.hoster-a.example").A("edge.hoster-a.example", "192.0.2.30")
            .CName("stop.example", "target.hoster-a.example").A("target.hoster-a.example", "192.0.2.31")
            .A("de-host.example", "198.51.100.20")
            .A("de-404.example", "198.51.100.200")
            .A("slow-rdap.example", "203.0.113.130")
            .A("cdn-site.example", "203.0.113.10")
            .A("shop.example", "203.0.113.11")
            .A("big.test", "192.0.2.40")
            .A("unknown-net.test", "203.0.113.250");
        world.Dns.StopAtAlias["stop.example"] = true;
        world.Dns.ServerFailure["broken.test"] = true;
        world.Dns.Silent["silent.test"] = true;
        world.Dns.A("truncated.example", "192.0.2.50");
        world.Dns.TruncateOverUdp["truncated.example"] = true;

        world.Rdap.Add("192.0.2.0/24", "NET-A", "HOSTER-A-NET", "NL", "abuse@hoster-a.example");
        world.Rdap.Add("198.51.100.0/25", "NET-D", "DE-HOST-NET", "DE", "abuse@rdap.de-host.example").Status = 500;
        world.Rdap.Add("203.0.113.128/26", "NET-SLOW", "SLOW-NET", "US", "abuse@slow.example").Delay = TimeSpan.FromSeconds(20);
        world.Rdap.Add("2001:db8::/32", "NET-V6", "V6-NET", "GB", "abuse@v6.example");
        return world;
    }

    public static void WriteAsn(string path, string orgA, DateTimeOffset? built = null)
    {
        var w = new MaxMindDbWriter("GeoLite2-ASN");
        if (built is { } b) w.BuildTime = b;
        w.Add("192.0.2.0/24", MaxMindDbWriter.AsnRecord(64496, orgA))
         .Add("198.51.100.0/24", MaxMindDbWriter.AsnRecord(64500, AsOrgD))
         .Add("203.0.113.0/25", MaxMindDbWriter.AsnRecord(64501, AsOrgCdn))
         .Add("203.0.113.128/26", MaxMindDbWriter.AsnRecord(64503, AsOrgSlow))
         .Add("2001:db8::/32", MaxMindDbWriter.AsnRecord(64502, AsOrgV6))
         .WriteTo(path);
    }

    public static void WriteCountry(string path) =>
        new MaxMindDbWriter("GeoLite2-Country")
            .Add("192.0.2.0/24", MaxMindDbWriter.CountryRecord("NL", "Netherlands"))
            .Add("198.51.100.0/24", MaxMindDbWriter.CountryRecord("DE", "Germany"))
            .Add("203.0.113.0/25", MaxMindDbWriter.CountryRecord("US", "United States", "NA"))
            .Add("203.0.113.128/26", MaxMindDbWriter.CountryRecord("FR", "France"))
            .Add("2001:db8::/32", MaxMindDbWriter.CountryRecord("GB", "United Kingdom"))
            .WriteTo(path);

    /// <summary>Everything configured: DNS, both databases, RDAP for the whole documentation space, and a directory
    /// with a fallback entry for AS64500, a CDN network and one disclosed origin.</summary>
    public GeolocationOptions Options(Action<GeolocationOptions>? change = null)
    {
        var o = new GeolocationOptions
        {
            Networks =
            [
                new() { Asn = 64500, HosterId = "de-host", HosterName = "DE Host", AbuseAddress = "abuse@de-host.example",
                        AbusePrecedence = "Fallback", CodeOfConductMember = true },
                new() { Asn = 64503, HosterId = "slow-hoster", HosterName = "Slow Hoster", AbuseAddress = "abuse@slow-hoster.example",
                        AbusePrecedence = "Fallback" },
                new() { Prefix = "192.0.2.40/29", HosterId = "big-hoster", HosterName = "Big Hoster", AbuseAddress = "https://big.example/abuse",
                        AbuseChannel = "Webhook", CodeOfConductMember = false },
                new() { Prefix = "203.0.113.0/25", HosterId = "example-cdn", HosterName = "Example CDN", AbuseAddress = "abuse@cdn.example", BehindCdn = true },
            ],
            Origins = new(StringComparer.OrdinalIgnoreCase) { ["shop.example"] = "192.0.2.77" },
            Dns = new DnsSettings { NameServers = [Dns.Address], TimeoutMs = 1000, Attempts = 2, RetryBackoffMs = 20 },
            GeoIp = new GeoIpSettings { AsnDatabase = AsnPath, CountryDatabase = CountryPath, ReloadCheckSeconds = 3600 },
            Rdap = new RdapSettings
            {
                Registries = [.. new[] { "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32" }
                    .Select(p => new RdapRegistry { Prefix = p, BaseUrl = Rdap.BaseUrl })],
                TimeoutMs = 1500,
            },
        };
        change?.Invoke(o);
        GeolocationService.Validate(o);
        return o;
    }

    public HostingLocator Locator(TimeProvider? time = null, Action<GeolocationOptions>? change = null) =>
        GeolocationService.Create(Options(change), time ?? TimeProvider.System);

    public async ValueTask DisposeAsync()
    {
        await Dns.DisposeAsync();
        await Rdap.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }
}
