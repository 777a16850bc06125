using Microsoft.Extensions.Logging;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Sla;

/// <summary>
/// The event history the scorecards are computed from: notices (notices.issued, and sla.open for notices older than
/// notices.issued's retention), outcomes and SLA events, de-duplicated (a replay adds nothing; a re-decided outcome
/// replaces the earlier one for its notice).
/// </summary>
public sealed class ScorecardHistory
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, TakedownNotice> notices = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NoticeOutcome> outcomes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SlaEvent> events = new(StringComparer.Ordinal);
    private readonly HashSet<(string NoticeId, SlaEventKind Kind)> kinds = [];
    private readonly HashSet<string> movedAway = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the history has been read up to where the topics ended at start-up.</summary>
    public Task CaughtUp => caughtUp.Task;

    public void MarkCaughtUp() => caughtUp.TrySetResult();

    /// <summary>Whether an SLA event of this kind was already published for the notice (e.g. before a restart).</summary>
    public bool Has(string noticeId, SlaEventKind kind)
    {
        lock (gate) return kinds.Contains((noticeId, kind));
    }

    public void Add(TakedownNotice notice)
    {
        lock (gate)
            if (!notices.ContainsKey(notice.noticeId)) notices[notice.noticeId] = notice.WithoutBodies(); // every notice ever: only what scorecards read
    }

    /// <summary>A MOVED delivery: its route's first notice is not measured for the old hoster.</summary>
    public void Add(NoticeDelivery delivery)
    {
        if (delivery.status != DeliveryStatus.MOVED) return;
        lock (gate) movedAway.Add(delivery.notice?.originalNoticeId ?? delivery.notice?.noticeId ?? delivery.noticeId);
    }

    public void Add(NoticeOutcome outcome)
    {
        lock (gate) outcomes[outcome.noticeId] = outcome;
    }

    public void Add(SlaEvent e)
    {
        lock (gate)
        {
            events.TryAdd(e.eventId, e);
            kinds.Add((e.noticeId, e.kind));
        }
    }

    public int Count
    {
        get { lock (gate) return notices.Count + outcomes.Count + events.Count; }
    }

    public IReadOnlyList<HosterRow> Rank(DateTime now, DateTime since, int repeatBreaches, Func<string, string>? label = null)
    {
        List<TakedownNotice> n;
        List<NoticeOutcome> o;
        List<SlaEvent> e;
        List<string> m;
        lock (gate) (n, o, e, m) = ([.. notices.Values], [.. outcomes.Values], [.. events.Values], [.. movedAway]);
        return HosterScorecard.Rank(n, o, e, now, since, repeatBreaches, label, m);
    }

    /// <summary>Forgets what can no longer change a scorecard whose window starts at <paramref name="cutoff"/>: SLA events
    /// before it, and cases removed before it with their notices and outcomes. Open cases are kept whatever their age.</summary>
    public void Prune(DateTime cutoff)
    {
        lock (gate)
        {
            foreach (var id in events.Where(kv => kv.Value.occurredAt < cutoff).Select(kv => kv.Key).ToList()) events.Remove(id);
            var closed = outcomes.Values.Where(o => o.removedAt < cutoff).ToList();
            var closedCases = closed.Select(o => o.caseKey).ToHashSet(StringComparer.Ordinal);
            foreach (var o in closed) outcomes.Remove(o.noticeId);
            foreach (var id in notices.Where(kv => kv.Value.issuedAt < cutoff && closedCases.Contains(kv.Value.caseKey)).Select(kv => kv.Key).ToList())
                notices.Remove(id);
        }
    }

    /// <summary>Readers that follow the five topics (notices.deliveries.v1 for MOVED only) from their beginning (no consumer group, nothing committed) into
    /// <paramref name="history"/>. Start them, await <see cref="HistoryReaders.CaughtUp"/>, dispose to stop.
    /// <para>The notices are decoded without their X-ARF and text (kept <c>WithoutBodies()</c> anyway), the deliveries
    /// without their address, detail, new hosting and notice bodies (only a MOVED one's notice id is kept). The readers
    /// of what only scorecards read wait up to <see cref="ScorecardTailWaitMs"/> for new records at the end of a topic;
    /// sla.events.v1 keeps the stage's wait, since <see cref="Has"/> keeps a breach or escalation from being published
    /// twice.</para></summary>
    public static HistoryReaders Follow(ScorecardHistory history, KafkaOptions kafka, AvroSerdes serdes, ILogger log) => new HistoryReaders()
        .With(new CompactedTopicReader<TakedownNotice>(kafka, serdes, Topics.NoticesIssued, (_, v, _) => { if (v is not null) history.Add(v); }, log)
            { Projection = AvroProjection.NoticeBodies, TailFetchWaitMs = ScorecardTailWaitMs })
        .With(new CompactedTopicReader<TakedownNotice>(kafka, serdes, Topics.SlaOpen, (_, v, _) => { if (v is not null) history.Add(v); }, log)
            { Projection = AvroProjection.NoticeBodies, TailFetchWaitMs = ScorecardTailWaitMs })
        .With(new CompactedTopicReader<NoticeOutcome>(kafka, serdes, Topics.NoticeOutcomes, (_, v, _) => { if (v is not null) history.Add(v); }, log)
            { TailFetchWaitMs = ScorecardTailWaitMs })
        .With(new CompactedTopicReader<SlaEvent>(kafka, serdes, Topics.SlaEvents, (_, v, _) => { if (v is not null) history.Add(v); }, log))
        .With(new CompactedTopicReader<NoticeDelivery>(kafka, serdes, Topics.NoticeDeliveries, (_, v, _) => { if (v is not null) history.Add(v); }, log)
            { Projection = AvroProjection.NoticeBodies.And("NoticeDelivery", "address", "detail", "movedTo"), TailFetchWaitMs = ScorecardTailWaitMs });

    /// <summary>librdkafka's default fetch wait: scorecards are a view of the past, half a second late at most.</summary>
    public const int ScorecardTailWaitMs = 500;
}

public sealed class HistoryReaders : IDisposable
{
    private readonly List<(Action Start, Func<Task> CaughtUp, IDisposable Reader, BackgroundWork Work)> readers = [];

    internal HistoryReaders With<T>(CompactedTopicReader<T> reader) where T : class, Avro.Specific.ISpecificRecord
    {
        readers.Add((reader.Start, () => reader.CaughtUp, reader, reader.AsBackgroundWork()));
        return this;
    }

    /// <summary>The readers as background work: one that dies leaves the history (and the scorecards) stale.</summary>
    public IEnumerable<BackgroundWork> Work => readers.Select(r => r.Work);

    public void Start()
    {
        foreach (var r in readers) r.Start();
    }

    /// <summary>Completes when every topic has been read up to where it ended at start.</summary>
    public Task CaughtUp => Task.WhenAll(readers.Select(r => r.CaughtUp()));

    public void Dispose()
    {
        foreach (var r in readers) r.Reader.Dispose();
    }
}
