using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;
using Prometheus;

namespace Pipeline.Takedown;

/// <summary>Issues the first takedown notice for each requested takedown and starts its reminder timer; a confirmed
/// removal (content.status.v1) stops the timer. A request without an abuse contact goes to the review queue: a person
/// must find the recipient.</summary>
/// <remarks>Removal is learned from content.status.v1 rather than notices.outcomes.v1: it is the fact itself (recheck's
/// consecutive misses or the hoster's confirmation), keyed and partitioned like takedown.requested, so the timer state
/// stays co-partitioned; outcomes would add the sla stage's latency and make reminders stop only while sla runs.</remarks>
public sealed class TakedownProcessor(IOptions<TakedownOptions> options, ReminderTimers timers, TimeProvider time)
    : IProcessor<TakedownRequested>, IProcessor<ContentStatusObserved>, IPartitionAware
{
    /// <summary>End to end, on event time: the report's receivedAt to the first notice's issuedAt (the stage clock).
    /// Buckets from a second to a week: a notice held for the police may wait days.</summary>
    public static readonly Histogram SubmissionToNotice = Metrics.CreateHistogram(
        "pipeline_takedown_submission_to_notice_seconds", "Time from a report's receipt (receivedAt) to its first takedown notice (issuedAt), event time.",
        new HistogramConfiguration { Buckets = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400] });

    private readonly NoticeComposer composer = new(options.Value);

    public async ValueTask ProcessAsync(Incoming<TakedownRequested> message, IOutput output, CancellationToken cancellationToken)
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
            return;
        }
        var notice = composer.Compose(request, now);
        output.Send(Topics.NoticesIssued, notice.caseKey, notice);
        SubmissionToNotice.Observe(Math.Max(0, (notice.issuedAt - request.timeline.receivedAt).TotalSeconds));
        if (ReminderSchedule.NextDue(notice, options.Value.Reminders) is null) return; // held for the police, or reminders off
        await timers.Gate.WaitAsync(cancellationToken);
        try
        {
            // A replayed request finds its timer (running, or stopped by the removal) and leaves it as it is.
            if (timers.State.TryGet(message.Partition, notice.caseKey, out var latest) && ReminderSchedule.FirstNoticeId(latest) == notice.noticeId) return;
            timers.State.Put(output, message.Partition, notice.caseKey, notice);
        }
        finally
        {
            timers.Gate.Release();
        }
    }

    public async ValueTask ProcessAsync(Incoming<ContentStatusObserved> message, IOutput output, CancellationToken cancellationToken)
    {
        var observed = message.Value;
        if (!observed.removalConfirmed) return;
        await timers.Gate.WaitAsync(cancellationToken);
        try
        {
            if (!timers.State.TryGet(message.Partition, observed.caseKey, out var latest) || latest.timeline.removalObservedAt is not null) return;
            // An observation names the notice it was made for (recheck: the first notice); one for an earlier episode
            // of the case does not stop the current timer.
            if (observed.noticeId is { } id && id != ReminderSchedule.FirstNoticeId(latest) && id != latest.noticeId) return;
            timers.State.Put(output, message.Partition, observed.caseKey, ReminderSchedule.Stopped(latest, observed.offlineSince ?? observed.observedAt));
            ReminderMetrics.Stopped.Inc();
        }
        finally
        {
            timers.Gate.Release();
        }
    }

    public void OnAssigned(IReadOnlyCollection<TopicPartition> partitions) => StageTimers.WithGate(timers.Gate, () => timers.State.Restore(StatePartitions(partitions)));

    public void OnRevoked(IReadOnlyCollection<TopicPartition> partitions) => StageTimers.WithGate(timers.Gate, () => timers.State.Drop(StatePartitions(partitions)));

    // Both inputs are keyed by case key with the same partition count: partition p of either maps to state partition p.
    private static List<TopicPartition> StatePartitions(IEnumerable<TopicPartition> partitions) =>
        partitions.Select(p => new TopicPartition(Topics.TakedownReminders, p.Partition)).DistinctBy(p => p.Partition.Value).ToList();
}
