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
    // Partitions where an entry completed since the last scan: the consume loop scans only these, not every partition
    // of every input at every turn (audit reads 18 topics: 108 partition locks per message, issue 11).
    private readonly ConcurrentQueue<TopicPartition> progressed = new();
    private static readonly List<TopicPartitionOffset> None = [];

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
            if (Interlocked.Decrement(ref pending) != 0) return;
            Interlocked.Decrement(ref owner.inFlight);
            if (Offset >= 0) owner.progressed.Enqueue(Partition);
        }
    }

    /// <summary>Tracks a consumed message. Its partition is one <see cref="TopicPartition"/> per partition, looked up
    /// without allocating: Confluent.Kafka makes a new one each time a result's partition is asked for.</summary>
    public Entry Track(string topic, int partition, long offset)
    {
        if (!canonical.TryGetValue((topic, partition), out var tp))
            canonical[(topic, partition)] = tp = new TopicPartition(topic, partition);
        var entry = new Entry(this, tp, offset);
        Interlocked.Increment(ref inFlight);
        if (!partitions.TryGetValue(tp, out var list)) list = partitions.GetOrAdd(tp, _ => new LinkedList<Entry>());
        lock (list) list.AddLast(entry);
        return entry;
    }

    /// <summary>Only the consume loop tracks, so this needs no lock.</summary>
    private readonly Dictionary<(string Topic, int Partition), TopicPartition> canonical = new();

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

    /// <summary>Offsets (next to consume) that may be stored, for partitions that made progress. Without
    /// <paramref name="only"/>: the partitions where an entry completed since the last call (an empty list, not to be
    /// changed, when there are none).</summary>
    public List<TopicPartitionOffset> Completed(IEnumerable<TopicPartition>? only = null)
    {
        if (only is not null) return Completed(partitions.Where(p => only.Contains(p.Key)));
        if (progressed.IsEmpty) return None;
        var scan = new List<KeyValuePair<TopicPartition, LinkedList<Entry>>>();
        while (progressed.TryDequeue(out var tp))
            if (!Listed(scan, tp) && partitions.TryGetValue(tp, out var list)) scan.Add(new(tp, list));
        return Completed(scan);
    }

    private static bool Listed(List<KeyValuePair<TopicPartition, LinkedList<Entry>>> scan, TopicPartition tp)
    {
        foreach (var (listed, _) in scan)
            if (listed.Equals(tp)) return true;
        return false;
    }

    private static List<TopicPartitionOffset> Completed(IEnumerable<KeyValuePair<TopicPartition, LinkedList<Entry>>> scan)
    {
        var result = new List<TopicPartitionOffset>();
        foreach (var (tp, list) in scan)
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
