using System.Diagnostics;
using System.Net;
using MaxMind.Db;
using Microsoft.Extensions.Options;
using Pipeline.Geolocation.Simulation;
using Pipeline.TestSupport;

namespace Pipeline.Geolocation.Tests;

public sealed class GeoIpTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "geoip-tests-" + Guid.NewGuid().ToString("N")[..10]);

    public GeoIpTests() => Directory.CreateDirectory(dir);

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Written_database_is_read_by_the_maxmind_reader_with_its_metadata()
    {
        var path = Path.Combine(dir, "asn.mmdb");
        World.WriteAsn(path, World.AsOrgA, built: new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero));
        using var reader = new Reader(path, FileAccessMode.Memory);
        Assert.Equal("GeoLite2-ASN", reader.Metadata.DatabaseType);
        Assert.Equal(6, reader.Metadata.IPVersion);
        Assert.Equal(new DateTime(2026, 2, 1, 0, 0, 0, DateTimeKind.Utc), reader.Metadata.BuildDate);
        var v4 = reader.Find<Dictionary<string, object>>(IPAddress.Parse("192.0.2.200"), out var prefix);
        Assert.Equal(64496L, Convert.ToInt64(v4!["autonomous_system_number"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(World.AsOrgA, v4["autonomous_system_organization"]);
        Assert.Equal(24, prefix); // stored as ::192.0.2.0/120, reported as the IPv4 prefix
        Assert.Equal(64502L, reader.Find<AsnRecord>(IPAddress.Parse("2001:db8:ffff::1"))!.Number);
        Assert.Null(reader.Find<AsnRecord>(IPAddress.Parse("203.0.113.250"))); // outside every network
    }

    [Fact]
    public void Narrower_network_carves_its_part_out_of_a_broader_one()
    {
        var path = Path.Combine(dir, "nested.mmdb");
        new MaxMindDbWriter("GeoLite2-Country")
            .Add("198.51.100.0/24", MaxMindDbWriter.CountryRecord("DE", "Germany"))
            .Add("198.51.100.64/26", MaxMindDbWriter.CountryRecord("AT", "Austria"))
            .WriteTo(path);
        using var reader = new Reader(path, FileAccessMode.Memory);
        Assert.Equal("DE", reader.Find<CountryRecord>(IPAddress.Parse("198.51.100.1"))!.IsoCode);
        Assert.Equal("AT", reader.Find<CountryRecord>(IPAddress.Parse("198.51.100.70"))!.IsoCode);
        Assert.Equal("DE", reader.Find<CountryRecord>(IPAddress.Parse("198.51.100.200"))!.IsoCode);
    }

    [Fact]
    public void Changed_file_is_reloaded_and_a_broken_one_keeps_the_database_in_service()
    {
        var path = Path.Combine(dir, "asn.mmdb");
        World.WriteAsn(path, "Old Org (example)");
        using var geo = new GeoIp(new GeoIpSettings { AsnDatabase = path, ReloadCheckSeconds = 3600 }, TimeProvider.System);
        var ip = IPAddress.Parse("192.0.2.1");
        Assert.Equal("Old Org (example)", geo.Lookup(ip)!.AsOrganisation);

        World.WriteAsn(path, "New Organisation Name (example)");
        geo.ReloadIfChanged();
        Assert.Equal("New Organisation Name (example)", geo.Lookup(ip)!.AsOrganisation);
        Assert.Equal(2, geo.AsnDatabase!.Loads);

        File.WriteAllBytes(path, [1, 2, 3, 4, 5]); // a half-written download
        geo.ReloadIfChanged();
        Assert.Equal("New Organisation Name (example)", geo.Lookup(ip)!.AsOrganisation);
    }

    [Fact]
    public async Task File_replaced_on_disk_is_picked_up_by_the_reload_timer()
    {
        var path = Path.Combine(dir, "asn.mmdb");
        World.WriteAsn(path, "Before (example)");
        using var geo = new GeoIp(new GeoIpSettings { AsnDatabase = path, ReloadCheckSeconds = 1 }, TimeProvider.System);
        World.WriteAsn(path, "After the nightly update (example)");
        await Polling.Until(() => geo.Lookup(IPAddress.Parse("192.0.2.1"))!.AsOrganisation == "After the nightly update (example)",
            TimeSpan.FromSeconds(60), () => "the database reloaded (reload check every 1 s)");
    }

    [Fact]
    public async Task Locator_answers_from_the_reloaded_database()
    {
        await using var world = await World.StartAsync();
        var options = world.Options();
        var locator = GeolocationService.Create(options, TimeProvider.System);
        Assert.Equal(World.AsOrgA, (await locator.LocateAsync("192.0.2.5", CancellationToken.None)).asOrganisation);
        World.WriteAsn(world.AsnPath, "Hoster A, renamed (example)");
        // The locator's databases reload on their timer; the test triggers the same check directly.
        locator.Databases!.ReloadIfChanged();
        Assert.Equal("Hoster A, renamed (example)", (await locator.LocateAsync("192.0.2.5", CancellationToken.None)).asOrganisation);
    }

    [Fact]
    public void Options_errors_name_the_setting_and_the_fix()
    {
        var options = new GeolocationOptions
        {
            Networks = [new() { HosterId = "x" }, new() { Prefix = "192.0.2.0/24", HosterId = "y", AbusePrecedence = "Sometimes" }],
            Origins = new() { ["cdn.example"] = "not-an-ip" },
            Dns = new DnsSettings { NameServers = ["resolver.example:53"], Attempts = 0 },
            GeoIp = new GeoIpSettings { AsnDatabase = Path.Combine(dir, "missing.mmdb") },
            Rdap = new RdapSettings { Registries = [new() { Prefix = "192.0.2.0/24", BaseUrl = "ftp://rdap.example/" }], Domains = [new() { Suffix = ".example", BaseUrl = "rdap.nic.example" }] },
        };
        var e = Assert.Throws<OptionsValidationException>(() => GeolocationService.Validate(options));
        var all = string.Join("\n", e.Failures);
        Assert.Contains("Geolocation:Networks:0 has neither Prefix nor Asn. Fix:", all, StringComparison.Ordinal);
        Assert.Contains("Geolocation:Networks:1:AbusePrecedence 'Sometimes' is not Override or Fallback. Fix:", all, StringComparison.Ordinal);
        Assert.Contains("Geolocation:Origins:cdn.example is 'not-an-ip'", all, StringComparison.Ordinal);
        Assert.Contains("Geolocation:Dns:NameServers:0 'resolver.example:53' is not address:port. Fix:", all, StringComparison.Ordinal);
        Assert.Contains("Geolocation:Dns:Attempts 0 is out of range. Fix:", all, StringComparison.Ordinal);
        Assert.Contains("Geolocation:Rdap:Domains:0:Suffix '.example' is not a domain suffix. Fix:", all, StringComparison.Ordinal);
        Assert.Contains("Geolocation:Rdap:Domains:0:BaseUrl 'rdap.nic.example' is not an http(s) URL. Fix:", all, StringComparison.Ordinal);
        Assert.Contains("Geolocation:GeoIp:AsnDatabase", all, StringComparison.Ordinal);
        Assert.Contains("Geolocation:Rdap:Registries:0:BaseUrl 'ftp://rdap.example/' is not an http(s) URL. Fix:", all, StringComparison.Ordinal);
    }

    [Fact]
    public void Name_servers_parse_with_and_without_port()
    {
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 53), DnsResolver.ParseNameServer("127.0.0.1"));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 5353), DnsResolver.ParseNameServer("127.0.0.1:5353"));
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 5353), DnsResolver.ParseNameServer("[::1]:5353"));
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 53), DnsResolver.ParseNameServer("::1"));
        Assert.Null(DnsResolver.ParseNameServer("dns.example:53"));
    }
}
