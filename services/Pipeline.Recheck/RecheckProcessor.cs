using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Recheck;

/// <summary>
/// The recheck stage. Every issued notice becomes an entry of the state store recheck.schedule.v2 (co-partitioned with
/// notices.issued), whose timer is the URL's next check. When it fires, the check runs off the stage thread as a
/// platform effect: it passes through <see cref="HostPoliteness"/> and then takes one of
/// <see cref="RecheckOptions.Concurrency"/> slots, so a slow host holds back only its own URLs. Its outcome is written
/// on the stage thread, in one output: the observation on content.status.v1, a re-upload's takedown request, and the
/// entry's next state (the next check, the misses so far, a waiting confirmation, the watch), or its deletion. A URL
/// counts as removed after <see cref="RecheckOptions.MissesForRemoval"/> consecutive misses, or at once when a hoster
/// confirmed the removal and a check agrees (<see cref="RecheckSchedule"/>).
/// </summary>
public sealed class RecheckProcessor : IProcessor<TakedownNotice>, IProcessor<NoticeDelivery>, IStateful
{
    private static readonly Counter Checks = Metrics.CreateCounter(
        "pipeline_recheck_checks_total", "URL checks by observed status.", new CounterConfiguration { LabelNames = ["status"] });
    private static readonly Counter Removals = Metrics.CreateCounter(
        "pipeline_recheck_removals_confirmed_total", "URLs confirmed removed, by method (RECHECK: consecutive misses; HOSTER_CONFIRMATION: a check agreed with the hoster).",
        new CounterConfiguration { LabelNames = ["method"] });
    private static readonly Counter Reappearances = Metrics.CreateCounter(
        "pipeline_recheck_reappearances_total", "URLs found online again after a confirmed removal (re-uploads); each asks for a new takedown.");
    private static readonly Counter RejectedConfirmations = Metrics.CreateCounter(
        "pipeline_recheck_confirmations_contradicted_total", "Hoster confirmations of removal that the check contradicted (the content was online).");
    private static readonly Gauge Scheduled = Metrics.CreateGauge(
        "pipeline_recheck_scheduled_urls", "Noticed URLs scheduled for rechecks until their removal is confirmed (watched ones not included).");
    private static readonly Gauge WatchedUrls = Metrics.CreateGauge(
        "pipeline_recheck_watched_urls", "URLs watched for a re-upload after their confirmed removal (checked every Recheck:WatchInterval).");
    private static readonly Gauge LastCheck = Metrics.CreateGauge(
        "pipeline_recheck_last_check_timestamp_seconds", "Unix time (stage clock) of the last completed check.");
    private static readonly Gauge OldestCheckAge = Metrics.CreateGauge(
        "pipeline_recheck_oldest_check_age_seconds", "The check round's age: stage-clock seconds since the oldest last conclusive check (its notice's issue, before the first) among the open URLs this member holds; above pipeline_recheck_max_check_age_seconds, URLs are not checked as often as promised.");
    private static readonly Gauge MaxCheckAge = Metrics.CreateGauge(
        "pipeline_recheck_max_check_age_seconds", "Recheck:MaxCheckAge: every open URL gets a conclusive check at least this often.");

    /// <summary>Checks waiting for their host's turn hold no slot; the store's own limit on running effects only has to
    /// be above anything politeness lets wait.</summary>
    private const int WaitingChecks = 100_000;

    private readonly RecheckSchedule schedule;
    private readonly RecheckStateStore store;
    private readonly IContentProbe probe;
    private readonly HostPoliteness politeness;
    private readonly NetworkControls controls;
    private readonly RecheckOptions settings;
    private readonly TimeProvider time;
    private readonly ILogger log;
    private readonly PrioritySlots slots;

    public RecheckProcessor(RecheckSchedule schedule, RecheckStateStore store, IContentProbe probe, HostPoliteness politeness,
        NetworkControls controls, IOptions<RecheckOptions> options, TimeProvider time, ILogger<RecheckProcessor> log)
    {
        this.controls = controls;
        this.schedule = schedule;
        this.store = store;
        this.probe = probe;
        this.politeness = politeness;
        settings = options.Value;
        this.time = time;
        this.log = log;
        slots = new PrioritySlots(settings.Concurrency);
        store.State.WithEffectConcurrency(WaitingChecks).OnDue(store.Due, CheckDue);
        Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
        {
            var watched = store.Watched;
            Scheduled.Set(store.State.Count - watched - store.MovedMarks);
            WatchedUrls.Set(watched);
            MaxCheckAge.Set(settings.MaxCheckAge.TotalSeconds);
            OldestCheckAge.Set(store.OldestCheck is { } oldest ? Math.Max(0, (time.GetUtcNow().UtcDateTime - oldest).TotalSeconds) : 0);
        });
    }

    public IEnumerable<IStateStore> Stores => [store.State];

    public ValueTask ProcessAsync(Incoming<TakedownNotice> message, IOutput output, CancellationToken cancellationToken)
    {
        var notice = message.Value;
        // Reminders, escalations and confirmations follow a first notice whose URL is already scheduled (or done).
        if (notice.kind is NoticeKind.REMINDER or NoticeKind.ESCALATION or NoticeKind.CONFIRMATION) return ValueTask.CompletedTask;
        if (notice.kind == NoticeKind.WITHDRAWAL)
        {
            // The notice is withdrawn: its URL is no longer checked (nor watched) for it.
            if (store.State.TryGet(message.Partition, notice.caseKey, out var scheduled) && scheduled.notice.noticeId == notice.originalNoticeId)
                store.State.Delete(output, message.Partition, notice.caseKey);
            return ValueTask.CompletedTask;
        }
        // A replay of the scheduled notice (or an older episode's) must not overwrite its state: it may be watched already.
        store.State.TryGet(message.Partition, notice.caseKey, out var existing);
        if (schedule.Schedule(existing, notice, time.GetUtcNow().UtcDateTime) is { } entry)
            store.State.Put(output, message.Partition, notice.caseKey, entry);
        return ValueTask.CompletedTask;
    }

    /// <summary>The host moved before a notice of the scheduled one left (MOVED on notices.deliveries.v1): the old notice is
    /// no longer checked; a national re-route's new first notice schedules the URL afresh. The two topics are read side by
    /// side, so the MOVED record may come first: then a MOVED mark takes the case's place in the store, under the first
    /// notice's id, and the notice, when it comes, is taken for a replay of it (see <see cref="RecheckSchedule.MovedMark"/>).
    /// The mark expires Retention:ClosedCaseAfter after the move.</summary>
    public ValueTask ProcessAsync(Incoming<NoticeDelivery> message, IOutput output, CancellationToken cancellationToken)
    {
        var d = message.Value;
        if (d.status != DeliveryStatus.MOVED || d.notice is null) return ValueTask.CompletedTask;
        var firstId = d.notice.originalNoticeId ?? d.notice.noticeId;
        if (!store.State.TryGet(message.Partition, d.caseKey, out var scheduled))
            scheduled = null;
        else if (scheduled.notice.noticeId == firstId)
        {
            if (!RecheckSchedule.Moved(scheduled)) store.State.Delete(output, message.Partition, d.caseKey);
            return ValueTask.CompletedTask;
        }
        // A later episode or route of the case is scheduled: the MOVED record is of a notice it replaced.
        if (scheduled is not null && (scheduled.notice.episode > d.notice.episode
            || (scheduled.notice.episode == d.notice.episode && scheduled.notice.routeGeneration > d.notice.routeGeneration)))
            return ValueTask.CompletedTask;
        store.State.Put(output, message.Partition, d.caseKey, RecheckSchedule.MovedMark(d));
        output.AfterCommit(() => log.LogInformation("MOVED record of notice {NoticeId} for {CaseKey} read before the notice: marked, the notice will not be checked", d.noticeId, d.caseKey));
        return ValueTask.CompletedTask;
    }

    /// <summary>A URL's check is due: run it off the stage thread, record it when it ends.</summary>
    private void CheckDue(TimerFired<RecheckEntry> timer, IOutput output)
    {
        var noticeId = timer.Value.notice.noticeId;
        var url = timer.Value.notice.url;
        var priority = RecheckSchedule.Priority(timer.Value, store.Confirmations.ContainsKey(noticeId));
        store.State.StartEffect(output, timer.Partition, timer.Key, ct => CheckPolitelyAsync(url, (int)priority, ct),
            (result, o) => Record(timer.Partition, timer.Key, noticeId, result, o));
    }

    /// <summary>The check, in its host's turn and a global slot (by priority), then — for a miss, an unanswered check, or
    /// any check while the network counts as down — the verdict of a control round begun after it started.</summary>
    private async Task<ProbeResult> CheckPolitelyAsync(string url, int priority, CancellationToken ct)
    {
        ProbeResult result;
        long started;
        using (await politeness.EnterAsync(RecheckSchedule.HostOf(url), priority, slots, ct))
        {
            Interlocked.Increment(ref store.probing);
            started = controls.Stamp();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(settings.ProbeTimeout);
            try
            {
                result = await probe.ProbeAsync(url, timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                result = HttpContentProbe.TimedOut;
            }
            catch
            {
                Interlocked.Decrement(ref store.probing);
                throw;
            }
        }
        try
        {
            // The host's turn and the slot are free again while the controls answer.
            return result.NeedsControls || controls.Down ? NetworkControls.Apply(result, await controls.VerifyAsync(started, ct)) : result;
        }
        finally
        {
            Interlocked.Decrement(ref store.probing);
        }
    }

    /// <summary>On the stage thread: the observation, a re-upload's request and the entry's next state, in one output.</summary>
    private void Record(int partition, string key, string noticeId, ProbeResult result, IOutput output)
    {
        // Replaced by a later notice of the case while the check ran: that notice has checks of its own.
        if (!store.State.TryGet(partition, key, out var entry) || entry.notice.noticeId != noticeId) return;
        var at = time.GetUtcNow().UtcDateTime;
        var arrived = store.Confirmations.TryGetValue(noticeId, out var c) ? c : null;
        var observation = schedule.Record(entry, result, at, arrived);
        var n = entry.notice;
        output.Send(Topics.ContentStatus, n.caseKey, new ContentStatusObserved
        {
            // One id per check of a notice: a check redone after a crash (its outcome not yet written) has the same id.
            eventId = EventIds.Derive("observed", n.noticeId, observation.Checks.ToString(CultureInfo.InvariantCulture)),
            caseKey = n.caseKey,
            noticeId = n.noticeId,
            url = n.url,
            status = result.Status,
            httpStatus = result.HttpStatus,
            detail = result.Detail,
            method = observation.Method,
            consecutiveMisses = observation.Misses,
            hosterId = n.hosterId,
            observedAt = at,
            offlineSince = observation.OfflineSince,
            removalConfirmed = observation.RemovalConfirmed,
            reappeared = observation.Reappeared,
        });
        if (observation.Reappeared) output.Send(Topics.TakedownRequested, n.caseKey, Reupload.Request(n, at, settings.HomeHotline));
        // The confirmation is in the entry now: taken out of the inbox first, so the entry's next timer is its next check.
        if (arrived is not null)
            output.AfterCommit(() => store.Confirmations.TryRemove(new KeyValuePair<string, RecheckSchedule.HosterConfirmation>(noticeId, arrived)));
        if (observation.Next is { } next) store.State.Put(output, partition, key, next);
        else store.State.Delete(output, partition, key);
        output.AfterCommit(() =>
        {
            Checks.WithLabels(result.Status.ToString()).Inc();
            LastCheck.Set(new DateTimeOffset(at).ToUnixTimeMilliseconds() / 1000.0);
            if (observation.RemovalConfirmed) Removals.WithLabels(observation.Method.ToString()).Inc();
            if (observation.Reappeared) Reappearances.Inc();
            if (observation.ConfirmationRejected)
            {
                RejectedConfirmations.Inc();
                log.LogWarning("Recheck of {CaseKey}: the hoster confirmed removal of notice {NoticeId}, but the URL is online (HTTP {Status})", n.caseKey, n.noticeId, result.HttpStatus);
            }
        });
    }
}

/// <summary>The recheck stage's state: per case key the <see cref="RecheckEntry"/> of its notice, in recheck.schedule.v2;
/// and, in memory, hoster confirmations that arrived over HTTP and wait for the check they make due at once.</summary>
public sealed class RecheckStateStore(IOptions<KafkaOptions> kafka, IOptions<RetentionOptions> retention, AvroSerdes serdes, ILogger<RecheckStateStore> log)
{
    /// <summary>Checked and watched entries leave when the schedule ends them; a MOVED mark expires with the retention of
    /// closed cases (<see cref="RetentionRules.Finished(RecheckEntry)"/>).</summary>
    public PartitionedState<RecheckEntry> State { get; } = new PartitionedState<RecheckEntry>(Topics.RecheckSchedule, kafka.Value, serdes, log)
        .ExpiresAt(e => retention.Value.Expiry(RetentionRules.Finished(e)));

    /// <summary>Notice id → a hoster's confirmation not yet taken into its entry by a check. In memory: a confirmation
    /// that arrives just before a crash is lost (the hoster was answered 202 and the URL is checked on its schedule).</summary>
    public ConcurrentDictionary<string, RecheckSchedule.HosterConfirmation> Confirmations { get; } = new(StringComparer.Ordinal);

    internal int probing;

    /// <summary>Checks whose request is running (past politeness, before their answer).</summary>
    public int Checking => Volatile.Read(ref probing);

    public DateTime? Due(RecheckEntry entry) => RecheckSchedule.Moved(entry) ? null :
        RecheckSchedule.Due(entry, Confirmations.TryGetValue(entry.notice.noticeId, out var c) ? c : null);

    /// <summary>The entry of a notice, if this member holds it (applied state).</summary>
    public RecheckEntry? Find(string noticeId) =>
        State.Entries.Select(e => e.Value).FirstOrDefault(e => e.notice.noticeId == noticeId && !RecheckSchedule.Moved(e));

    /// <summary>URLs scheduled or watched here.</summary>
    public int Count => State.Count;

    /// <summary>The oldest last conclusive check (the notice's issue before the first) among the open, unwatched URLs.</summary>
    public DateTime? OldestCheck => State.Entries.Where(e => !RecheckSchedule.Watching(e.Value) && !RecheckSchedule.Moved(e.Value))
        .Select(e => (DateTime?)(e.Value.lastCheckedAt ?? e.Value.notice.issuedAt)).Min();

    /// <summary>URLs watched after their removal.</summary>
    public int Watched => State.Entries.Count(e => RecheckSchedule.Watching(e.Value));

    /// <summary>MOVED marks (notices not to be checked when they come).</summary>
    public int MovedMarks => State.Entries.Count(e => RecheckSchedule.Moved(e.Value));

    /// <summary>The earliest due check of the held entries (stage clock).</summary>
    public DateTime? NextDue => State.Entries.Select(e => Due(e.Value)).Min();

    /// <summary>Takes a hoster's confirmation for a scheduled notice: its URL becomes due at once.</summary>
    public RecheckSchedule.ConfirmationAnswer Confirm(string noticeId, RecheckSchedule.HosterConfirmation confirmation)
    {
        var entry = Find(noticeId);
        if (entry is null) return RecheckSchedule.ConfirmationAnswer.UnknownNotice;
        if (RecheckSchedule.Watching(entry)) return RecheckSchedule.ConfirmationAnswer.AlreadyRemoved;
        if (Confirmations.TryAdd(noticeId, confirmation)) State.Reschedule(e => e.notice.noticeId == noticeId);
        return RecheckSchedule.ConfirmationAnswer.Verifying;
    }
}
