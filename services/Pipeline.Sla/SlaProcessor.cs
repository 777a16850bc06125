using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Sla;

/// <summary>
/// Pairs each notice with the confirmed removal of its URL and decides the outcome once: time to removal from the
/// notice and from the report, within the norm or not. Open notices live in sla.open.v1; a removal that arrives
/// before its notice waits in sla.pending.v1. Both are co-partitioned with the inputs and restored on assignment.
/// <para>Deadlines are the timers of sla.open.v1: an open notice's timer is due at its deadline; when it fires with the
/// URL still online, the notice is flagged (one DEADLINE_BREACHED) and escalated to the authority (one ESCALATED), both
/// dated at the firing time. Escalation lives here, not in takedown's reminders: the same fact (the first notice's deadline
/// passed, no confirmed removal) decides both, from the same state. An event already on sla.events (published before a
/// restart, known from <see cref="ScorecardHistory"/>) is neither sent nor counted again.</para>
/// <para>The history is followed from the beginning of its four topics by readers the stage starts at warm-up without
/// waiting for them (a deadline timer snoozes until they caught up); they are the stage's background work, so one that
/// dies makes the stage not ready. The same history feeds the <see cref="HosterBoard"/> gauges.</para>
/// </summary>
public sealed class SlaProcessor : IProcessor<TakedownNotice>, IProcessor<ContentStatusObserved>, IProcessor<NoticeDelivery>, IStateful, IWarmUp, IBackgroundDependent, IDisposable
{
    private static readonly Gauge Open = Metrics.CreateGauge("pipeline_sla_open_notices", "Notices whose URL is not yet confirmed removed.");
    private static readonly Gauge Overdue = Metrics.CreateGauge("pipeline_sla_overdue_notices", "Open notices past their deadline.");
    private static readonly Counter Breaches = Metrics.CreateCounter("pipeline_sla_breaches_total", "Notices whose deadline passed while the URL was still online.");
    private static readonly Counter Escalations = Metrics.CreateCounter("pipeline_sla_escalations_total",
        "Notices escalated to the authority (deadline passed, URL still online), by whether the deadline came from an authority's removal order.",
        new CounterConfiguration { LabelNames = ["ordered"] });
    private readonly SlaState state;
    private readonly ScorecardHistory history;
    private readonly SlaOptions settings;
    private readonly TimeProvider time;
    private readonly KafkaOptions kafka;
    private readonly AvroSerdes serdes;
    private readonly ILogger log;
    private HistoryReaders? readers;

    private readonly HosterBoard board;

    public SlaProcessor(SlaState state, ScorecardHistory history, IOptions<SlaOptions> options, IOptions<KafkaOptions> kafka, AvroSerdes serdes,
        TimeProvider time, ILogger<SlaProcessor> log)
    {
        board = new HosterBoard(history, options, time); // exports the scorecards from the stage's history when scraped
        this.state = state;
        this.history = history;
        settings = options.Value;
        this.kafka = kafka.Value;
        this.serdes = serdes;
        this.time = time;
        this.log = log;
        state.Open.OnDue(n => n.timeline.removalObservedAt is null && n.kind != NoticeKind.REMINDER ? n.deadline : null, DeadlinePassed);
        Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
        {
            var now = time.GetUtcNow().UtcDateTime;
            var open = state.Open.Entries.Select(e => e.Value).Where(n => n.timeline.removalObservedAt is null).ToList();
            Open.Set(open.Count);
            Overdue.Set(open.Count(n => n.deadline < now));
        });
    }

    public IEnumerable<IStateStore> Stores => [state.Open, state.Pending];

    public IEnumerable<BackgroundWork> BackgroundWork => readers?.Work ?? [];

    public Task WarmUpAsync(CancellationToken cancellationToken)
    {
        readers = ScorecardHistory.Follow(history, kafka, serdes, log);
        readers.Start();
        _ = readers.CaughtUp.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) history.MarkCaughtUp();
            else log.LogError("The SLA history could not be read: {Error}; no scorecards are exported and deadline timers wait", t.Exception?.GetBaseException().Message);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        readers?.Dispose();
        board.Dispose();
    }

    public static readonly Counter Removals = Metrics.CreateCounter(
        "pipeline_sla_removals_total", "Noticed URLs whose removal was confirmed, by whether it met the deadline.",
        new CounterConfiguration { LabelNames = ["within_norm"] });
    public static readonly Histogram TimeToRemoval = Metrics.CreateHistogram(
        "pipeline_sla_time_to_removal_seconds", "Time from notice to observed removal (event time).",
        new HistogramConfiguration { Buckets = [900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 259200, 604800, 2592000] });

    public ValueTask ProcessAsync(Incoming<TakedownNotice> message, IOutput output, CancellationToken cancellationToken)
    {
        var notice = message.Value;
        // A reminder repeats its first notice, an escalation takes it to another party: the SLA runs from the first notice
        // to its deadline (the scorecard counts reminders and escalations from notices.issued itself); a confirmation is the case's last word.
        if (notice.kind is NoticeKind.REMINDER or NoticeKind.ESCALATION or NoticeKind.CONFIRMATION) return ValueTask.CompletedTask;
        if (notice.kind == NoticeKind.WITHDRAWAL)
        {
            // The notice is void: not measured, no breach, no escalation (the scorecard counts the episode withdrawn).
            if (state.Open.TryGet(message.Partition, notice.caseKey, out var open) && open.noticeId == notice.originalNoticeId
                && open.timeline.removalObservedAt is null)
                state.Open.Delete(output, message.Partition, notice.caseKey);
            return ValueTask.CompletedTask;
        }
        if (state.Open.TryGet(message.Partition, notice.caseKey, out var known) && known.noticeId == notice.noticeId)
            return ValueTask.CompletedTask; // replay
        if (notice is { episode: > 0, kind: NoticeKind.FIRST })
        {
            // The first notice of a re-upload: the case is measured again, as a notice of its own.
            state.Open.TryGet(message.Partition, notice.caseKey, out var previous);
            output.Send(Topics.SlaEvents, notice.caseKey, SlaClock.Reupload(notice, previous));
        }
        if (state.Pending.TryGet(message.Partition, notice.caseKey, out var removal) && removal.noticeId == notice.noticeId)
        {
            Decide(notice, removal, message.Partition, output);
            state.Pending.Delete(output, message.Partition, notice.caseKey);
            return ValueTask.CompletedTask;
        }
        state.Open.Put(output, message.Partition, notice.caseKey, notice.WithoutBodies()); // measured, never re-sent: no X-ARF, no text
        return ValueTask.CompletedTask;
    }

    public static readonly Counter ClosedMoved = Metrics.CreateCounter(
        "pipeline_sla_moved_total", "Open notices closed unmeasured because the host moved before a notice of theirs left (MOVED on notices.deliveries.v1): the old hoster is not measured on a notice it never got; the case is routed again.");

    /// <summary>The re-lookup before sending found the host moved: the route's notice is closed unmeasured for the old
    /// hoster (no removal time, no breach from now on, no escalation). A breach recorded before the move (a reminder
    /// found it moved after the deadline) stays: the hoster did not remove within the deadline while it hosted the URL.
    /// A national re-route's new first notice opens a measurement of its own.</summary>
    public ValueTask ProcessAsync(Incoming<NoticeDelivery> message, IOutput output, CancellationToken cancellationToken)
    {
        var d = message.Value;
        if (d.status != DeliveryStatus.MOVED || d.notice is null) return ValueTask.CompletedTask;
        var firstId = d.notice.originalNoticeId ?? d.notice.noticeId;
        if (state.Open.TryGet(message.Partition, d.caseKey, out var open) && open.noticeId == firstId)
        {
            if (open.timeline.removalObservedAt is not null) return ValueTask.CompletedTask; // decided (or closed) already
            state.Open.Delete(output, message.Partition, d.caseKey);
            output.AfterCommit(() => ClosedMoved.Inc());
            return ValueTask.CompletedTask;
        }
        if (open is not null && open.episode > d.notice.episode) return ValueTask.CompletedTask; // an older episode's notice
        // The MOVED record was read before its notice (the two topics are read side by side): the notice is closed ahead,
        // as a decided entry under its id, so that the notice, when it comes, is taken for a replay and never measured.
        var closed = d.notice.WithoutBodies();
        closed.timeline = new Timeline
        {
            receivedAt = d.notice.timeline.receivedAt, referredToPoliceAt = d.notice.timeline.referredToPoliceAt,
            noticeSentAt = d.notice.timeline.noticeSentAt ?? d.notice.issuedAt, removalObservedAt = d.at,
        };
        closed.noticeId = firstId;
        closed.kind = NoticeKind.FIRST;
        closed.sequence = 0;
        closed.originalNoticeId = null;
        state.Open.Put(output, message.Partition, d.caseKey, closed);
        output.AfterCommit(() => ClosedMoved.Inc());
        return ValueTask.CompletedTask;
    }

    public ValueTask ProcessAsync(Incoming<ContentStatusObserved> message, IOutput output, CancellationToken cancellationToken)
    {
        var observed = message.Value;
        if (!observed.removalConfirmed)
        {
            state.TrackMissRun(observed);
            return ValueTask.CompletedTask;
        }
        if (observed.noticeId is { } confirmed) state.MissRuns.TryRemove(confirmed, out _);
        if (!state.Open.TryGet(message.Partition, observed.caseKey, out var notice) || notice.noticeId != observed.noticeId)
        {
            state.Pending.Put(output, message.Partition, observed.caseKey, observed); // its notice has not been read yet
            return ValueTask.CompletedTask;
        }
        if (notice.timeline.removalObservedAt is not null) return ValueTask.CompletedTask; // decided already
        Decide(notice, observed, message.Partition, output);
        return ValueTask.CompletedTask;
    }

    private void Decide(TakedownNotice notice, ContentStatusObserved removal, int partition, IOutput output)
    {
        var outcome = SlaClock.Outcome(notice, removal, time.GetUtcNow().UtcDateTime);
        output.Send(Topics.NoticeOutcomes, outcome.caseKey, outcome);
        output.Send(Topics.SlaEvents, outcome.caseKey, SlaClock.RemovalEvent(outcome));
        notice.timeline.removalObservedAt = outcome.removedAt; // closed: kept so that replays are recognised
        state.Open.Put(output, partition, notice.caseKey, notice.WithoutBodies());
        Removals.WithLabels(outcome.withinNorm ? "true" : "false").Inc();
        TimeToRemoval.Observe(outcome.timeToRemovalFromNoticeMs / 1000.0);
    }

    /// <summary>An open notice's deadline passed (its timer fired).</summary>
    private void DeadlinePassed(TimerFired<TakedownNotice> timer, IOutput output)
    {
        var notice = timer.Value;
        var now = timer.Now;
        // Breaches published before a restart must be known first; the history follows sla.events beside the stage.
        if (!history.CaughtUp.IsCompleted)
        {
            state.Open.Snooze(timer, now + TimeSpan.FromMinutes(1));
            return;
        }
        // Offline since before the deadline, the removal not yet confirmed (recheck is still counting misses): wait for
        // the run to be decided, for at most Sla:BreachGrace, rather than escalate a hoster that met the norm. Looked at
        // again each minute (a check that finds the URL online ends the run); a confirmed removal changes the entry, so
        // the snoozed timer then never fires.
        if (state.MissRuns.TryGetValue(notice.noticeId, out var offlineSince) && offlineSince <= notice.deadline
            && now < notice.deadline + settings.BreachGrace)
        {
            var again = now + TimeSpan.FromMinutes(1);
            state.Open.Snooze(timer, again < notice.deadline + settings.BreachGrace ? again : notice.deadline + settings.BreachGrace);
            return;
        }
        if (!history.Has(notice.noticeId, SlaEventKind.DEADLINE_BREACHED))
        {
            var breach = SlaClock.Breach(notice, now);
            output.Send(Topics.SlaEvents, notice.caseKey, breach);
            output.AfterCommit(() =>
            {
                history.Add(breach);
                Breaches.Inc();
            });
        }
        if (!history.Has(notice.noticeId, SlaEventKind.ESCALATED))
        {
            var escalation = SlaClock.Escalation(notice, now);
            output.Send(Topics.SlaEvents, notice.caseKey, escalation);
            output.AfterCommit(() =>
            {
                history.Add(escalation);
                Escalations.WithLabels(notice.orderReference is null ? "false" : "true").Inc();
            });
        }
    }
}

public sealed class SlaState(IOptions<KafkaOptions> kafka, IOptions<RetentionOptions> retention, AvroSerdes serdes, ILogger<SlaState> log)
{
    /// <summary>Decided notices are kept to recognise replays, until <c>Retention:ClosedCaseAfter</c> after the removal.</summary>
    public PartitionedState<TakedownNotice> Open { get; } = new PartitionedState<TakedownNotice>(Topics.SlaOpen, kafka.Value, serdes, log)
        .ExpiresAt(n => retention.Value.Expiry(RetentionRules.Finished(n)));
    public PartitionedState<ContentStatusObserved> Pending { get; } = new PartitionedState<ContentStatusObserved>(Topics.SlaPending, kafka.Value, serdes, log)
        .ExpiresAt(o => retention.Value.Expiry(RetentionRules.Finished(o)));

    /// <summary>Notice id → the first miss of a run of misses still being counted (recheck needs consecutive misses a
    /// few minutes apart before it confirms a removal). The deadline timer waits for such a run to be decided before it
    /// calls a URL that went offline before its deadline a breach. In memory only: after a restart the watch falls
    /// back to judging on confirmed removals alone.</summary>
    public ConcurrentDictionary<string, DateTime> MissRuns { get; } = new(StringComparer.Ordinal);

    public void TrackMissRun(ContentStatusObserved observed)
    {
        if (observed.noticeId is not { } id || observed.reappeared) return;
        if (observed.consecutiveMisses > 0 && observed.offlineSince is { } since) MissRuns[id] = since;
        else if (observed.consecutiveMisses == 0) MissRuns.TryRemove(id, out _);
    }
}
