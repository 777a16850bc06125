using System.Collections.Concurrent;
using Confluent.Kafka;

namespace Pipeline.Platform;

/// <summary>
/// Tracks consumed messages until all their outputs are acknowledged, and yields, per partition, the offset that is
/// safe to store: one past the last message of the contiguous completed prefix. Delivery callbacks complete
/// entries from the producer's thread; only the consume loop adds, removes and dequeues.
/// </summary>
internal sealed class OffsetTracker
{
    private readonly ConcurrentDictionary<TopicPartition, LinkedList<Entry>> partitions = new();
    private int inFlight;

    public int InFlight => Volatile.Read(ref inFlight);

    /// <summary>Entries still held (not yet dequeued as part of a stored prefix).</summary>
    public int Tracked => partitions.Values.Sum(l => { lock (l) return l.Count; });

    public sealed class Entry(OffsetTracker owner, TopicPartition partition, long offset)
    {
        private int pending = 1; // the processing itself holds one reference until it finishes
        public long Offset { get; } = offset;
        public TopicPartition Partition { get; } = partition;
        public bool Done => Volatile.Read(ref pending) == 0;

        public void AddPending() => Interlocked.Increment(ref pending);

        public void Release()
        {
            if (Interlocked.Decrement(ref pending) == 0) Interlocked.Decrement(ref owner.inFlight);
        }
    }

    public Entry Track(TopicPartitionOffset tpo)
    {
        var entry = new Entry(this, tpo.TopicPartition, tpo.Offset.Value);
        Interlocked.Increment(ref inFlight);
        var list = partitions.GetOrAdd(tpo.TopicPartition, _ => new LinkedList<Entry>());
        lock (list) list.AddLast(entry);
        return entry;
    }

    /// <summary>An entry for outputs that no input offset waits for (a timer's): counted in flight until acknowledged.</summary>
    public Entry Untracked(TopicPartition origin)
    {
        Interlocked.Increment(ref inFlight);
        return new Entry(this, origin, -1);
    }

    /// <summary>Forgets a message that will be consumed again (deferred): it must neither complete nor block the
    /// offsets of the messages before it. It is always the newest entry of its partition.</summary>
    public void Abandon(Entry entry)
    {
        if (!partitions.TryGetValue(entry.Partition, out var list)) return;
        lock (list)
        {
            if (list.Last?.Value == entry)
            {
                list.RemoveLast();
                Interlocked.Decrement(ref inFlight);
            }
        }
    }

    /// <summary>Offsets (next to consume) that may be stored, for partitions that made progress.</summary>
    public List<TopicPartitionOffset> Completed(IEnumerable<TopicPartition>? only = null)
    {
        var result = new List<TopicPartitionOffset>();
        foreach (var (tp, list) in only is null ? partitions : partitions.Where(p => only.Contains(p.Key)))
        {
            long? last = null;
            lock (list)
            {
                while (list.First is { Value.Done: true } head)
                {
                    list.RemoveFirst();
                    last = head.Value.Offset;
                }
            }
            if (last is not null) result.Add(new TopicPartitionOffset(tp, last.Value + 1));
        }
        return result;
    }

    public bool AllDone(IEnumerable<TopicPartition> only) =>
        only.All(tp => !partitions.TryGetValue(tp, out var list) || Locked(list, l => l.All(e => e.Done)));

    /// <summary>Forgets partitions that were lost; their messages will be re-delivered to the new owner.</summary>
    public void Forget(IEnumerable<TopicPartition> lost)
    {
        foreach (var tp in lost)
            partitions.TryRemove(tp, out _); // their pending deliveries still release the in-flight count
    }

    private static bool Locked(LinkedList<Entry> list, Func<LinkedList<Entry>, bool> f)
    {
        lock (list) return f(list);
    }
}
