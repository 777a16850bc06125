using System.Text;
using Pipeline.Contracts;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Platform;
using Pipeline.TestSupport;

namespace Pipeline.IntegrationTests;

/// <summary>Retention, the way an auditor would check it: every service its own process, a case that is reported (with
/// the reporter's contact), noticed and removed, and then every topic read back byte by byte.</summary>
[Collection(KafkaCollection.Name)]
public sealed class RetentionTests(KafkaBackend shared) : IAsyncLifetime
{
    /// <summary>On the embedded backend, a cluster of this test's own. The shared one holds the state of every earlier
    /// test in the collection (thousands of recheck entries of the fault runs), which this pipeline's recheck stage would
    /// restore and keep checking on its fast clock: a stress run saw recheck.schedule.v2 rewritten faster than a scan
    /// could follow the mock cluster's eviction (~5 MiB kept per partition), its reader reset again and again. A real
    /// cluster (containers, external) keeps the log, so there the shared one is used.</summary>
    private KafkaBackend backend = shared;
    private KafkaBackend? own;

    public async Task InitializeAsync()
    {
        if (backend.Kind != "embedded") return;
        own = new KafkaBackend();
        await own.InitializeAsync();
        backend = own;
    }

    public async Task DisposeAsync()
    {
        if (own is not null) await own.DisposeAsync();
    }

    [Fact]
    public async Task A_finished_case_past_its_period_leaves_nothing_readable_in_state_and_the_reporters_contact_is_on_no_topic_but_the_submitted_one()
    {
        var run = Guid.NewGuid().ToString("N")[..10];
        var hash = TestWorld.RandomHex(32);
        // A period of a minute (Retention:ClosedCaseAfter, 180 days in production); no watch after the removal (30 days,
        // within the period in production); one delivery attempt, as no SMTP server listens (a FAILED delivery is finished).
        await using var pipeline = await RunningPipeline.StartAsync(backend,
            p => p.Publisher.PublishAsync(Topics.HashesKnown, $"police-nl:sha256:{hash}", TestWorld.Known(hash)),
            environment: new Dictionary<string, string>
            {
                ["Retention__ClosedCaseAfter"] = "00:01:00",
                ["Recheck__WatchFor"] = "00:00:00",
                ["Takedown__Delivery__MaxAttempts"] = "1",
            });
        using var watch = backend.Watch(Topics.NoticeOutcomes, Topics.AuditLog);
        await watch.Assigned.WaitAsync(TimeSpan.FromSeconds(120));

        var report = TestWorld.Report($"{run}-kept", $"http://{TestWorld.HomeHosterHost}/{run}/known.jpg", hash);
        var email = $"reporter-{run}@mail.test";
        report.report.reporterContact = new ReporterContact { name = $"Reporter {run}", email = email, phone = null };
        await pipeline.Publisher.PublishAsync(Topics.ReportsSubmitted, report.report.reportId, report);
        // The hoster removes the URL once noticed; recheck's misses confirm it and sla decides the outcome.
        await watch.WaitUntilAsync(() => watch.Events<AuditRecord>(Topics.AuditLog, a => a.action == "notice.issued" && a.reportIds.Contains(report.report.reportId)).Count > 0,
            TimeSpan.FromSeconds(120), () => "no notice yet for the case");
        pipeline.Web.Remove(report.report.url);
        await watch.WaitUntilAsync(() => watch.Events<NoticeOutcome>(Topics.NoticeOutcomes, o => o.caseKey.Contains(run, StringComparison.Ordinal)).Count > 0,
            TimeSpan.FromSeconds(180), () => "no outcome yet for the case");

        // The state topics as compaction leaves them (the last record of each key): nothing of the case once the period
        // has passed, neither its URL (in keys and values) nor its report id nor its hash.
        var compacted = TopicCatalog.All.Where(t => t.CleanupPolicy.Contains("compact", StringComparison.Ordinal) && t.Name != Topics.HashesKnown)
            .Select(t => t.Name).ToList();
        string[] traces = [run, hash];
        var left = new List<string>();
        bool NothingLeft()
        {
            left = [.. Read(compacted).GroupBy(r => (r.Topic, r.Partition, Key: Convert.ToBase64String(r.Key ?? []))).Select(g => g.Last())
                .Where(r => r.Value is not null && traces.Any(t => Contains(r.Key, t) || Contains(r.Value, t)))
                .Select(r => $"{r.Topic}[{r.Partition}] {Encoding.UTF8.GetString(r.Key ?? [])}")];
            return left.Count == 0;
        }
        // Each look reads every state topic to its end: spaced, and the message names what the last look found.
        await Polling.Until(NothingLeft, TimeSpan.FromSeconds(240), () => "still readable after the period: " + string.Join("; ", left), TimeSpan.FromSeconds(5));

        // The reporter's contact: on reports.submitted.v1 (intake's own input) and nowhere else, in the whole history.
        var holding = Read(TopicCatalog.All.Select(t => t.Name).ToList()).Where(r => Contains(r.Value, email)).Select(r => r.Topic).Distinct().ToList();
        Assert.Equal([Topics.ReportsSubmitted], holding);

        // What happened stays on record, anonymous: the audit log names the case by its token and holds no URL, hash or contact.
        var audit = watch.Events<AuditRecord>(Topics.AuditLog, a => a.reportIds.Contains(report.report.reportId));
        Assert.Contains(audit, a => a.action == "notice.issued");
        Assert.All(AllValues(Topics.AuditLog), v => Assert.False(Contains(v, hash) || Contains(v, email) || Contains(v, $"/{run}/"), "an audit record holds case data"));
    }

    private static bool Contains(byte[]? bytes, string text) =>
        bytes is not null && bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    /// <summary>Every record of the topics up to their ends when read (<see cref="TopicScan"/>): (topic, partition, key,
    /// value), tombstones with a null value.</summary>
    private List<(string Topic, int Partition, byte[]? Key, byte[]? Value)> Read(IReadOnlyCollection<string> topics)
    {
        var records = new List<(string, int, byte[]?, byte[]?)>();
        TopicScan.Read(new KafkaOptions { BootstrapServers = backend.BootstrapServers, SchemaRegistryUrl = backend.SchemaRegistryUrl }, topics,
            r => records.Add((r.Topic, r.Partition.Value, r.Message.Key, r.Message.Value)), TimeSpan.FromMinutes(5), CancellationToken.None);
        return records;
    }

    private IEnumerable<byte[]> AllValues(string topic) => Read([topic]).Select(r => r.Value).OfType<byte[]>();
}
