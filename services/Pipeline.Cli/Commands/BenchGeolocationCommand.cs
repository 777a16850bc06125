using System.Diagnostics;
using System.Globalization;
using System.Net;
using Avro.Specific;
using Pipeline.Contracts;
using Pipeline.Geolocation;
using Pipeline.Geolocation.Simulation;
using Pipeline.Platform;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline bench geolocation`: the geolocation processor's throughput with a warm cache (DNS on a loopback server,
/// generated GeoLite2-layout databases, RDAP on a loopback registry, all answers cached after one pass), and raw
/// .mmdb lookups per second. Prints figures; never fails on timing.
/// </summary>
public static class BenchGeolocationCommand
{
    public sealed record Settings(int Hosts, int Reports, int Lookups);

    public static async Task<int> RunAsync(Settings settings, CancellationToken ct)
    {
        var (hostCount, reports, lookups) = (settings.Hosts, settings.Reports, settings.Lookups);
        if (hostCount < 1 || reports < 1 || lookups < 1) throw new ArgumentException("--hosts, --reports and --lookups must be ≥ 1.");

        var dir = Path.Combine(Path.GetTempPath(), "pipeline-bench-geo-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        await using var dns = new LoopbackDnsServer();
        await using var rdap = await LoopbackRdapServer.StartAsync();
        try
        {
            var (asnPath, countryPath, networks) = WriteDatabases(dir);
            foreach (var (cidr, i) in networks.Select((n, i) => (n, i)).Where(x => x.n.Contains('.')))
                rdap.Add(cidr, $"NET-{i}", $"NET-{i}", "NL", $"abuse{i}@hoster.example");
            rdap.Add("2001:db8::/32", "NET-V6", "V6", "GB", "abuse@v6.example");

            var random = new Random(7);
            var hosts = new List<string>(hostCount);
            for (var i = 0; i < hostCount; i++)
            {
                var host = $"site{i}.bench.example";
                if (i % 5 == 0)
                {
                    dns.CName(host, $"edge{i}.cdn.example", ttl: 86_400);
                    dns.A($"edge{i}.cdn.example", RandomAddress(random, v6: false), ttl: 86_400);
                }
                else dns.A(host, RandomAddress(random, v6: i % 3 == 0), ttl: 86_400);
                hosts.Add(host);
            }

            var options = new GeolocationOptions
            {
                Networks = [new() { Prefix = "203.0.113.0/28", HosterId = "bench-cdn", HosterName = "Bench CDN", AbuseAddress = "abuse@cdn.example", BehindCdn = true }],
                Dns = new DnsSettings { NameServers = [dns.Address], TimeoutMs = 2000 },
                GeoIp = new GeoIpSettings { AsnDatabase = asnPath, CountryDatabase = countryPath },
                Rdap = new RdapSettings
                {
                    Registries = [new() { Prefix = "0.0.0.0/0", BaseUrl = rdap.BaseUrl }, new() { Prefix = "::/0", BaseUrl = rdap.BaseUrl }],
                },
            };
            GeolocationService.Validate(options);
            var locator = GeolocationService.Create(options, TimeProvider.System);
            var processor = new GeolocationProcessor(locator, TimeProvider.System);
            var inputs = hosts.Select((h, i) => Incoming(h, i)).ToArray();
            var output = new CountingOutput();

            var warm = Stopwatch.StartNew();
            foreach (var m in inputs) await processor.ProcessAsync(m, output, ct);
            warm.Stop();
            Console.WriteLine($"warm-up: {hostCount} hosts located cold in {warm.Elapsed.TotalSeconds:0.00} s " +
                $"({hostCount / warm.Elapsed.TotalSeconds:0} reports/s; DNS queries over loopback, {rdap.Requests} RDAP requests)");

            output.Count = 0;
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < reports; i++) await processor.ProcessAsync(inputs[i % inputs.Length], output, ct);
            sw.Stop();
            Console.WriteLine($"geolocation processor, warm cache: {reports:N0} reports in {sw.Elapsed.TotalSeconds:0.00} s = " +
                $"{reports / sw.Elapsed.TotalSeconds:N0} reports/s ({sw.Elapsed.TotalMicroseconds / reports:0.0} µs/report, one thread, {output.Count:N0} outputs)");

            var geo = locator.Databases!;
            var addresses = Enumerable.Range(0, 4096).Select(i => IPAddress.Parse(RandomAddress(random, v6: i % 4 == 0))).ToArray();
            var found = 0;
            sw.Restart();
            for (var i = 0; i < lookups; i++)
                if (geo.AsnDatabase!.Find<AsnRecord>(addresses[i & 4095]) is not null) found++;
            sw.Stop();
            Console.WriteLine($".mmdb ASN lookups: {lookups:N0} in {sw.Elapsed.TotalSeconds:0.00} s = {lookups / sw.Elapsed.TotalSeconds:N0} lookups/s ({found:N0} hits)");
            sw.Restart();
            for (var i = 0; i < lookups; i++) _ = geo.Lookup(addresses[i & 4095]);
            sw.Stop();
            Console.WriteLine($".mmdb ASN+country lookups (as the locator does them): {lookups / sw.Elapsed.TotalSeconds:N0} addresses/s " +
                $"({2 * lookups / sw.Elapsed.TotalSeconds:N0} database lookups/s)");
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (string Asn, string Country, List<string> Networks) WriteDatabases(string dir)
    {
        var asn = new MaxMindDbWriter("GeoLite2-ASN");
        var country = new MaxMindDbWriter("GeoLite2-Country");
        var networks = new List<string>();
        string[] codes = ["NL", "DE", "FR", "GB", "US", "SE", "DK", "RO"];
        var n = 0;
        foreach (var block in new[] { "192.0.2", "198.51.100", "203.0.113" })
            for (var sub = 0; sub < 256; sub += 16, n++)
                networks.Add($"{block}.{sub}/28");
        for (var sub = 0; sub < 4096; sub++) networks.Add($"2001:db8:{sub:x}::/48");
        for (var i = 0; i < networks.Count; i++)
        {
            asn.Add(networks[i], MaxMindDbWriter.AsnRecord(64496 + (i % 16), $"Bench AS {i % 16} (example)"));
            country.Add(networks[i], MaxMindDbWriter.CountryRecord(codes[i % codes.Length], codes[i % codes.Length]));
        }
        var asnPath = Path.Combine(dir, "GeoLite2-ASN.mmdb");
        var countryPath = Path.Combine(dir, "GeoLite2-Country.mmdb");
        asn.WriteTo(asnPath);
        country.WriteTo(countryPath);
        return (asnPath, countryPath, networks);
    }

    private static string RandomAddress(Random r, bool v6) => v6
        ? $"2001:db8:{r.Next(4096):x}::{r.Next(1, 65535):x}"
        : $"{new[] { "192.0.2", "198.51.100", "203.0.113" }[r.Next(3)]}.{r.Next(1, 255)}";

    private static Incoming<ReportAccepted> Incoming(string host, int i)
    {
        var url = $"https://{host}/media/{i}.jpg";
        var at = new DateTime(2026, 3, 1, 9, 0, 0, DateTimeKind.Utc);
        var report = new Report
        {
            reportId = "bench-" + i.ToString(CultureInfo.InvariantCulture), sourceHotline = "bench", sourceReference = "b" + i.ToString(CultureInfo.InvariantCulture),
            externalIds = new Dictionary<string, string>(), receivedAt = at, reportedAt = null, url = url, parentUrl = null, isSourceUrl = true,
            contentType = ContentType.IMAGE, siteType = SiteType.WEBSITE, commercial = false,
            hashes = new ContentHashes { sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i))) },
            reporterType = ReporterType.CRAWLER, reporterContact = null, assessment = null, hops = new List<string>(),
        };
        var accepted = new ReportAccepted
        {
            eventId = EventIds.Derive("accepted", report.reportId), caseKey = url, report = report,
            caseInfo = new CaseInfo { normalizedUrl = url, host = host, caseOpenedAt = at, reportCount = 1, reupload = false, userinfoRemoved = false },
            acceptedAt = at,
        };
        return new Incoming<ReportAccepted>(url, accepted, Topics.ReportsAccepted, 0, i, at, null);
    }

    private sealed class CountingOutput : IOutput
    {
        public long Count;

        public void Send<T>(string topic, string key, T value) where T : class, ISpecificRecord => Count++;

        public void Send<T>(string topic, int partition, string key, T value) where T : class, ISpecificRecord => Count++;

        public void Tombstone(string topic, string key, int? partition = null) => Count++;
    }
}
