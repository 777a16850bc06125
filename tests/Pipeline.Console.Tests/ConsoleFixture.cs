using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Classification;
using Pipeline.Contracts;
using Pipeline.Operator;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.Routing;
using Pipeline.Takedown;
using Pipeline.TestSupport;

namespace Pipeline.Console.Tests;

/// <summary>
/// One embedded cluster, the real classification, routing and takedown stages in one host, and the console on
/// 127.0.0.1 beside them, shared by the tests of <see cref="ConsoleCollection"/>. The console runs on a test clock
/// (<see cref="Clock"/>, set to real time at start) so that a test can let a session expire; the stages run on real time.
/// </summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    public const string Password = "correct-horse-battery";
    public static readonly string[] Users = ["analyst-1", "analyst-2", "manager-1", "admin-1"];

    public EmbeddedRuntime Runtime { get; private set; } = null!;
    public WebApplication Stages { get; private set; } = null!;
    public WebApplication Console { get; private set; } = null!;
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);
    public TopicWatcher Watcher { get; private set; } = null!;
    public EventPublisher Publisher => Stages.Services.GetRequiredService<EventPublisher>();
    public string BaseUrl => Console.Urls.First();

    public async Task InitializeAsync()
    {
        Runtime = await EmbeddedRuntime.StartAsync(brokers: 1);
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(Runtime.Configuration);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Routing:HomeCountry"] = "NL", ["Routing:HomeHotline"] = "nl-hotline", ["Routing:PoliceFirst"] = "true", ["Routing:PoliceReleaseTimeout"] = "7.00:00:00",
            ["Takedown:Deadline"] = "1.00:00:00", ["Takedown:SenderOrganisation"] = "Test Hotline", ["Takedown:SenderContact"] = "notices@hotline.test",
            ["Takedown:SenderDomain"] = "hotline.test", ["Takedown:Reminders:Interval"] = "1.00:00:00", ["Takedown:Reminders:MaxCount"] = "1",
            ["Takedown:Delivery:Smtp:Host"] = "127.0.0.1", ["Takedown:Delivery:Smtp:Port"] = "2525", ["Takedown:Delivery:Smtp:Security"] = "None",
            ["Takedown:Delivery:Webhook:Secret"] = "whsec-console-test-0123456789",
            ["Processing:ShutdownTimeoutSeconds"] = "10",
        });
        builder.AddClassification().AddRouting().AddTakedown();
        Stages = builder.Build();
        await Stages.StartAsync();

        var console = new Dictionary<string, string?>(Runtime.Configuration)
        {
            ["urls"] = "http://127.0.0.1:0",
            ["Console:SecureCookies"] = "false", // plain HTTP on loopback
            ["Console:SessionMinutes"] = "30",
            ["Console:LockMinutes"] = "15",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        var hash = PasswordHashes.Hash(Password);
        for (var i = 0; i < Users.Length; i++)
        {
            console[$"Console:Users:{i}:Name"] = Users[i];
            console[$"Console:Users:{i}:PasswordHash"] = hash;
            console[$"Console:Users:{i}:Roles:0"] = Users[i].Split('-')[0];
        }
        Console = ConsoleApp.Create([], console, s => s.Replace(ServiceDescriptor.Singleton<TimeProvider>(Clock)));
        await Console.StartAsync();
        Watcher = new TopicWatcher(Runtime.BootstrapServers, Runtime.SchemaRegistryUrl,
            Topics.ReportsAssessed, Topics.ReportsClassified, Topics.NoticesIssued, Topics.TakedownRequested, Topics.AuditLog);
        await Watcher.Assigned.WaitAsync(TimeSpan.FromMinutes(2));
        using var http = new HttpClient();
        await Polling.Until(async () => (await http.GetAsync(BaseUrl + "/health/ready")).IsSuccessStatusCode, TimeSpan.FromMinutes(2), () => "the console has not read its topics");
    }

    public async Task DisposeAsync()
    {
        Watcher?.Dispose();
        await Console.StopAsync();
        await Console.DisposeAsync();
        await Stages.StopAsync();
        await Stages.DisposeAsync();
        await Runtime.DisposeAsync();
    }

    public DateTime Now => DateTime.UtcNow;

    public static string NewId(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    public static Report Report(string reportId, string url, DateTime at) => new()
    {
        reportId = reportId, sourceHotline = "nl-hotline", sourceReference = "REF-" + reportId, externalIds = new Dictionary<string, string>(),
        receivedAt = at, reportedAt = null, url = url, parentUrl = null, isSourceUrl = true, contentType = ContentType.IMAGE, siteType = SiteType.IMAGE_HOST,
        commercial = false, hashes = new ContentHashes { sha256 = RandomHex(32), md5 = RandomHex(16), sha1 = null, pdq = null, pdqQuality = null },
        reporterType = ReporterType.PUBLIC, reporterContact = null, assessment = null, hops = [],
    };

    public static string RandomHex(int bytes) => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(bytes)).ToLowerInvariant();

    public static HostingInfo Hosting(string host, string abuse, bool approved = true) => new()
    {
        resolved = true, ips = ["192.0.2.44"], asn = 64500, asOrganisation = "Console Host (test)", country = "NL", hosterId = "console-host",
        hosterName = "Console Host", abuseContact = new AbuseContact { address = abuse, channel = NoticeChannel.EMAIL, foundVia = approved ? "networks:table" : "rdap:ripe", approved = approved },
        behindCdn = false, originIp = null, resolvedAt = DateTime.UtcNow, sources = ["test"], unresolvedReason = null, countries = ["NL"], cnameChain = null, addresses = null,
    };

    public static CaseInfo CaseInfo(string url, DateTime at) => new()
    {
        normalizedUrl = url, host = new Uri(url).Host, caseOpenedAt = at, reportCount = 1, reupload = false, episode = 0, userinfoRemoved = false,
    };

    /// <summary>A located report no bank knows: classification holds it for an analyst (classification.waiting.v1).</summary>
    public async Task<(string ReportId, string Url)> WaitingReportAsync()
    {
        var reportId = NewId("r");
        var url = $"http://www.console-host.example/{reportId}/img.jpg";
        var now = DateTime.UtcNow;
        await Publisher.PublishAsync(Topics.ReportsLocated, url, new ReportLocated
        {
            eventId = "located-" + reportId, caseKey = url, report = Report(reportId, url, now), caseInfo = CaseInfo(url, now),
            hosting = Hosting("www.console-host.example", "abuse@console-host.example"), locatedAt = now,
        });
        var topics = Console.Services.GetRequiredService<ConsoleTopics>();
        await Polling.Until(() => topics.Waiting.Any(w => w.reportId == reportId), TimeSpan.FromMinutes(1), () => $"report {reportId} is not waiting for an assessment");
        return (reportId, url);
    }

    public static string Hours(double h) => h.ToString(CultureInfo.InvariantCulture);
}

[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleFixture>
{
    public const string Name = "console";
}
