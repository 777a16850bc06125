using System.Collections.Concurrent;
using Confluent.Kafka;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Cli.Demo;

/// <summary>
/// Watches every output topic as a user would: counts distinct events (by eventId, so re-deliveries don't inflate
/// anything), records each report's terminal outcome, and collects the measured times to removal.
/// </summary>
public sealed class DemoObserver : IDisposable
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> eventsByTopic = new();
    private readonly ConcurrentDictionary<string, string> outcomeByReport = new();
    private readonly ConcurrentBag<NoticeOutcome> outcomes = [];
    private readonly ConcurrentDictionary<string, string> noticeHoster = new();
    private readonly ConcurrentDictionary<SlaEventKind, int> slaKinds = new();
    private readonly ConcurrentBag<(DateTime At, ContentStatus Status, bool RemovalConfirmed)> observations = [];
    private readonly CancellationTokenSource stop = new();
    private readonly Thread thread;
    private readonly AvroSerdes serdes;
    private readonly KafkaOptions kafka;

    public static readonly string[] Watched =
    [
        Topics.ReportsSubmitted, Topics.ReportsAccepted, Topics.ReportsGrouped, Topics.ReportsRejected, Topics.ReportsLocated, Topics.ReportsClassified,
        Topics.ReportsReview, Topics.PoliceReferrals, Topics.ExchangeOutbound, Topics.TakedownRequested, Topics.NoticesIssued,
        Topics.ContentStatus, Topics.NoticeOutcomes, Topics.SlaEvents, Topics.NoticeDeliveries, Topics.ReportsRelocated,
        Topics.DeadLetter("intake"), Topics.DeadLetter("geolocation"), Topics.DeadLetter("classification"), Topics.DeadLetter("routing"),
        Topics.DeadLetter("takedown"), Topics.DeadLetter("recheck"), Topics.DeadLetter("sla"),
    ];

    public DemoObserver(KafkaOptions kafka, AvroSerdes serdes)
    {
        this.kafka = kafka;
        this.serdes = serdes;
        thread = new Thread(Run) { IsBackground = true, Name = "demo-observer" };
    }

    public void Start() => thread.Start();

    public long Count(string topic) => eventsByTopic.TryGetValue(topic, out var ids) ? ids.Count : 0;

    public long DeadLetters => Watched.Where(t => t.StartsWith("deadletter.", StringComparison.Ordinal)).Sum(Count);

    public int ReportsWithOutcome => outcomeByReport.Count;

    public IReadOnlyDictionary<string, int> OutcomeCounts =>
        outcomeByReport.Values.GroupBy(v => v).ToDictionary(g => g.Key, g => g.Count());

    public IReadOnlyList<NoticeOutcome> Outcomes => outcomes.ToList();

    /// <summary>The recheck's observations (when, what, whether it confirmed a removal).</summary>
    public IReadOnlyList<(DateTime At, ContentStatus Status, bool RemovalConfirmed)> Observations => observations.ToList();

    /// <summary>Reports submitted (as Avro) without an outcome yet, with the last topic they were seen on: what to look
    /// at when the demo ends before every report reached an outcome.</summary>
    public IReadOnlyList<(string ReportId, string LastSeen)> WithoutOutcome =>
        lastSeen.Where(e => !outcomeByReport.ContainsKey(e.Key)).Select(e => (e.Key, e.Value)).OrderBy(e => e.Key, StringComparer.Ordinal).ToList();

    private readonly ConcurrentDictionary<string, string> lastSeen = new(StringComparer.Ordinal);

    /// <summary>First notices (one per URL and episode); reminders are counted apart.</summary>
    public int FirstNotices => noticeHoster.Count;

    /// <summary>Reminder notices issued (every Takedown:Reminders:Interval until the removal is confirmed).</summary>
    public long Reminders => Interlocked.Read(ref reminders);

    private long reminders;

    /// <summary>Hoster id → first notices issued to it.</summary>
    public IReadOnlyDictionary<string, int> NoticesByHoster =>
        noticeHoster.Values.GroupBy(v => v).ToDictionary(g => g.Key, g => g.Count());

    public int SlaEvents(SlaEventKind kind) => slaKinds.TryGetValue(kind, out var n) ? n : 0;

    private readonly ConcurrentDictionary<string, byte> movedCases = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> reroutedCases = new(StringComparer.Ordinal);
    private long movedNotices, reroutedForwards, reroutedNotices;

    /// <summary>Notices not sent because the re-lookup before sending found the host moved (MOVED deliveries).</summary>
    public long MovedNotices => Interlocked.Read(ref movedNotices);

    /// <summary>Cases with a MOVED notice, and cases routed again (reports.relocated.v1).</summary>
    public int Moved => movedCases.Count;

    public int Rerouted => reroutedCases.Count;

    /// <summary>Re-routed cases forwarded to a partner hotline, and those that got a takedown at home again.</summary>
    public long ReroutedForwards => Interlocked.Read(ref reroutedForwards);

    public long ReroutedNotices => Interlocked.Read(ref reroutedNotices);

    private void Run()
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(KafkaClients.ConsumerConfig(kafka))
        {
            GroupId = "demo-observer", AutoOffsetReset = AutoOffsetReset.Earliest, SessionTimeoutMs = 3000, HeartbeatIntervalMs = 750, EnableAutoCommit = true,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
        }).Build();
        consumer.Subscribe(Watched);
        while (!stop.IsCancellationRequested)
        {
            var r = KafkaClients.Poll(consumer, TimeSpan.FromMilliseconds(100));
            if (r?.Message?.Value is null) continue;
            try
            {
                Observe(r.Topic, r.Message.Value);
            }
            catch (UndeserialisableException)
            {
                Record(r.Topic, $"{r.Partition.Value}:{r.Offset.Value}"); // e.g. junk on reports.submitted
            }
        }
        consumer.Close();
    }

    private void Observe(string topic, byte[] value)
    {
        switch (topic)
        {
            case Topics.ReportsSubmitted:
                var submitted = Read<ReportSubmitted>(topic, value);
                Record(topic, submitted.eventId);
                if (submitted.report?.reportId is { } submittedId) lastSeen.TryAdd(submittedId, topic);
                break;
            case Topics.ReportsAccepted:
                var accepted = Read<ReportAccepted>(topic, value);
                Record(topic, accepted.eventId);
                lastSeen[accepted.report.reportId] = topic;
                break;
            case Topics.ReportsLocated:
                var located = Read<ReportLocated>(topic, value);
                Record(topic, located.eventId);
                lastSeen[located.report.reportId] = topic;
                break;
            case Topics.ReportsGrouped:
                var grouped = Read<ReportGrouped>(topic, value);
                Record(topic, grouped.eventId);
                Outcome(grouped.reportId, "grouped into an open case");
                break;
            case Topics.ReportsRejected:
                var rejected = Read<ReportRejected>(topic, value);
                Record(topic, rejected.eventId);
                Outcome(rejected.reportId ?? rejected.eventId, "rejected");
                break;
            case Topics.ReportsClassified:
                var classified = Read<ReportClassified>(topic, value);
                Record(topic, classified.eventId);
                lastSeen[classified.report.reportId] = $"{topic} ({classified.verdict})";
                if (classified.verdict == Verdict.NOT_ILLEGAL) Outcome(classified.report.reportId, "closed: not illegal");
                break;
            case Topics.ReportsReview:
                var review = Read<ReviewRequested>(topic, value);
                Record(topic, review.eventId);
                Outcome(review.report.reportId, "review");
                break;
            case Topics.PoliceReferrals:
                var police = Read<PoliceReferral>(topic, value);
                Record(topic, police.eventId);
                outcomeByReport[police.report.reportId] = "police referral (+ notice)";
                break;
            case Topics.ExchangeOutbound:
                var forwarded = Read<ReportForwarded>(topic, value);
                if (Record(topic, forwarded.eventId) && forwarded.rule.StartsWith("moved(route", StringComparison.Ordinal)) Interlocked.Increment(ref reroutedForwards);
                Outcome(forwarded.report.reportId, "forwarded to partner");
                break;
            case Topics.TakedownRequested:
                var takedown = Read<TakedownRequested>(topic, value);
                if (Record(topic, takedown.eventId) && takedown.routeGeneration > 0) Interlocked.Increment(ref reroutedNotices);
                Outcome(takedown.report.reportId, "takedown notice");
                break;
            case Topics.NoticesIssued:
                var notice = Read<TakedownNotice>(topic, value);
                if (!Record(topic, notice.eventId)) break;
                if (notice.kind == NoticeKind.REMINDER) Interlocked.Increment(ref reminders);
                else if (notice.kind == NoticeKind.FIRST) noticeHoster.TryAdd(notice.noticeId, notice.hosterId ?? "unknown");
                break;
            case Topics.ContentStatus:
                var observed = Read<ContentStatusObserved>(topic, value);
                if (Record(topic, observed.eventId)) observations.Add((observed.observedAt, observed.status, observed.removalConfirmed));
                break;
            case Topics.NoticeOutcomes:
                var outcome = Read<NoticeOutcome>(topic, value);
                if (Record(topic, outcome.eventId)) outcomes.Add(outcome);
                break;
            case Topics.NoticeDeliveries:
                var delivery = Read<NoticeDelivery>(topic, value);
                if (delivery.status == DeliveryStatus.MOVED && Record(topic, delivery.eventId))
                {
                    Interlocked.Increment(ref movedNotices);
                    movedCases.TryAdd(delivery.caseKey, 0);
                }
                break;
            case Topics.ReportsRelocated:
                var relocated = Read<ReportClassified>(topic, value);
                if (Record(topic, relocated.eventId)) reroutedCases.TryAdd(relocated.caseKey, 0);
                break;
            case Topics.SlaEvents:
                var sla = Read<SlaEvent>(topic, value);
                if (Record(topic, sla.eventId)) slaKinds.AddOrUpdate(sla.kind, 1, (_, n) => n + 1);
                break;
            default: Record(topic, Read<DeadLetter>(topic, value).eventId); break;
        }
    }

    private void Outcome(string reportId, string outcome) => outcomeByReport.TryAdd(reportId, outcome);

    private bool Record(string topic, string eventId) => eventsByTopic.GetOrAdd(topic, _ => new()).TryAdd(eventId, 0);

    private T Read<T>(string topic, byte[] value) where T : class, Avro.Specific.ISpecificRecord =>
        serdes.Deserialize<T>(value, topic);

    public void Dispose()
    {
        stop.Cancel();
        thread.Join(TimeSpan.FromSeconds(10));
        stop.Dispose();
    }
}
