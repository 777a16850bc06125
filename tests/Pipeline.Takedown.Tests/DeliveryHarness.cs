using System.Security.Cryptography;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Loopback;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.TestSupport;

namespace Pipeline.Takedown.Tests;

/// <summary>One embedded Kafka + registry, a loopback SMTP server and a loopback webhook receiver per test; the
/// delivery stage runs in-process as the takedown service would.</summary>
public sealed class DeliveryHarness : IAsyncDisposable
{
    public const string WebhookSecret = "whsec-test-0123456789abcdef";
    private static readonly DateTime T0 = new(2026, 2, 2, 10, 0, 0, DateTimeKind.Utc);
    private readonly List<WebApplication> hosts = [];

    private DeliveryHarness(EmbeddedRuntime runtime, LoopbackSmtpServer smtp, LoopbackWebhookReceiver webhook)
    {
        Runtime = runtime;
        Smtp = smtp;
        Webhook = webhook;
        Clients = PipelineClients.For(runtime, "test-publisher");
        Watcher = new TopicWatcher(runtime.BootstrapServers, runtime.SchemaRegistryUrl, Topics.NoticeDeliveries);
    }

    public EmbeddedRuntime Runtime { get; }
    public LoopbackSmtpServer Smtp { get; }
    public LoopbackWebhookReceiver Webhook { get; }
    public PipelineClients Clients { get; }
    public KafkaOptions Kafka => Clients.Kafka;
    public CachedSchemaRegistryClient Registry => Clients.Registry;
    public EventPublisher Publisher => Clients.Publisher;
    public TopicWatcher Watcher { get; }

    public static async Task<DeliveryHarness> StartAsync()
    {
        var runtime = await EmbeddedRuntime.StartAsync();
        return new DeliveryHarness(runtime, new LoopbackSmtpServer(), await LoopbackWebhookReceiver.StartAsync(WebhookSecret));
    }

    public IDictionary<string, string?> Settings() => new Dictionary<string, string?>
    {
        ["Takedown:SenderOrganisation"] = "Example Hotline (test)",
        ["Takedown:SenderContact"] = "notices@hotline.example",
        ["Takedown:SenderDomain"] = "hotline.example",
        ["Takedown:Delivery:Smtp:Host"] = "127.0.0.1",
        ["Takedown:Delivery:Smtp:Port"] = Smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Takedown:Delivery:Smtp:Security"] = "None",
        ["Takedown:Delivery:Smtp:Timeout"] = "00:00:30",
        ["Takedown:Delivery:Webhook:Secret"] = WebhookSecret,
        ["Takedown:Delivery:Webhook:Timeout"] = "00:00:20",
        ["Takedown:Delivery:InitialBackoff"] = "00:00:00.200",
        ["Takedown:Delivery:MaxBackoff"] = "00:00:01",
        ["Takedown:Delivery:MaxAttempts"] = "4",
        ["Takedown:Delivery:BatchWindow"] = "00:00:00", // each notice on its own, except in the batching tests
        ["Processing:ShutdownTimeoutSeconds"] = "10",
    };

    /// <summary>Starts a service host on the embedded cluster: the delivery stage unless <paramref name="stages"/> says
    /// otherwise, on <paramref name="time"/> (a test clock) when given.</summary>
    public async Task<WebApplication> StartHostAsync(IDictionary<string, string?>? overrides = null,
        Func<PipelineHostBuilder, PipelineHostBuilder>? stages = null, TimeProvider? time = null)
    {
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(Runtime.Configuration);
        builder.Configuration.AddInMemoryCollection(Settings());
        if (overrides is not null) builder.Configuration.AddInMemoryCollection(overrides);
        if (time is not null) builder.Services.Replace(ServiceDescriptor.Singleton(time));
        var app = (stages ?? (b => b.AddNoticeDelivery()))(builder).Build();
        hosts.Add(app);
        await app.StartAsync();
        return app;
    }

    public async Task StopHostAsync(WebApplication app)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await app.StopAsync(cts.Token);
        hosts.Remove(app);
        await app.DisposeAsync();
    }

    /// <summary>"Nothing more may follow", with an end marker rather than a pause: the stage stops (a graceful stop
    /// finishes what it started), then the watcher reads the delivery topic to its end.</summary>
    public async Task StopAndReadToEndAsync(WebApplication app, TimeSpan timeout)
    {
        await StopHostAsync(app);
        await Watcher.ReadToEndAsync(timeout, Topics.NoticeDeliveries);
    }

    public Task PublishAsync(IEnumerable<TakedownNotice> notices, int? partition = null) =>
        Task.WhenAll(notices.Select(n => Publisher.PublishAsync(Topics.NoticesIssued, n.caseKey, n, partition)));

    /// <summary>Deliveries seen so far (all, duplicates included) for a notice.</summary>
    public List<NoticeDelivery> DeliveriesOf(string noticeId) =>
        Watcher.Deliveries(Topics.NoticeDeliveries).Select(s => (NoticeDelivery)s.Value).Where(d => d.noticeId == noticeId).ToList();

    public List<NoticeDelivery> Final() =>
        Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.status != DeliveryStatus.RETRYING);

    /// <summary>Sets the committed offsets of the delivery stage's group back to the start, as if it had crashed
    /// before committing anything: a restarted member re-reads every notice.</summary>
    public async Task RewindDeliveryGroupAsync()
    {
        var assigned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
        {
            BootstrapServers = Kafka.BootstrapServers, GroupId = TakedownService.DeliveryStage, EnableAutoCommit = false, SessionTimeoutMs = 3000,
        }).SetPartitionsAssignedHandler((_, _) => assigned.TrySetResult()).Build();
        c.Subscribe(Topics.NoticesIssued);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!assigned.Task.IsCompleted && DateTime.UtcNow < deadline) c.Consume(TimeSpan.FromMilliseconds(100));
        Assert.True(assigned.Task.IsCompleted, "joined the delivery group to rewind it");
        var partitions = TopicCatalog.Get(Topics.NoticesIssued).Partitions;
        c.Commit(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(Topics.NoticesIssued, p, 0)));
        c.Close();
        await Task.CompletedTask;
    }

    /// <summary>Waits until a stage (by default the delivery stage) has committed every message on its input (by default
    /// notices.issued.v1), so it has read them all.</summary>
    public async Task WaitUntilDeliveryGroupCaughtUpAsync(string group = TakedownService.DeliveryStage, string topic = Topics.NoticesIssued)
    {
        using var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Kafka.BootstrapServers, GroupId = group, EnableAutoCommit = false }).Build();
        var tps = Enumerable.Range(0, TopicCatalog.Get(topic).Partitions).Select(p => new TopicPartition(topic, p)).ToList();
        var ends = tps.ToDictionary(tp => tp, tp => c.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(10)).High.Value);
        await Eventually(() => c.Committed(tps, TimeSpan.FromSeconds(10)).All(o => ends[o.TopicPartition] == 0 || o.Offset.Value >= ends[o.TopicPartition]),
            TimeSpan.FromSeconds(20), () => $"{group} committed everything on {topic}");
    }

    public static TakedownNotice Notice(string hoster, int i, NoticeChannel channel, string address, int sequence = 0)
    {
        var url = $"https://files.{hoster}.example/m/{i}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}.jpg";
        var noticeId = EventIds.Derive("notice", url, sequence.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return new TakedownNotice
        {
            eventId = EventIds.Derive("notice-issued", noticeId),
            noticeId = noticeId,
            caseKey = url,
            sequence = sequence,
            kind = sequence == 0 ? NoticeKind.FIRST : NoticeKind.REMINDER,
            recipient = new NoticeRecipient { role = RecipientRole.HOSTER, name = $"Hoster {hoster}", address = address, channel = channel, foundVia = "directory" },
            hosterId = hoster,
            hosterName = $"Hoster {hoster}",
            url = url,
            ips = ["192.0.2." + (1 + (i % 250))],
            asn = 64500,
            country = "NL",
            hashes = new ContentHashes { sha256 = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) },
            classification = Classification.BASELINE,
            detectionMethod = "hash_match",
            reportIds = [$"r-{hoster}-{i}"],
            deadline = T0.AddHours(24),
            policeHold = false,
            timeline = new Timeline { receivedAt = T0.AddMinutes(-30), referredToPoliceAt = null, noticeSentAt = T0, removalObservedAt = null },
            xarf = $$"""{"xarf_version":"4.0.0","report_id":"{{noticeId}}","category":"content","type":"csam","url":"{{url}}"}""",
            text = $"Notice {noticeId}\nPlease remove {url}.\n",
            issuedAt = T0,
        };
    }

    public static Task Eventually(Func<bool> condition, TimeSpan timeout, Func<string> describe) => Polling.Until(condition, timeout, describe);

    public async ValueTask DisposeAsync()
    {
        foreach (var app in hosts.ToList())
        {
            try { await StopHostAsync(app); } catch (Exception) { }
        }
        Watcher.Dispose();
        Clients.Dispose();
        await Webhook.DisposeAsync();
        await Smtp.DisposeAsync();
        await Runtime.DisposeAsync();
    }
}
