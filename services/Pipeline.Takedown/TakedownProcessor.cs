using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Geolocation;
using Pipeline.Platform;
using Prometheus;

namespace Pipeline.Takedown;

/// <summary>Issues the first takedown notice for each requested takedown and starts its reminder timer; a confirmed
/// removal (content.status.v1) stops the timer. A request without an abuse contact goes to the review queue: a person
/// must find the recipient. When a reminder falls due (the entry's timer in takedown.reminders.v1, on the stage clock),
/// the reminder goes to notices.issued.v1 and becomes the entry, together; after a crash in between, the same reminder
/// (same ids) is issued again and the delivery stage, which records every notice id it delivered, does not send it twice.
/// A stopped timer is deleted once no request can be replayed any more (<see cref="ReminderTimers.RequestRetention"/>).</summary>
/// <remarks>Removal is learned from content.status.v1 rather than notices.outcomes.v1: it is the fact itself (recheck's
/// consecutive misses or the hoster's confirmation), keyed and partitioned like takedown.requested, so the timer state
/// stays co-partitioned; outcomes would add the sla stage's latency and make reminders stop only while sla runs.</remarks>
public sealed class TakedownProcessor : IProcessor<TakedownRequested>, IProcessor<ContentStatusObserved>, IProcessor<HashRetracted>, IProcessor<ReportClassified>, IProcessor<NoticeDelivery>, IStateful, IWarmUp, IBackgroundDependent, IPartitionAware
{
    /// <summary>End to end, on event time: the report's receivedAt to the first notice's issuedAt (the stage clock).
    /// Buckets from a second to a week: a notice held for the police may wait days.</summary>
    public static readonly Histogram SubmissionToNotice = Metrics.CreateHistogram(
        "pipeline_takedown_submission_to_notice_seconds", "Time from a report's receipt (receivedAt) to its first takedown notice (issuedAt), event time.",
        new HistogramConfiguration { Buckets = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400] });

    private readonly NoticeComposer composer;
    private readonly TakedownOptions settings;
    private readonly ReminderTimers timers;
    private readonly TimeProvider time;
    private readonly ILogger log;
    private readonly HeldNotices held;
    private readonly ContactRules rules;
    private readonly RouteState routes;

    private readonly RdapClient? rdap;

    public TakedownProcessor(IOptions<TakedownOptions> options, ReminderTimers timers, HeldNotices held, ContactRules rules, RouteState routes, TimeProvider time, ILogger<TakedownProcessor> log,
        HostingLocator? locator = null)
    {
        rdap = locator?.Rdap;
        this.routes = routes;
        settings = options.Value;
        composer = new NoticeComposer(settings);
        this.timers = timers;
        this.held = held;
        this.rules = rules;
        this.time = time;
        this.log = log;
        timers.State.OnDue(n => ReminderTimers.Due(n, settings), TimerDue);
        held.State.OnDue(HoldDue, Release);
        rules.Directory.Changed += (_, _) => { if (rules.Directory.Loaded) held.State.Reschedule(h => h.releasedAt is null && h.heldFor != HeldFor.SEND_WINDOW); };
        Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
            ReminderMetrics.Open.Set(timers.State.Entries.Count(e => ReminderSchedule.NextDue(e.Value, settings.Reminders) is not null)));
        Metrics.DefaultRegistry.AddBeforeCollectCallback(CountHeld);
    }

    public IEnumerable<IStateStore> Stores => [timers.State, held.State, routes.State];

    public IEnumerable<BackgroundWork> BackgroundWork => rules.Directory.Background is { } b ? [b] : [];

    /// <summary>Loads the contact directory before the first notice is composed; holds restored before it was loaded are
    /// looked at again.</summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        await rules.Directory.StartAsync(cancellationToken);
        held.State.Reschedule(h => h.releasedAt is null);
    }

    public ValueTask ProcessAsync(Incoming<TakedownRequested> message, IOutput output, CancellationToken cancellationToken)
    {
        var request = message.Value;
        var now = time.GetUtcNow().UtcDateTime;
        if (request.hosting?.abuseContact is null)
        {
            output.Send(Topics.ReportsReview, request.caseKey, new ReviewRequested
            {
                eventId = EventIds.Derive("review", request.eventId),
                caseKey = request.caseKey, report = request.report, caseInfo = request.caseInfo, hosting = request.hosting,
                verdict = request.verdict, reason = "takedown requested but no abuse contact is known for the hoster",
                rule = "takedown:no-abuse-contact→review", requestedAt = now,
            });
            return ValueTask.CompletedTask;
        }
        routes.State.TryGet(message.Partition, request.caseKey, out var route);
        if (Relocations.Spent(request, route))
        {
            // A replay of a route that a move has spent: its notices are not sent, the case was routed again.
            output.AfterCommit(() => log.LogInformation("Request {EventId} for {CaseKey} (route generation {Generation}) ignored: the case was re-routed after a move (now generation {Current})",
                request.eventId, request.caseKey, request.routeGeneration, route!.routeGeneration));
            return ValueTask.CompletedTask;
        }
        if (Relocations.Newer(request, route)) routes.State.Put(output, message.Partition, request.caseKey, request);
        var notice = composer.Compose(request, now, style: Style(request.hosting.abuseContact.channel, request.hosting.abuseContact.address, NoticeKind.FIRST, output));
        if (!notice.policeHold)
        {
            // A hold of this notice (waiting or released) already decided it: a replayed request changes nothing.
            if (held.State.TryGet(message.Partition, notice.noticeId, out _)) return ValueTask.CompletedTask;
            notice = rules.WithWindowLine(notice);
            var clearance = rules.Check(notice.recipient, request.hosting.abuseContact.approved, now);
            if (clearance.BlockedBy is { } blocked)
            {
                // Reminders start when the notice is really issued (their interval counts from it).
                Hold(output, message.Partition, notice, clearance, now, request);
                return ValueTask.CompletedTask;
            }
        }
        output.Send(Topics.NoticesIssued, notice.caseKey, notice);
        SubmissionToNotice.Observe(Math.Max(0, (notice.issuedAt - request.timeline.receivedAt).TotalSeconds));
        StartReminders(output, message.Partition, notice);
        return ValueTask.CompletedTask;
    }

    /// <summary>Starts the case's reminder timer (reminders and escalation steps) for a first notice, unless it runs already (or was stopped) for it.</summary>
    private void StartReminders(IOutput output, int partition, TakedownNotice notice)
    {
        if (notice.kind != NoticeKind.FIRST) return;
        if (ReminderSchedule.NextDue(notice, settings.Reminders) is null && Escalations.NextDue(notice, settings.Escalation) is null)
            return; // held for the police, or reminders and escalations off
        // A replayed request finds its timer (running, or stopped by the removal) and leaves it as it is.
        if (timers.State.TryGet(partition, notice.caseKey, out var latest) && ReminderSchedule.FirstNoticeId(latest) == notice.noticeId) return;
        timers.State.Put(output, partition, notice.caseKey, notice);
    }

    private void Hold(IOutput output, int partition, TakedownNotice notice, Clearance clearance, DateTime now, TakedownRequested? request = null)
    {
        held.State.Put(output, partition, notice.noticeId, ContactRules.Hold(notice, clearance, now, request));
        output.AfterCommit(() => log.LogInformation("Notice {NoticeId} to {Recipient} held: {Reason}", notice.noticeId, notice.recipient.address, clearance.Reason));
    }

    /// <summary>A hold's timer: a SEND_WINDOW hold at its sendAt; an APPROVAL or POLICE_CONSENT hold as soon as the
    /// directory clears its contact (rescheduled when the directory changes); a released one never.</summary>
    private DateTime? HoldDue(HeldNotice h) =>
        h.releasedAt is not null ? null
        : h.heldFor == HeldFor.SEND_WINDOW ? h.sendAt
        : rules.Cleared(h) ? h.heldAt : null;

    /// <summary>A hold came due. A held first notice is composed afresh from its request: issued now, its deadline counted
    /// from now (the hoster was never told before), and not moved by the window afterwards (a notice sent on Friday
    /// afternoon has its deadline on Saturday). A contact cleared outside its window waits on for the window. A held
    /// reminder goes out as it was composed.</summary>
    private void Release(TimerFired<HeldNotice> timer, IOutput output)
    {
        var h = timer.Value;
        if (h.releasedAt is not null) return;
        var by = "send-window";
        var notice = h.notice;
        if (h.heldFor != HeldFor.SEND_WINDOW)
        {
            if (!rules.Cleared(h)) return; // the directory changed back; rescheduled with its next change
            var entry = rules.Directory.Find(h.contactId);
            by = entry?.approvedBy ?? entry?.updatedBy ?? "directory";
            if (h.request is { } request) notice = rules.WithWindowLine(composer.Compose(request, timer.Now, style: Style(notice.recipient.channel, notice.recipient.address, notice.kind, output)));
            var clearance = rules.Check(notice.recipient, contactApproved: true, timer.Now);
            if (clearance.BlockedBy is { } next && next != h.heldFor)
            {
                var again = ContactRules.Hold(notice, clearance, timer.Now, h.request);
                again.heldAt = h.heldAt;
                held.State.Put(output, timer.Partition, timer.Key, again);
                return;
            }
        }
        else if (h.request is { } request) notice = rules.WithWindowLine(composer.Compose(request, timer.Now, style: Style(notice.recipient.channel, notice.recipient.address, notice.kind, output)));
        output.Send(Topics.NoticesIssued, h.caseKey, notice);
        held.State.Put(output, timer.Partition, timer.Key, ContactRules.Released(h, timer.Now, by));
        StartReminders(output, timer.Partition, notice);
        output.AfterCommit(() => log.LogInformation("Held notice {NoticeId} to {Recipient} released by {By} ({HeldFor})", h.noticeId, notice.recipient.address, by, h.heldFor));
    }

    private void CountHeld()
    {
        var waiting = held.State.Entries.Select(e => e.Value).Where(h => h.releasedAt is null).ToList();
        foreach (var kind in Enum.GetValues<HeldFor>())
            HeldNotices.Waiting.WithLabels(kind.ToString().ToLowerInvariant()).Set(waiting.Count(h => h.heldFor == kind));
        var oldest = waiting.Where(h => h.heldFor == HeldFor.APPROVAL).Select(h => (DateTime?)h.heldAt).Min();
        HeldNotices.OldestApproval.Set(oldest is { } o ? new DateTimeOffset(DateTime.SpecifyKind(o, DateTimeKind.Utc)).ToUnixTimeMilliseconds() / 1000.0 : 0);
    }

    public ValueTask ProcessAsync(Incoming<ContentStatusObserved> message, IOutput output, CancellationToken cancellationToken)
    {
        var observed = message.Value;
        if (!observed.removalConfirmed)
        {
            // Recheck found the URL online: the reminders and escalations still to come say so (X-ARF verified_at).
            if (timers.State.TryGet(message.Partition, observed.caseKey, out var running) && ReminderSchedule.Verifies(running, observed, settings))
                SeenOnline(message.Partition, observed.caseKey, observed.observedAt);
            return ValueTask.CompletedTask;
        }
        sightings.TryRemove(observed.caseKey, out _);
        if (!timers.State.TryGet(message.Partition, observed.caseKey, out var latest) || latest.timeline.removalObservedAt is not null)
            return ValueTask.CompletedTask;
        // An observation names the notice it was made for (recheck: the first notice); one for an earlier episode of the
        // case does not stop the current timer.
        if (observed.noticeId is { } id && id != ReminderSchedule.FirstNoticeId(latest) && id != latest.noticeId) return ValueTask.CompletedTask;
        timers.State.Put(output, message.Partition, observed.caseKey, ReminderSchedule.Stopped(latest, observed.offlineSince ?? observed.observedAt));
        output.AfterCommit(() => ReminderMetrics.Stopped.Inc());
        // The case's last word to the hoster: its removal is confirmed (once: a replayed observation finds the timer stopped).
        if (settings.ConfirmRemoval && latest.kind is NoticeKind.FIRST or NoticeKind.REMINDER or NoticeKind.ESCALATION && !latest.policeHold)
        {
            var confirmation = Withdrawals.Confirmation(latest, observed, time.GetUtcNow().UtcDateTime, Style(latest.recipient.channel, latest.recipient.address, NoticeKind.CONFIRMATION, output));
            output.Send(Topics.NoticesIssued, confirmation.caseKey, confirmation);
            output.AfterCommit(() => Withdrawals.Confirmations.Inc());
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>A bank entry the case was classified on was retracted: when nothing supports the notice any more, its
    /// recipient gets one WITHDRAWAL notice, and the withdrawal takes the timer's place (no reminder follows). A case
    /// whose timer is gone (7 days after its first notice) or was never started gets none; a retraction is reported
    /// within the classification's own timer, long before that.</summary>
    public ValueTask ProcessAsync(Incoming<HashRetracted> message, IOutput output, CancellationToken cancellationToken)
    {
        var retraction = message.Value;
        if (!timers.State.TryGet(message.Partition, retraction.caseKey, out var latest)) return ValueTask.CompletedTask;
        if (Withdrawals.NotWithdrawn(latest, retraction) is { } why)
        {
            output.AfterCommit(() => log.LogInformation("Retraction of {Bank} entry for {CaseKey}: notice {NoticeId} not withdrawn ({Why})",
                retraction.bank, retraction.caseKey, ReminderSchedule.FirstNoticeId(latest), why));
            return ValueTask.CompletedTask;
        }
        var withdrawal = Withdrawals.Compose(latest, retraction, time.GetUtcNow().UtcDateTime, Style(latest.recipient.channel, latest.recipient.address, NoticeKind.WITHDRAWAL, output));
        output.Send(Topics.NoticesIssued, withdrawal.caseKey, withdrawal);
        timers.State.Put(output, message.Partition, retraction.caseKey, withdrawal);
        output.AfterCommit(() =>
        {
            Withdrawals.Issued.WithLabels(Withdrawals.ReasonHashRetracted).Inc();
            log.LogInformation("Notice {FirstNoticeId} withdrawn ({NoticeId}) to {Recipient}: the {Bank} entry it rested on was retracted",
                withdrawal.originalNoticeId, withdrawal.noticeId, withdrawal.recipient.address, retraction.bank);
        });
        return ValueTask.CompletedTask;
    }

    /// <summary>An analyst reversed the case's assessment: classification re-sends it on reports.classified.v1 as NOT_ILLEGAL
    /// (other verdicts are routing's business and are ignored here). Notices of the case still held (approval, police
    /// consent, send window) are dropped, each with a review record on reports.review.v1; when a notice of the case's current
    /// episode was issued, its recipient gets one WITHDRAWAL notice, which takes the reminder timer's place (no reminder or
    /// escalation follows; sla closes the notice unmeasured; recheck stops checking). A replayed reversal finds the holds
    /// released and the timer withdrawn, and does nothing more.</summary>
    public ValueTask ProcessAsync(Incoming<ReportClassified> message, IOutput output, CancellationToken cancellationToken)
    {
        var reversal = message.Value;
        if (reversal.verdict != Verdict.NOT_ILLEGAL) return ValueTask.CompletedTask;
        var now = time.GetUtcNow().UtcDateTime;
        foreach (var (noticeId, h) in held.State.EntriesOf(message.Partition).Where(e => e.Value.caseKey == reversal.caseKey && e.Value.releasedAt is null).ToList())
        {
            held.State.Put(output, message.Partition, noticeId, ContactRules.Released(h, now, "dropped: assessment reversed (not illegal)"));
            output.Send(Topics.ReportsReview, reversal.caseKey, new ReviewRequested
            {
                eventId = EventIds.Derive("review", "reversed-held", noticeId),
                caseKey = reversal.caseKey, report = reversal.report, caseInfo = reversal.caseInfo, hosting = reversal.hosting, verdict = reversal.verdict,
                reason = $"notice {noticeId} to {h.notice.recipient.address} was held ({h.heldFor}: {h.reason}) and is dropped unsent: an analyst reassessed the case as not illegal",
                rule = "takedown:assessment-reversed→held-notice-dropped", requestedAt = now,
            });
            output.AfterCommit(() =>
            {
                Withdrawals.HeldDropped.Inc();
                log.LogInformation("Held notice {NoticeId} for {CaseKey} dropped unsent: the assessment was reversed", noticeId, reversal.caseKey);
            });
        }
        if (!timers.State.TryGet(message.Partition, reversal.caseKey, out var latest)) return ValueTask.CompletedTask;
        if (Withdrawals.NotWithdrawn(latest, reversal) is { } why)
        {
            output.AfterCommit(() => log.LogInformation("Reversed assessment of {CaseKey}: notice {NoticeId} not withdrawn ({Why})",
                reversal.caseKey, ReminderSchedule.FirstNoticeId(latest), why));
            return ValueTask.CompletedTask;
        }
        var withdrawal = Withdrawals.Compose(latest, reversal, now, Style(latest.recipient.channel, latest.recipient.address, NoticeKind.WITHDRAWAL, output));
        output.Send(Topics.NoticesIssued, withdrawal.caseKey, withdrawal);
        timers.State.Put(output, message.Partition, reversal.caseKey, withdrawal);
        output.AfterCommit(() =>
        {
            Withdrawals.Issued.WithLabels(Withdrawals.ReasonAssessmentReversed).Inc();
            log.LogInformation("Notice {FirstNoticeId} withdrawn ({NoticeId}) to {Recipient}: the assessment was reversed (not illegal)",
                withdrawal.originalNoticeId, withdrawal.noticeId, withdrawal.recipient.address);
        });
        return ValueTask.CompletedTask;
    }

    /// <summary>The delivery found the case's host moved (MOVED, with the new hosting): the route the notice belonged to is
    /// spent, its reminders and escalation ladder stop (the timer is deleted; a replayed request of the spent route issues
    /// nothing, see <see cref="Relocations.Spent"/>), and the case goes back to routing with the new hosting and the next
    /// route generation. Once per route: a replayed or second MOVED of the same route finds it spent.</summary>
    public ValueTask ProcessAsync(Incoming<NoticeDelivery> message, IOutput output, CancellationToken cancellationToken)
    {
        var moved = message.Value;
        if (moved.status != DeliveryStatus.MOVED) return ValueTask.CompletedTask;
        routes.State.TryGet(message.Partition, moved.caseKey, out var route);
        if (Relocations.NotRerouted(moved, route) is { } why)
        {
            output.AfterCommit(() => log.LogInformation("MOVED record of notice {NoticeId} for {CaseKey} re-routes nothing: {Why}", moved.noticeId, moved.caseKey, why));
            return ValueTask.CompletedTask;
        }
        var notice = moved.notice!;
        if (timers.State.TryGet(message.Partition, moved.caseKey, out var latest)
            && latest.episode == notice.episode && latest.routeGeneration == notice.routeGeneration)
            timers.State.Delete(output, message.Partition, moved.caseKey);
        var relocated = Relocations.Relocated(route!, moved, time.GetUtcNow().UtcDateTime);
        output.Send(Topics.ReportsRelocated, moved.caseKey, relocated);
        routes.State.Put(output, message.Partition, moved.caseKey, Relocations.Spend(route!, moved.movedTo!));
        var reason = Relocations.Reason(moved);
        output.AfterCommit(() =>
        {
            Relocations.Rerouted.WithLabels(reason).Inc();
            log.LogWarning("Case {CaseKey} moved ({Reason}: now {Hoster}, {Country}) before notice {NoticeId} left: reminders stopped, routed again (generation {Generation})",
                moved.caseKey, reason, moved.movedTo!.hosterId ?? "unknown hoster", moved.movedTo.country ?? "unknown country", moved.noticeId, relocated.routeGeneration);
        });
        return ValueTask.CompletedTask;
    }

    /// <summary>Per case, recheck's latest ONLINE check of its running timer's notice, put into the timer's state (X-ARF
    /// <c>verified_at</c>) just before a reminder or escalation is composed from it (<see cref="TimerDue"/>), so that what
    /// a notice says is exact. Every routine check of an open URL reports ONLINE; writing the timer's state for each one
    /// (a JSON rewrite and a changelog record of the whole notice) took the takedown stage from about 40,000 to 24,000–28,000
    /// messages in 20 s runs of `pipeline bench pipeline` and put notices seconds behind. The price of keeping it in memory:
    /// after a restart or a rebalance the sightings since are gone until recheck's next check of the URL (at least every
    /// Recheck:MaxCheckAge), and a notice composed before that names the previous verification, older but true. Kept with
    /// the partition of the case, so that a revoked partition's sightings go with its timers (<see cref="OnRevoked"/>).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (int Partition, DateTime SeenAt)> sightings = new(StringComparer.Ordinal);

    private void SeenOnline(int partition, string caseKey, DateTime seenAt)
    {
        if (!sightings.TryGetValue(caseKey, out var seen) || seenAt > seen.SeenAt) sightings[caseKey] = (partition, seenAt);
    }

    /// <summary>Recheck's latest ONLINE check of the case not yet in its timer's state (for tests and diagnostics; the
    /// stage thread writes it).</summary>
    public DateTime? SightingOf(string caseKey) => sightings.TryGetValue(caseKey, out var seen) ? seen.SeenAt : null;

    /// <summary>Sightings held now (for tests and diagnostics).</summary>
    public int SightingCount => sightings.Count;

    /// <summary>The timer's state with the latest sighting in it (see <see cref="sightings"/>), before a notice is composed.</summary>
    private TakedownNotice WithLatestSighting(string caseKey, TakedownNotice state) =>
        sightings.TryRemove(caseKey, out var seen) ? ReminderSchedule.WithVerified(state, seen.SeenAt) ?? state : state;

    public void OnAssigned(IReadOnlyCollection<Confluent.Kafka.TopicPartition> partitions)
    {
    }

    /// <summary>The sightings of a revoked partition's cases go with its timers: the new owner restores the timers, and
    /// its own sightings come with recheck's next checks. (The stage's inputs are co-partitioned, so a partition number
    /// names the same cases on every input.)</summary>
    public void OnRevoked(IReadOnlyCollection<Confluent.Kafka.TopicPartition> partitions)
    {
        var gone = partitions.Select(p => p.Partition.Value).ToHashSet();
        foreach (var (caseKey, seen) in sightings)
            if (gone.Contains(seen.Partition)) sightings.TryRemove(caseKey, out _);
    }

    /// <summary>An entry's timer fired: escalation steps and/or its next reminder are due, or, stopped, it may be
    /// forgotten. The steps that have come due go first, in order (after a stop of the service, each still goes to its own
    /// recipient), then the reminder; the timer's state then records them all, in the same transaction as the notices.</summary>
    private void TimerDue(TimerFired<TakedownNotice> timer, IOutput output)
    {
        var state = timer.Value;
        if (ReminderSchedule.NextDue(state, settings.Reminders) is null && Escalations.NextDue(state, settings.Escalation) is null)
        {
            sightings.TryRemove(timer.Key, out _);
            timers.State.Delete(output, timer.Partition, timer.Key);
            return;
        }
        state = WithLatestSighting(timer.Key, state);
        while (Escalations.NextDue(state, settings.Escalation) is { } step && step <= timer.Now)
        {
            if (Escalate(timer, state, output) is not { } done)
            {
                // Waiting for the registrar's RDAP answer: the entry's timer (queued again by this write) waits for the
                // lookup and fires once it is done, with the answer in the cache.
                timers.State.Put(output, timer.Partition, timer.Key, state);
                return;
            }
            state = done;
        }
        if (ReminderSchedule.NextDue(state, settings.Reminders) is { } reminder && reminder <= timer.Now)
            state = Remind(timer, state, output);
        timers.State.Put(output, timer.Partition, timer.Key, state);
    }

    /// <summary>The next escalation step: its ESCALATION notice issued (or held for the recipient's send window or
    /// approval), or the step skipped when nobody is known for its role. Returns the timer's state with the step done, or
    /// null when the step waits for the domain's RDAP answer (a lookup started off the stage thread).</summary>
    private TakedownNotice? Escalate(TimerFired<TakedownNotice> timer, TakedownNotice state, IOutput output)
    {
        var (number, step) = Escalations.NextStep(state, settings.Escalation)!.Value;
        var next = Escalations.Advanced(state);
        var firstId = ReminderSchedule.FirstNoticeId(state);
        NoticeRecipient recipient;
        bool approved;
        switch (Escalations.Resolve(step, state.url, settings.Escalation, rdap))
        {
            case StepRecipient.Lookup lookup:
                timers.State.StartEffect(output, timer.Partition, timer.Key, ct => rdap!.LookupDomainAsync(lookup.Domain, ct).AsTask(), (answer, _) =>
                    log.LogInformation("RDAP registrar of {Domain} for escalation step {Number} of notice {FirstNoticeId}: {Outcome}", lookup.Domain, number, firstId,
                        answer is null ? "no registry" : answer.Ok ? $"{answer.Name ?? "unnamed"} <{answer.AbuseEmail ?? "no abuse contact"}>" : answer.Failure));
                return null;
            case StepRecipient.Skip skip:
                output.AfterCommit(() =>
                {
                    Escalations.Skipped.WithLabels(step.Role.ToString()).Inc();
                    log.LogWarning("Escalation step {Number} ({Role}) of notice {FirstNoticeId} for {Url} skipped: {Reason}", number, step.Role, firstId, state.url, skip.Reason);
                });
                return next;
            case StepRecipient.To to:
                (recipient, approved) = (to.Recipient, to.Approved);
                break;
            default:
                throw new InvalidOperationException("unknown step recipient");
        }
        var escalation = rules.WithWindowLine(Escalations.Compose(state, number, recipient, timer.Now, Style(recipient.channel, recipient.address, NoticeKind.ESCALATION, output)));
        if (held.State.TryGet(timer.Partition, escalation.noticeId, out _)) return next; // re-fired after a crash: the hold decides
        var clearance = rules.Check(escalation.recipient, contactApproved: approved, timer.Now);
        if (clearance.BlockedBy is not null)
        {
            Hold(output, timer.Partition, escalation, clearance, timer.Now);
            return next;
        }
        output.Send(Topics.NoticesIssued, timer.Key, escalation);
        output.AfterCommit(() =>
        {
            Escalations.Issued.WithLabels(step.Role.ToString()).Inc();
            log.LogInformation("Escalation {Number} ({NoticeId}) of notice {FirstNoticeId} issued to the {Role} {Recipient}", number, escalation.noticeId,
                firstId, step.Role, escalation.recipient.address);
        });
        return next;
    }

    /// <summary>The recipient's language and template from the contact directory; what the entry names but cannot be
    /// written (an unknown language or template) is logged and counted once the notice's outputs are handed over.</summary>
    private NoticeStyle Style(NoticeChannel channel, string address, NoticeKind kind, IOutput output)
    {
        var style = rules.StyleOf(channel, address);
        if (style.Fallbacks.Count > 0) output.AfterCommit(() => style.Report(log, kind, address));
        return style;
    }

    /// <summary>The next reminder, issued (or held); returns it as the timer's new state.</summary>
    private TakedownNotice Remind(TimerFired<TakedownNotice> timer, TakedownNotice state, IOutput output)
    {
        var reminder = rules.WithWindowLine(NoticeComposer.Reminder(state, timer.Now, Style(state.recipient.channel, state.recipient.address, NoticeKind.REMINDER, output)));
        if (held.State.TryGet(timer.Partition, reminder.noticeId, out _)) return reminder; // re-fired after a crash: the hold decides
        var clearance = rules.Check(reminder.recipient, contactApproved: true, timer.Now);
        if (clearance.BlockedBy is not null)
        {
            Hold(output, timer.Partition, reminder, clearance, timer.Now);
            return reminder;
        }
        output.Send(Topics.NoticesIssued, timer.Key, reminder);
        output.AfterCommit(() =>
        {
            ReminderMetrics.Issued.WithLabels(reminder.recipient.channel.ToString()).Inc();
            log.LogInformation("Reminder {Number} ({NoticeId}) of notice {FirstNoticeId} issued to {Recipient}", reminder.sequence, reminder.noticeId,
                reminder.originalNoticeId, reminder.recipient.address);
        });
        return reminder;
    }
}
