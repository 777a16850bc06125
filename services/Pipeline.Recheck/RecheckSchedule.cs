using Pipeline.Contracts;

namespace Pipeline.Recheck;

/// <summary>
/// When each noticed URL is checked next and how many consecutive misses it has. Pure and clock-free: callers pass
/// the time. Thread-safe.
/// </summary>
public sealed class RecheckSchedule(RecheckOptions options)
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Item> items = new();
    private readonly PriorityQueue<string, DateTime> due = new();
    private TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public sealed class Item(TakedownNotice notice, int partition, DateTime next)
    {
        public TakedownNotice Notice { get; } = notice;
        public int Partition { get; } = partition;
        public DateTime Next { get; set; } = next;
        public int Misses { get; set; }
        public DateTime? FirstMissAt { get; set; }
        public int Checks { get; set; }
    }

    public sealed record Observation(Item Item, ProbeResult Result, DateTime At, bool RemovalConfirmed, bool GaveUp);

    public int Count
    {
        get { lock (gate) return items.Count; }
    }

    /// <summary>Completes when an item is added, so a waiting loop can re-plan its next wake-up.</summary>
    public Task Changed
    {
        get { lock (gate) return changed.Task; }
    }

    /// <summary>Adds a notice; a later notice for the same case replaces the earlier one.</summary>
    public void Add(TakedownNotice notice, int partition, DateTime now)
    {
        lock (gate)
        {
            if (items.TryGetValue(notice.caseKey, out var existing) && existing.Notice.noticeId == notice.noticeId) return;
            var first = notice.issuedAt + options.FirstCheckAfter;
            var item = new Item(notice, partition, first < now ? now : first);
            items[notice.caseKey] = item;
            due.Enqueue(notice.caseKey, item.Next);
            var signal = changed;
            changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            signal.TrySetResult();
        }
    }

    public void Remove(string caseKey)
    {
        lock (gate) items.Remove(caseKey);
    }

    public void RemovePartitions(IReadOnlySet<int> partitions)
    {
        lock (gate)
            foreach (var key in items.Where(i => partitions.Contains(i.Value.Partition)).Select(i => i.Key).ToList())
                items.Remove(key);
    }

    public DateTime? NextDue
    {
        get
        {
            lock (gate)
            {
                while (due.TryPeek(out var key, out var at))
                {
                    if (items.TryGetValue(key, out var item) && item.Next == at) return at;
                    due.Dequeue(); // stale entry
                }
                return null;
            }
        }
    }

    /// <summary>Takes the items due at <paramref name="now"/>; each must be handed back through <see cref="Record"/>.</summary>
    public List<Item> TakeDue(DateTime now, int max)
    {
        var result = new List<Item>();
        lock (gate)
        {
            while (result.Count < max && due.TryPeek(out var key, out var at) && at <= now)
            {
                due.Dequeue();
                if (items.TryGetValue(key, out var item) && item.Next == at)
                {
                    item.Next = DateTime.MaxValue; // being checked: stale queue entries for the same key no longer match
                    result.Add(item);
                }
            }
        }
        return result;
    }

    /// <summary>Records a check and schedules the next one. Returns what to publish.</summary>
    public Observation Record(Item item, ProbeResult result, DateTime at)
    {
        lock (gate)
        {
            item.Checks++;
            if (result.IsMiss)
            {
                item.Misses++;
                item.FirstMissAt ??= at;
            }
            else if (result.Status == ContentStatus.ONLINE)
            {
                item.Misses = 0;
                item.FirstMissAt = null;
            }
            var confirmed = item.Misses >= options.MissesForRemoval;
            var age = at - item.Notice.issuedAt;
            var gaveUp = !confirmed && item.Misses == 0 && age >= options.GiveUpAfter; // never in the middle of a confirmation
            var current = items.TryGetValue(item.Notice.caseKey, out var now) && ReferenceEquals(now, item);
            if (!current)
            {
                // replaced by a newer notice (or its partition was revoked) while this check ran: leave the newer one alone
            }
            else if (confirmed || gaveUp)
            {
                items.Remove(item.Notice.caseKey);
            }
            else
            {
                item.Next = at + (item.Misses > 0 ? options.MissSpacing : age >= options.SlowAfter ? options.SlowInterval : options.Interval);
                due.Enqueue(item.Notice.caseKey, item.Next);
            }
            return new Observation(item, result, at, confirmed, gaveUp);
        }
    }
}
