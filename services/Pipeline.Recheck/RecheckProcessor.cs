using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Recheck;

/// <summary>
/// Takes every issued notice into the recheck schedule. The schedule's entries live in the compacted topic
/// recheck.schedule.v1 (co-partitioned with notices.issued), so they survive restarts and follow rebalances.
/// </summary>
public sealed class RecheckProcessor(RecheckSchedule schedule, RecheckStateStore store, TimeProvider time)
    : IProcessor<TakedownNotice>, IPartitionAware
{
    public ValueTask ProcessAsync(Incoming<TakedownNotice> message, IOutput output, CancellationToken cancellationToken)
    {
        var notice = message.Value;
        if (notice.kind == NoticeKind.REMINDER) return ValueTask.CompletedTask; // the URL is already scheduled with its first notice
        // A replay of the scheduled notice (or an older episode's) must not overwrite its state: it may be watched already.
        if (schedule.Add(notice, message.Partition, time.GetUtcNow().UtcDateTime))
            store.State.Put(output, message.Partition, notice.caseKey, notice);
        return ValueTask.CompletedTask;
    }

    public void OnAssigned(IReadOnlyCollection<TopicPartition> partitions)
    {
        store.State.Restore(partitions);
        var now = time.GetUtcNow().UtcDateTime;
        foreach (var tp in partitions)
            foreach (var (_, notice) in store.State.EntriesOf(tp.Partition.Value))
                schedule.Add(notice, tp.Partition.Value, now);
    }

    public void OnRevoked(IReadOnlyCollection<TopicPartition> partitions)
    {
        schedule.RemovePartitions(partitions.Select(p => p.Partition.Value).ToHashSet());
        store.State.Drop(partitions);
    }
}

/// <summary>The recheck stage's state topic.</summary>
public sealed class RecheckStateStore(IOptions<KafkaOptions> kafka, AvroSerdes serdes, ILogger<RecheckStateStore> log)
{
    public PartitionedState<TakedownNotice> State { get; } = new(Topics.RecheckSchedule, kafka.Value, serdes, log);
}
