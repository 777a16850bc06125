using System.Text.Json;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pipeline.Cli.Commands;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;

namespace Pipeline.Sla.Tests;

/// <summary>`pipeline retention run` against the embedded Kafka cluster: state of finished cases past the period is
/// found, left alone by --dry-run, tombstoned without it, and then nothing of those cases is left in the state topics as
/// compaction leaves them; event topics keep case data no longer than the period.</summary>
public class RetentionCommandTests
{
    private static readonly DateTime Now = History.T0.AddDays(200);

    [Fact]
    public async Task A_dry_run_names_what_is_due_and_writes_nothing_and_a_run_leaves_nothing_of_an_expired_case_in_state()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync(brokers: 1);
        var kafka = new KafkaOptions { BootstrapServers = runtime.BootstrapServers, SchemaRegistryUrl = runtime.SchemaRegistryUrl };
        const string expiredUrl = "https://old.hoster-a.example/gallery/1.jpg";
        var expired = Decided(History.Notice("hoster-a", expiredUrl, History.T0), History.T0.AddHours(3)); // finished 200 days ago
        var recent = Decided(History.Notice("hoster-a", "https://new.hoster-a.example/2.jpg", Now.AddDays(-12)), Now.AddDays(-10));
        var open = History.Notice("hoster-b", "https://open.hoster-b.example/3.jpg", History.T0); // never removed: kept
        var sent = Delivery(expired, DeliveryStatus.SENT, History.T0.AddMinutes(1));
        var retrying = Delivery(open, DeliveryStatus.RETRYING, History.T0.AddMinutes(1));
        using (var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl }))
        using (var publisher = new EventPublisher(Options.Create(kafka), new AvroSerdes(registry, autoRegisterSchemas: false), "retention-test"))
        {
            foreach (var n in new[] { expired, recent, open }) await publisher.PublishAsync(Topics.SlaOpen, n.caseKey, n);
            await publisher.PublishAsync(Topics.TakedownDeliveryState, sent.noticeId, sent);
            await publisher.PublishAsync(Topics.TakedownDeliveryState, retrying.noticeId, retrying);
        }

        var dry = await RunAsync(runtime, dryRun: true);
        Assert.Equal((3, 2, 1), State(dry, Topics.SlaOpen));
        Assert.Equal((2, 1, 1), State(dry, Topics.TakedownDeliveryState));
        Assert.Equal(0, dry.GetProperty("deleted").GetInt32());
        Assert.Equal((3, 2, 1), State(await RunAsync(runtime, dryRun: true), Topics.SlaOpen)); // it wrote nothing

        var run = await RunAsync(runtime, dryRun: false);
        Assert.Equal(2, run.GetProperty("deleted").GetInt32());
        var after = await RunAsync(runtime, dryRun: true);
        Assert.Equal((2, 1, 0), State(after, Topics.SlaOpen));
        Assert.Equal((1, 0, 0), State(after, Topics.TakedownDeliveryState));

        // What a reader of the state topics finds, as compaction leaves them: nothing of the expired case.
        using var registry2 = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry2, autoRegisterSchemas: false);
        var left = new Dictionary<string, TakedownNotice>();
        using (var reader = new CompactedTopicReader<TakedownNotice>(kafka, serdes, Topics.SlaOpen, (key, value, _) =>
               {
                   lock (left) { if (value is null) left.Remove(key); else left[key] = value; }
               }, NullLogger.Instance))
        {
            reader.Start();
            await reader.CaughtUp.WaitAsync(TimeSpan.FromMinutes(2));
        }
        Assert.Equal(new[] { open.caseKey, recent.caseKey }.Order(StringComparer.Ordinal), left.Keys.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(left.Values, n => n.url == expiredUrl || n.caseKey == expiredUrl);

        // Event topics: every one that can hold a case's data is deleted by the broker within the period.
        Assert.All(after.GetProperty("events").EnumerateArray(), e => Assert.False(e.GetProperty("longerThanPeriod").GetBoolean(), e.GetProperty("topic").GetString()));
    }

    [Fact]
    public async Task A_period_shorter_than_an_event_topics_retention_names_that_topic_and_a_bad_period_is_a_usage_error()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync(brokers: 1);
        var report = await RunAsync(runtime, dryRun: true, period: "30d");
        var longer = report.GetProperty("events").EnumerateArray().Where(e => e.GetProperty("longerThanPeriod").GetBoolean())
            .Select(e => e.GetProperty("topic").GetString()).ToList();
        Assert.Equal([Topics.NoticeOutcomes], longer); // kept 180 days; the rest 7 or 30
        var error = await Assert.ThrowsAsync<ArgumentException>(() => RunAsync(runtime, dryRun: true, period: "half a year"));
        Assert.Contains("Fix: e.g. --closed-case-after 180d", error.Message, StringComparison.Ordinal);
    }

    private static async Task<JsonElement> RunAsync(EmbeddedRuntime runtime, bool dryRun, string period = "180d")
    {
        var output = new StringWriter();
        var code = await RetentionCommand.RunAsync(new RetentionCommand.Settings(runtime.BootstrapServers, runtime.SchemaRegistryUrl, dryRun, period,
            Now.ToString("O"), Json: true), output, CancellationToken.None);
        Assert.Equal(0, code);
        return JsonDocument.Parse(output.ToString()).RootElement.Clone();
    }

    private static (int Entries, int Finished, int Due) State(JsonElement report, string topic)
    {
        var s = report.GetProperty("state").EnumerateArray().Single(x => x.GetProperty("topic").GetString() == topic);
        return (s.GetProperty("entries").GetInt32(), s.GetProperty("finished").GetInt32(), s.GetProperty("due").GetInt32());
    }

    private static TakedownNotice Decided(TakedownNotice n, DateTime removedAt)
    {
        n.timeline.removalObservedAt = removedAt;
        return n;
    }

    private static NoticeDelivery Delivery(TakedownNotice n, DeliveryStatus status, DateTime at) => new()
    {
        eventId = EventIds.Derive("delivery", n.noticeId), noticeId = n.noticeId, caseKey = n.caseKey, hosterId = n.hosterId,
        channel = NoticeChannel.EMAIL, address = n.recipient.address, attempt = 1, status = status, at = at,
        notice = status == DeliveryStatus.RETRYING ? n : null,
    };
}
