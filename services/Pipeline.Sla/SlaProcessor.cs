using System.Collections.Concurrent;
using Confluent.Kafka;
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
/// </summary>
public sealed class SlaProcessor(SlaState state, TimeProvider time)
    : IProcessor<TakedownNotice>, IProcessor<ContentStatusObserved>, IPartitionAware
{
    public static readonly Counter Removals = Metrics.CreateCounter(
        "pipeline_sla_removals_total", "Noticed URLs whose removal was confirmed, by whether it met the deadline.",
        new CounterConfiguration { LabelNames = ["within_norm"] });
    public static readonly Histogram TimeToRemoval = Metrics.CreateHistogram(
        "pipeline_sla_time_to_removal_seconds", "Time from notice to observed removal (event time).",
        new HistogramConfiguration { Buckets = [900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 259200, 604800, 2592000] });

    public ValueTask ProcessAsync(Incoming<TakedownNotice> message, IOutput output, CancellationToken cancellationToken)
    {
        var notice = message.Value;
        // A reminder repeats its first notice: the SLA runs from the first notice to its deadline (the scorecard counts
        // reminders from notices.issued itself).
        if (notice.kind == NoticeKind.REMINDER) return ValueTask.CompletedTask;
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
        state.Open.Put(output, message.Partition, notice.caseKey, notice);
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
        state.Open.Put(output, partition, notice.caseKey, notice);
        Removals.WithLabels(outcome.withinNorm ? "true" : "false").Inc();
        TimeToRemoval.Observe(outcome.timeToRemovalFromNoticeMs / 1000.0);
    }

    public void OnAssigned(IReadOnlyCollection<TopicPartition> partitions)
    {
        var numbers = partitions.Select(p => new TopicPartition(Topics.SlaOpen, p.Partition)).DistinctBy(p => p.Partition.Value).ToList();
        state.Open.Restore(numbers);
        state.Pending.Restore(numbers);
    }

    public void OnRevoked(IReadOnlyCollection<TopicPartition> partitions)
    {
        // Drop the state of revoked partition numbers so that a later assignment restores it fresh from the state
        // topics instead of working from a stale copy. (Both inputs share partition numbers; an assignor that keeps
        // notices.issued[p] and content.status[p] on one instance is the remaining step for running several replicas.)
        var numbers = partitions.Select(p => new TopicPartition(Topics.SlaOpen, p.Partition)).DistinctBy(p => p.Partition.Value).ToList();
        state.Open.Drop(numbers);
        state.Pending.Drop(numbers);
    }
}

public sealed class SlaState(IOptions<KafkaOptions> kafka, AvroSerdes serdes, ILogger<SlaState> log)
{
    public PartitionedState<TakedownNotice> Open { get; } = new(Topics.SlaOpen, kafka.Value, serdes, log);
    public PartitionedState<ContentStatusObserved> Pending { get; } = new(Topics.SlaPending, kafka.Value, serdes, log);

    /// <summary>Notice id → the first miss of a run of misses still being counted (recheck needs consecutive misses a
    /// few minutes apart before it confirms a removal). The deadline watch waits for such a run to be decided before it
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
