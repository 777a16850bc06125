using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
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
public sealed class TakedownProcessor : IProcessor<TakedownRequested>, IProcessor<ContentStatusObserved>, IStateful
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

    public TakedownProcessor(IOptions<TakedownOptions> options, ReminderTimers timers, TimeProvider time, ILogger<TakedownProcessor> log)
    {
        settings = options.Value;
        composer = new NoticeComposer(settings);
        this.timers = timers;
        this.time = time;
        this.log = log;
        timers.State.OnDue(n => ReminderTimers.Due(n, settings.Reminders), ReminderDue);
        Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
            ReminderMetrics.Open.Set(timers.State.Entries.Count(e => ReminderSchedule.NextDue(e.Value, settings.Reminders) is not null)));
    }

    public IEnumerable<IStateStore> Stores => [timers.State];

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
        var notice = composer.Compose(request, now);
        output.Send(Topics.NoticesIssued, notice.caseKey, notice);
        SubmissionToNotice.Observe(Math.Max(0, (notice.issuedAt - request.timeline.receivedAt).TotalSeconds));
        if (ReminderSchedule.NextDue(notice, settings.Reminders) is null) return ValueTask.CompletedTask; // held for the police, or reminders off
        // A replayed request finds its timer (running, or stopped by the removal) and leaves it as it is.
        if (timers.State.TryGet(message.Partition, notice.caseKey, out var latest) && ReminderSchedule.FirstNoticeId(latest) == notice.noticeId)
            return ValueTask.CompletedTask;
        timers.State.Put(output, message.Partition, notice.caseKey, notice);
        return ValueTask.CompletedTask;
    }

    public ValueTask ProcessAsync(Incoming<ContentStatusObserved> message, IOutput output, CancellationToken cancellationToken)
    {
        var observed = message.Value;
        if (!observed.removalConfirmed) return ValueTask.CompletedTask;
        if (!timers.State.TryGet(message.Partition, observed.caseKey, out var latest) || latest.timeline.removalObservedAt is not null)
            return ValueTask.CompletedTask;
        // An observation names the notice it was made for (recheck: the first notice); one for an earlier episode of the
        // case does not stop the current timer.
        if (observed.noticeId is { } id && id != ReminderSchedule.FirstNoticeId(latest) && id != latest.noticeId) return ValueTask.CompletedTask;
        timers.State.Put(output, message.Partition, observed.caseKey, ReminderSchedule.Stopped(latest, observed.offlineSince ?? observed.observedAt));
        output.AfterCommit(() => ReminderMetrics.Stopped.Inc());
        return ValueTask.CompletedTask;
    }

    /// <summary>An entry's timer fired: its next reminder is due, or, stopped, it may be forgotten.</summary>
    private void ReminderDue(TimerFired<TakedownNotice> timer, IOutput output)
    {
        if (ReminderSchedule.NextDue(timer.Value, settings.Reminders) is null)
        {
            timers.State.Delete(output, timer.Partition, timer.Key);
            return;
        }
        var reminder = NoticeComposer.Reminder(timer.Value, timer.Now);
        output.Send(Topics.NoticesIssued, timer.Key, reminder);
        timers.State.Put(output, timer.Partition, timer.Key, reminder);
        output.AfterCommit(() =>
        {
            ReminderMetrics.Issued.WithLabels(reminder.recipient.channel.ToString()).Inc();
            log.LogInformation("Reminder {Number} ({NoticeId}) of notice {FirstNoticeId} issued to {Recipient}", reminder.sequence, reminder.noticeId,
                reminder.originalNoticeId, reminder.recipient.address);
        });
    }
}
