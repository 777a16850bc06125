using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Avro.Specific;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;

namespace Pipeline.Classification.Tests;

using Classification = Pipeline.Contracts.Classification;
using HashAlgorithm = Pipeline.Contracts.HashAlgorithm;
using Pipeline.TestSupport;

/// <summary>One embedded runtime (Kafka mock cluster + registry) shared by the decision tests; each test starts the
/// classification stage in process (its real host: consumer group, state topics, dead letters) and uses its own cases.</summary>
public sealed class ClassificationRuntime : IAsyncLifetime
{
    public EmbeddedRuntime Runtime { get; private set; } = null!;
    private PipelineClients clients = null!;
    public KafkaOptions Kafka => clients.Kafka;
    public AvroSerdes Serdes => clients.Serdes;
    public EventPublisher Publisher => clients.Publisher;

    public async Task InitializeAsync()
    {
        Runtime = await EmbeddedRuntime.StartAsync();
        clients = PipelineClients.For(Runtime, "test", sessionTimeoutMs: 3000);
    }

    /// <summary>The classification stage as its Program.cs runs it, started; returns once it has joined its group.</summary>
    public async Task<WebApplication> StartStageAsync()
    {
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(Runtime.Configuration);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Processing:InitialBackoffMs"] = "10",
            ["Processing:MaxBackoffMs"] = "100",
            ["Processing:ShutdownTimeoutSeconds"] = "10",
        });
        builder.AddClassification();
        var app = builder.Build();
        await app.StartAsync();
        var health = app.Services.GetRequiredService<StageHealth>();
        await Eventually(() => health.Snapshot.TryGetValue(ClassificationService.Stage, out var s) && s.Joined, "the stage joined its group");
        return app;
    }

    public static async Task StopAsync(WebApplication app)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await app.StopAsync(cts.Token);
        await app.DisposeAsync();
    }

    public Output<T> Read<T>(string topic) where T : class, ISpecificRecord => new(this, topic);

    public static Task Eventually(Func<bool> condition, string what, int seconds = 120) =>
        Polling.Until(condition, TimeSpan.FromSeconds(seconds), () => what);

    public async Task DisposeAsync()
    {
        clients?.Dispose();
        await Runtime.DisposeAsync();
    }
}

/// <summary>Reads a topic from the beginning, all partitions, no group.</summary>
public sealed class Output<T> : IDisposable where T : class, ISpecificRecord
{
    private readonly ClassificationRuntime runtime;
    private readonly string topic;
    private readonly IConsumer<byte[]?, byte[]?> consumer;

    public Output(ClassificationRuntime runtime, string topic)
    {
        this.runtime = runtime;
        this.topic = topic;
        consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = runtime.Kafka.BootstrapServers, GroupId = "test-reader-" + Guid.NewGuid(), AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false,
        }).Build();
        consumer.Assign(Enumerable.Range(0, TopicCatalog.Get(topic).Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
    }

    public List<(string? Key, T Value, Headers Headers)> Records { get; } = [];

    public async Task PollAsync(TimeSpan duration)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(50));
            if (r?.Message?.Value is null || r.IsPartitionEOF) continue;
            Records.Add((r.Message.Key is null ? null : Encoding.UTF8.GetString(r.Message.Key), await runtime.Serdes.DeserializeAsync<T>(r.Message.Value, topic), r.Message.Headers));
        }
    }

    /// <summary>Reads until <paramref name="condition"/> holds on the records matching <paramref name="mine"/>, then
    /// <paramref name="settleMs"/> more to catch anything extra; returns the matching records.</summary>
    public async Task<List<T>> UntilAsync(Func<T, bool> mine, Func<List<T>, bool> condition, int settleMs = 500, int seconds = 120)
    {
        var sw = Stopwatch.StartNew();
        while (!condition(Mine()))
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(seconds)) Assert.Fail($"{topic}: condition not met after {seconds} s; {Mine().Count} matching record(s) of {Records.Count}");
            await PollAsync(TimeSpan.FromMilliseconds(100));
        }
        await PollAsync(TimeSpan.FromMilliseconds(settleMs));
        return Mine();

        List<T> Mine() => Records.Select(r => r.Value).Where(mine).ToList();
    }

    public void Dispose()
    {
        consumer.Close();
        consumer.Dispose();
    }
}

/// <summary>Synthetic reports (hosts under .example, documentation IPs and ASNs, random hashes).</summary>
internal static class Reports
{
    private static readonly DateTime T0 = new(2026, 11, 2, 8, 0, 0, DateTimeKind.Utc);

    public static string RandomSha256() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public static ReportLocated Located(string run, string name, string? sha256 = null, Classification? assessedAtSubmission = null)
    {
        var url = $"http://images.hoster-a.example/{run}/{name}.jpg";
        var reportId = $"{run}-{name}";
        return new ReportLocated
        {
            eventId = EventIds.Derive("located", reportId),
            caseKey = url,
            report = new Report
            {
                reportId = reportId, sourceHotline = "nl-hotline", sourceReference = "ref-" + name, externalIds = new Dictionary<string, string>(),
                receivedAt = T0, reportedAt = null, url = url, parentUrl = null, isSourceUrl = true, contentType = ContentType.IMAGE, siteType = SiteType.IMAGE_HOST,
                commercial = false, hashes = new ContentHashes { md5 = null, sha1 = null, sha256 = sha256 ?? RandomSha256(), pdq = null, pdqQuality = null },
                reporterType = ReporterType.PUBLIC, reporterContact = null,
                assessment = assessedAtSubmission is { } c ? Assessment(c, "analyst-intake") : null, hops = [],
            },
            caseInfo = new CaseInfo { normalizedUrl = url, host = "images.hoster-a.example", caseOpenedAt = T0, reportCount = 1, reupload = false, userinfoRemoved = false },
            hosting = new HostingInfo
            {
                resolved = true, ips = ["192.0.2.10"], asn = 64496, asOrganisation = "Hoster A (example)", country = "NL", hosterId = "hoster-a", hosterName = "Hoster A",
                abuseContact = null, behindCdn = false, originIp = null, resolvedAt = T0, sources = ["hosts:table"], unresolvedReason = null, countries = new List<string> { "NL" },
            },
            locatedAt = T0,
        };
    }

    public static Assessment Assessment(Classification classification, string analyst = "analyst-7") => new()
    {
        classification = classification, ageGroup = AgeGroup.NOT_DETERMINED, gender = Gender.NOT_DETERMINED, isVirtual = false, userGenerated = false,
        analyst = analyst, assessedAt = T0.AddHours(1),
    };

    public static ReportAssessed Assessed(ReportLocated located, Classification classification, string analyst = "analyst-7", string? reportId = null) => new()
    {
        eventId = EventIds.Derive("assessed", located.report.reportId, classification.ToString(), analyst, reportId),
        caseKey = located.caseKey,
        reportId = reportId ?? located.report.reportId,
        assessment = Assessment(classification, analyst),
        note = null,
    };

    public static KnownHash Known(string sha256, string bank = "police-nl") => new()
    {
        eventId = EventIds.Derive("known", bank, sha256), algorithm = HashAlgorithm.SHA256, value = sha256, bank = bank, category = "A",
        addedBy = "test", addedAt = T0, reference = null,
    };
}

[CollectionDefinition(Name)]
public sealed class ClassificationRuntimeCollection : ICollectionFixture<ClassificationRuntime>
{
    public const string Name = "classification runtime";
}

/// <summary>Part 4 of issue 5, the decision: reports nobody can classify wait for an analyst; verdicts release them;
/// retractions reach the cases they matched.</summary>
[Collection(ClassificationRuntimeCollection.Name)]
public sealed class DecisionTests(ClassificationRuntime k)
{
    private readonly string run = Guid.NewGuid().ToString("N")[..8];

    private bool Mine(Report r) => r.reportId.StartsWith(run, StringComparison.Ordinal);

    private Task Publish(ReportLocated l) => k.Publisher.PublishAsync(Topics.ReportsLocated, l.caseKey, l);

    private Task Publish(ReportAssessed a) => k.Publisher.PublishAsync(Topics.ReportsAssessed, a.caseKey, a);

    [Fact]
    public async Task Unassessed_report_waits_with_a_review_request_and_each_verdict_kind_releases_it()
    {
        var app = await k.StartStageAsync();
        try
        {
            using var classified = k.Read<ReportClassified>(Topics.ReportsClassified);
            using var reviews = k.Read<ReviewRequested>(Topics.ReportsReview);
            var lateSha = Reports.RandomSha256();
            var baseline = Reports.Located(run, "baseline");
            var national = Reports.Located(run, "national");
            var notIllegal = Reports.Located(run, "not-illegal");
            var doubtful = Reports.Located(run, "doubtful");
            var knownMeanwhile = Reports.Located(run, "known-meanwhile", lateSha);
            var all = new[] { baseline, national, notIllegal, doubtful, knownMeanwhile };
            foreach (var l in all) await Publish(l);

            // each waits: one review request, nothing on reports.classified
            var asked = await reviews.UntilAsync(r => Mine(r.report), r => r.Count >= all.Length);
            Assert.Equal(all.Select(l => l.report.reportId).Order(), asked.Select(r => r.report.reportId).Order());
            Assert.All(asked, r =>
            {
                Assert.Equal(ClassificationProcessor.NeedsAssessmentRule, r.rule);
                Assert.Equal(Verdict.NEEDS_ASSESSMENT, r.verdict);
                Assert.Contains("no analyst has assessed it", r.reason, StringComparison.Ordinal);
                Assert.Equal("NL", r.hosting!.country);
            });
            await classified.PollAsync(TimeSpan.FromMilliseconds(300));
            Assert.DoesNotContain(classified.Records, r => Mine(r.Value.report));

            // a bank entry added while a report waits counts at release: it has not been classified yet
            await k.Publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(Reports.Known(lateSha)), Reports.Known(lateSha));
            var bank = app.Services.GetRequiredService<ClassificationState>().Bank;
            await Polling.Until(() => bank.Contains(HashBank.KeyOf(Reports.Known(lateSha))), TimeSpan.FromSeconds(120), () => "the bank did not follow the new entry");

            await Publish(Reports.Assessed(baseline, Classification.BASELINE));
            await Publish(Reports.Assessed(national, Classification.NATIONAL));
            await Publish(Reports.Assessed(notIllegal, Classification.NOT_ILLEGAL));
            await Publish(Reports.Assessed(doubtful, Classification.DOUBTFUL));
            await Publish(Reports.Assessed(knownMeanwhile, Classification.NOT_ILLEGAL));

            var released = await classified.UntilAsync(r => Mine(r.report), r => r.Count >= 4);
            var verdicts = released.ToDictionary(r => r.report.reportId, r => r.verdict);
            Assert.Equal(new Dictionary<string, Verdict>
            {
                [baseline.report.reportId] = Verdict.NEW,
                [national.report.reportId] = Verdict.NEW,
                [notIllegal.report.reportId] = Verdict.NOT_ILLEGAL,
                [knownMeanwhile.report.reportId] = Verdict.KNOWN,
            }, verdicts);
            var newOne = released.Single(r => r.report.reportId == baseline.report.reportId);
            Assert.Equal(("analyst-7", Classification.BASELINE), (newOne.assessment!.analyst, newOne.assessment.classification));
            Assert.Empty(newOne.matches);
            Assert.Equal(("police-nl", lateSha), (released.Single(r => r.verdict == Verdict.KNOWN).matches.Single().bank, released.Single(r => r.verdict == Verdict.KNOWN).matches.Single().value));

            // DOUBTFUL: still waiting, a second review is asked for, then a clear verdict releases it
            var second = await reviews.UntilAsync(r => r.report.reportId == doubtful.report.reportId && r.rule == ClassificationProcessor.DoubtfulRule, r => r.Count >= 1);
            Assert.Contains("analyst-7 assessed report " + doubtful.report.reportId + " as DOUBTFUL", Assert.Single(second).reason, StringComparison.Ordinal);
            await Publish(Reports.Assessed(doubtful, Classification.BASELINE, analyst: "analyst-senior"));
            var afterSecond = await classified.UntilAsync(r => r.report.reportId == doubtful.report.reportId, r => r.Count >= 1);
            Assert.Equal((Verdict.NEW, "analyst-senior"), (Assert.Single(afterSecond).verdict, afterSecond[0].assessment!.analyst));
        }
        finally
        {
            await ClassificationRuntime.StopAsync(app);
        }
    }

    [Fact]
    public async Task Verdict_for_an_unknown_report_is_dead_lettered_with_the_reason_and_a_repeated_verdict_is_idempotent()
    {
        var app = await k.StartStageAsync();
        try
        {
            using var classified = k.Read<ReportClassified>(Topics.ReportsClassified);
            using var reviews = k.Read<ReviewRequested>(Topics.ReportsReview);
            using var dead = k.Read<DeadLetter>(Topics.DeadLetter(ClassificationService.Stage));
            var waiting = Reports.Located(run, "waiting");
            await Publish(waiting);
            await reviews.UntilAsync(r => Mine(r.report), r => r.Count == 1);

            // nothing waits under this case key, and a wrong report id under a waiting case
            var never = Reports.Located(run, "never-located");
            await Publish(Reports.Assessed(never, Classification.BASELINE));
            await Publish(Reports.Assessed(waiting, Classification.BASELINE, reportId: run + "-typo"));
            var letters = await dead.UntilAsync(d => d.reason.Contains(run, StringComparison.Ordinal), d => d.Count >= 2);
            Assert.All(letters, d => Assert.Equal((Topics.ReportsAssessed, typeof(UnknownReportException).FullName), (d.originTopic, d.errorType)));
            var unknownCase = letters.Single(d => d.reason.Contains(never.report.reportId, StringComparison.Ordinal));
            Assert.StartsWith("processing_failed: verdict", unknownCase.reason, StringComparison.Ordinal);
            Assert.Contains("no such report waits for an analyst", unknownCase.reason, StringComparison.Ordinal);
            var typo = letters.Single(d => d.reason.Contains(run + "-typo", StringComparison.Ordinal));
            Assert.Contains($"this case has report(s) {waiting.report.reportId} waiting", typo.reason, StringComparison.Ordinal);

            // the same verdict twice, and a second analyst agreeing: one event, one eventId
            var verdict = Reports.Assessed(waiting, Classification.NATIONAL);
            await Publish(verdict);
            await Publish(verdict);
            await Publish(Reports.Assessed(waiting, Classification.BASELINE, analyst: "analyst-2"));
            var events = await classified.UntilAsync(r => Mine(r.report), r => r.Count >= 3);
            Assert.Single(events.Select(e => e.eventId).Distinct());
            Assert.All(events, e => Assert.Equal((Verdict.NEW, Classification.NATIONAL), (e.verdict, e.assessment!.classification)));
            Assert.Equal(1, reviews.Records.Count(r => Mine(r.Value.report)));

            // a verdict that changes the outcome reclassifies, under a new eventId
            await Publish(Reports.Assessed(waiting, Classification.NOT_ILLEGAL, analyst: "analyst-3"));
            var changed = await classified.UntilAsync(r => Mine(r.report) && r.verdict == Verdict.NOT_ILLEGAL, r => r.Count >= 1);
            Assert.NotEqual(events[0].eventId, Assert.Single(changed).eventId);
        }
        finally
        {
            await ClassificationRuntime.StopAsync(app);
        }
    }

    [Fact]
    public async Task A_report_waiting_across_a_restart_is_released_by_a_verdict_after_it()
    {
        using var classified = k.Read<ReportClassified>(Topics.ReportsClassified);
        using var reviews = k.Read<ReviewRequested>(Topics.ReportsReview);
        var waiting = Reports.Located(run, "across-restart");
        var first = await k.StartStageAsync();
        try
        {
            await Publish(waiting);
            await reviews.UntilAsync(r => Mine(r.report), r => r.Count == 1);
        }
        finally
        {
            await ClassificationRuntime.StopAsync(first);
        }

        var second = await k.StartStageAsync();
        try
        {
            await Publish(Reports.Assessed(waiting, Classification.BASELINE));
            var released = await classified.UntilAsync(r => Mine(r.report), r => r.Count >= 1);
            Assert.Equal(Verdict.NEW, Assert.Single(released).verdict);
            Assert.Equal(1, reviews.Records.Count(r => Mine(r.Value.report))); // the restart asked nobody twice
        }
        finally
        {
            await ClassificationRuntime.StopAsync(second);
        }
    }

    [Fact]
    public async Task Retraction_is_reported_on_each_case_it_matched_and_a_new_entry_rewrites_nothing()
    {
        using var classified = k.Read<ReportClassified>(Topics.ReportsClassified);
        using var retractions = k.Read<HashRetracted>(Topics.HashesRetractions);
        var falsePositive = Reports.RandomSha256();
        var alsoIwf = Reports.RandomSha256();
        await k.Publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(Reports.Known(falsePositive)), Reports.Known(falsePositive));
        await k.Publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(Reports.Known(falsePositive, "iwf")), Reports.Known(falsePositive, "iwf"));
        var onlyPolice = Reports.Known(alsoIwf);
        await k.Publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(onlyPolice), onlyPolice);

        var app = await k.StartStageAsync();
        var a = Reports.Located(run, "default-image-a", falsePositive);
        var b = Reports.Located(run, "default-image-b", falsePositive);
        var other = Reports.Located(run, "other", alsoIwf);
        var unrelated = Reports.Located(run, "unrelated", assessedAtSubmission: Classification.NOT_ILLEGAL);
        try
        {
            foreach (var l in new[] { a, b, other, unrelated }) await Publish(l);
            var first = await classified.UntilAsync(r => Mine(r.report), r => r.Count >= 4);
            Assert.Equal(2, first.Single(r => r.report.reportId == a.report.reportId).matches.Count); // police-nl and iwf

            // police-nl retracts the entry: both cases hear of it, with iwf still matching
            await k.Publisher.TombstoneAsync(Topics.HashesKnown, HashBank.KeyOf(Reports.Known(falsePositive)));
            var reported = await retractions.UntilAsync(r => r.caseKey.Contains(run, StringComparison.Ordinal), r => r.Count >= 2);
            Assert.Equal([a.caseKey, b.caseKey], reported.Select(r => r.caseKey).Order(StringComparer.Ordinal));
            Assert.All(reported, r =>
            {
                Assert.Equal(("police-nl", HashAlgorithm.SHA256, falsePositive, 1), (r.bank, r.algorithm, r.value, r.remainingMatches));
                Assert.Equal(first.Single(c => c.caseKey == r.caseKey).eventId, r.classifiedEventId);
            });
            Assert.Equal(2, retractions.Records.Count(r => r.Key!.Contains(run, StringComparison.Ordinal))); // keyed by case key
        }
        finally
        {
            await ClassificationRuntime.StopAsync(app);
        }

        // iwf retracts it while the stage is down: reported when it comes back; no bank match remains
        await k.Publisher.TombstoneAsync(Topics.HashesKnown, HashBank.KeyOf(Reports.Known(falsePositive, "iwf")));
        // a new entry for an already classified report does not reclassify it
        var lateEntry = Reports.Known(unrelated.report.hashes.sha256);
        await k.Publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(lateEntry), lateEntry);
        var again = await k.StartStageAsync();
        try
        {
            var reported = await retractions.UntilAsync(r => r.caseKey.Contains(run, StringComparison.Ordinal), r => r.Count >= 4);
            Assert.Equal([(a.caseKey, 0), (b.caseKey, 0)], reported.Where(r => r.bank == "iwf").Select(r => (r.caseKey, r.remainingMatches)).OrderBy(r => r.caseKey, StringComparer.Ordinal));
            Assert.DoesNotContain(reported, r => r.caseKey == other.caseKey || r.caseKey == unrelated.caseKey);
            Assert.Equal(4, reported.Select(r => r.eventId).Distinct().Count());
            await classified.PollAsync(TimeSpan.FromMilliseconds(300));
            Assert.Equal(4, classified.Records.Count(r => Mine(r.Value.report)));
        }
        finally
        {
            await ClassificationRuntime.StopAsync(again);
        }
    }
}
