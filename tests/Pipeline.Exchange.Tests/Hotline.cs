using Confluent.SchemaRegistry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Classification;
using Pipeline.Contracts;
using Pipeline.Exchange;
using Pipeline.Geolocation;
using Pipeline.Intake;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.Routing;
using Pipeline.Takedown;
using Pipeline.TestSupport;

namespace Pipeline.Exchange.Tests;

/// <summary>
/// One national hotline: its own embedded Kafka cluster and Schema Registry, and its own pipeline (intake →
/// geolocation → classification → routing → takedown, plus the exchange gateway) in this process. Hotlines reach
/// each other only through their clusters, as they would across borders.
/// </summary>
public sealed class Hotline : IAsyncDisposable
{
    public static readonly Dictionary<string, string> Countries = new() { ["nl-hotline"] = "NL", ["de-hotline"] = "DE", ["gb-hotline"] = "GB" };

    private WebApplication? app;
    private readonly string contentRoot = Directory.CreateTempSubdirectory("hotline-").FullName;

    private Hotline(string id, EmbeddedRuntime runtime)
    {
        Id = id;
        Runtime = runtime;
    }

    public string Id { get; }
    public string Country => Countries[Id];
    public EmbeddedRuntime Runtime { get; }
    public EventPublisher Publisher => app!.Services.GetRequiredService<EventPublisher>();

    public static async Task<Hotline> CreateAsync(string id, IEnumerable<string> partners)
    {
        var runtime = await EmbeddedRuntime.StartAsync(brokers: 3);
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl });
        foreach (var partner in partners)
        {
            // Each partner delivers to its own topic on our cluster (in production: writable by that partner only).
            runtime.Cluster.CreateTopic(Topics.ExchangeInbound(partner), partitions: 3, replicationFactor: 3);
            await registry.RegisterSchemaAsync(Topics.ExchangeInbound(partner) + "-value", new Schema(Schemas.Of<ReportForwarded>().ToString(), SchemaType.Avro));
        }
        return new Hotline(id, runtime);
    }

    /// <summary>Starts the pipeline. <paramref name="hosts"/> is this hotline's own view of where hosts are.</summary>
    public async Task StartAsync(IEnumerable<Hotline> partners, IReadOnlyDictionary<string, string> hosts, string knownSha256)
    {
        var config = new Dictionary<string, string?>(Runtime.Configuration)
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Routing:HomeCountry"] = Country,
            ["Routing:HomeHotline"] = Id,
            ["Routing:PoliceFirst"] = "false",
            ["Takedown:SenderOrganisation"] = $"{Id} (test)",
            ["Takedown:SenderContact"] = $"notices@{Id}.test",
            ["Exchange:HomeHotline"] = Id,
            ["Exchange:DeliveryTimeout"] = "00:00:05",
            ["Exchange:RetryAfter"] = "00:00:01",
        };
        var n = 0;
        foreach (var (hotline, country) in Countries)
        {
            var prefix = country switch { "NL" => "192.0.2.0/24", "DE" => "198.51.100.0/24", _ => "203.0.113.0/24" };
            config[$"Geolocation:Networks:{n}:Prefix"] = prefix;
            config[$"Geolocation:Networks:{n}:Asn"] = (64496 + n).ToString(System.Globalization.CultureInfo.InvariantCulture);
            config[$"Geolocation:Networks:{n}:AsOrganisation"] = $"{country} Host (test)";
            config[$"Geolocation:Networks:{n}:Country"] = country;
            config[$"Geolocation:Networks:{n}:HosterId"] = $"{country.ToLowerInvariant()}-host";
            config[$"Geolocation:Networks:{n}:HosterName"] = $"{country} Host";
            config[$"Geolocation:Networks:{n}:AbuseAddress"] = $"abuse@{country.ToLowerInvariant()}-host.test";
            n++;
        }
        foreach (var (host, ip) in hosts) config[$"Geolocation:Hosts:{host}:0"] = ip;
        foreach (var p in partners)
        {
            config[$"Routing:Partners:{p.Country}"] = p.Id;
            config[$"Exchange:Partners:{p.Id}:BootstrapServers"] = p.Runtime.BootstrapServers;
            config[$"Exchange:Partners:{p.Id}:SchemaRegistryUrl"] = p.Runtime.SchemaRegistryUrl;
        }
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0", $"--contentRoot={contentRoot}"]);
        builder.Configuration.AddInMemoryCollection(config);
        builder.AddIntake().AddGeolocation().AddClassification().AddRouting().AddTakedown().AddExchange();
        app = builder.Build();
        var entry = new KnownHash
        {
            eventId = EventIds.Derive("known-hash", "police-" + Country, knownSha256), algorithm = HashAlgorithm.SHA256, value = knownSha256,
            bank = "police-" + Country.ToLowerInvariant(), category = "A1", addedBy = "exchange-test", addedAt = DateTime.UtcNow, reference = null,
        };
        await app.StartAsync();
        await Publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(entry), entry);
        var health = app.Services.GetRequiredService<StageHealth>();
        await Polling.Until(() => health.Snapshot.Values.All(s => s.Running && s.Joined), TimeSpan.FromSeconds(180),
            () => $"{Id}: stages joined; not yet: " + string.Join(", ", health.Snapshot.Where(s => !s.Value.Joined).Select(s => s.Key)));
    }

    public TopicWatcher Watch(params string[] topics) => new(Runtime.BootstrapServers, Runtime.SchemaRegistryUrl, topics);

    public static ReportSubmitted Report(string reportId, string url, string sha256) => new()
    {
        eventId = EventIds.Derive("submitted", reportId),
        caseKey = null,
        submittedAt = DateTime.UtcNow,
        report = new Report
        {
            reportId = reportId, sourceHotline = "nl-hotline", sourceReference = "REF-" + reportId,
            externalIds = new Dictionary<string, string>(), receivedAt = DateTime.UtcNow, reportedAt = DateTime.UtcNow, url = url,
            isSourceUrl = true, contentType = ContentType.IMAGE, siteType = SiteType.IMAGE_HOST, commercial = false,
            hashes = new ContentHashes { sha256 = sha256 }, reporterType = ReporterType.PUBLIC,
            reporterContact = new ReporterContact { name = "Test Reporter", email = "reporter@mail.test" },
            assessment = null, hops = [],
        },
    };

    /// <summary>A report as a partner hotline forwards it (KNOWN, no reporter contact) for <paramref name="partnerHotline"/>,
    /// the material hosted at <paramref name="host"/> (<paramref name="ip"/>, <paramref name="country"/>).</summary>
    public static ReportForwarded Forwarded(string reportId, string partnerHotline, string country, string host, string ip, string sha256)
    {
        var report = Report(reportId, $"https://{host}/{reportId}.jpg", sha256).report;
        report.reporterContact = null;
        return new ReportForwarded
        {
            eventId = EventIds.Derive("forwarded", reportId), caseKey = report.url, partnerHotline = partnerHotline, partnerCountry = country,
            report = report,
            caseInfo = new CaseInfo { normalizedUrl = report.url, host = host, caseOpenedAt = DateTime.UtcNow, reportCount = 1 },
            hosting = new HostingInfo { resolved = true, ips = [ip], country = country, resolvedAt = DateTime.UtcNow, sources = [], countries = [] },
            verdict = Verdict.KNOWN, matches = [], assessment = null, rule = "partner-country→forward",
            timeline = new Timeline { receivedAt = DateTime.UtcNow }, forwardedAt = DateTime.UtcNow,
        };
    }

    /// <summary>Stops the hotline's stages gracefully (each finishes and writes what it started) and keeps its cluster,
    /// so that its topics can be read to their end: "nothing more arrives" without waiting for a while.</summary>
    public async Task StopStagesAsync()
    {
        if (app is null) return;
        await app.StopAsync();
        await app.DisposeAsync();
        app = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopStagesAsync();
        await Runtime.DisposeAsync();
        Directory.Delete(contentRoot, recursive: true);
    }
}
