using Pipeline.Contracts;

namespace Pipeline.Recheck;

/// <summary>
/// When each noticed URL is checked next and how many consecutive misses it has. Pure and clock-free: callers pass
/// the time. Thread-safe.
/// <para>A URL goes through two phases. Until its removal is confirmed it is checked on the notice schedule (three
/// misses minutes apart, or a hoster's confirmation that a check agrees with). After that it is <em>watched</em>: checked
/// every <see cref="RecheckOptions.WatchInterval"/> for <see cref="RecheckOptions.WatchFor"/>, and a check that finds
/// it online again is a re-appearance (a re-upload).</para>
/// </summary>
public sealed class RecheckSchedule(RecheckOptions options)
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Item> items = new();
    private readonly Dictionary<string, string> caseOfNotice = new();
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
        /// <summary>When a check last found the content online; a hoster's claimed removal time is never put before it.</summary>
        public DateTime? LastOnlineAt { get; set; }
        /// <summary>A hoster's confirmation of removal that waits for a check to agree.</summary>
        public HosterConfirmation? Confirmation { get; set; }
        /// <summary>When removal was confirmed (the notice's timeline.removalObservedAt); set while the URL is watched.</summary>
        public DateTime? RemovedAt => Notice.timeline.removalObservedAt;
        public bool Watching => RemovedAt is not null;
        public string Host { get; } = HostOf(notice.url);
    }

    /// <summary>A hoster said the content is gone: received at <paramref name="ReceivedAt"/> (stage clock), removed at
    /// <paramref name="ClaimedRemovedAt"/> by its own account.</summary>
    public sealed record HosterConfirmation(DateTime ReceivedAt, DateTime? ClaimedRemovedAt);

    /// <summary>What a check means. <see cref="RemovedAt"/> is set when removal is confirmed now; <see cref="Method"/>
    /// says whether our misses or a hoster's confirmation (with a check that agrees) confirmed it.</summary>
    public sealed record Observation(Item Item, ProbeResult Result, DateTime At, bool RemovalConfirmed, bool GaveUp)
    {
        public ObservationMethod Method { get; init; } = ObservationMethod.RECHECK;
        /// <summary>Consecutive misses including this check (0 while watched).</summary>
        public int Misses { get; init; }
        /// <summary>When the current run of misses began, or the removal time once confirmed; null while online or watched.</summary>
        public DateTime? OfflineSince { get; init; }
        public DateTime? RemovedAt { get; init; }
        /// <summary>Online again after a confirmed removal: a re-upload.</summary>
        public bool Reappeared { get; init; }
        /// <summary>The watch after removal ended without a re-appearance: the entry can go.</summary>
        public bool WatchEnded { get; init; }
        /// <summary>A hoster's confirmation that this check contradicts (the content is online).</summary>
        public bool ConfirmationRejected { get; init; }
        /// <summary>Removal confirmed and the URL is now watched: the state entry is updated, not deleted.</summary>
        public bool StartsWatch => RemovalConfirmed && Item.Watching;
        /// <summary>The URL leaves the schedule: its state entry is deleted.</summary>
        public bool Ends => GaveUp || WatchEnded || (RemovalConfirmed && !Item.Watching);
    }

    public enum ConfirmationAnswer { UnknownNotice, AlreadyRemoved, Verifying }

    private int checking;

    /// <summary>Checks handed out by <see cref="TakeDue"/> whose outcome is not yet published (<see cref="Done"/>).</summary>
    public int Checking => Volatile.Read(ref checking);

    /// <summary>A check handed out by <see cref="TakeDue"/> is finished: recorded and its outcome published (or abandoned).</summary>
    public void Done() => Interlocked.Decrement(ref checking);

    public int Count
    {
        get { lock (gate) return items.Count; }
    }

    private int watched;

    /// <summary>URLs watched after their removal (checked every <see cref="RecheckOptions.WatchInterval"/>).</summary>
    public int Watched
    {
        get { lock (gate) return watched; }
    }

    /// <summary>Completes when an item is added or a check is moved earlier, so a waiting loop can re-plan its next wake-up.</summary>
    public Task Changed
    {
        get { lock (gate) return changed.Task; }
    }

    /// <summary>Adds a notice; a later notice for the same case replaces the earlier one (but not one of a later
    /// episode). A notice whose removal was confirmed already (restored from the state topic) is watched. Returns false
    /// when the notice was ignored (a replay of the scheduled one, or an older episode's).</summary>
    public bool Add(TakedownNotice notice, int partition, DateTime now)
    {
        lock (gate)
        {
            if (items.TryGetValue(notice.caseKey, out var existing)
                && (existing.Notice.noticeId == notice.noticeId || existing.Notice.episode > notice.episode)) return false;
            if (existing is not null) Remove(existing.Notice.caseKey);
            var first = notice.timeline.removalObservedAt is { } removed ? removed + options.WatchInterval : notice.issuedAt + options.FirstCheckAfter;
            var item = new Item(notice, partition, first < now ? now : first);
            items[notice.caseKey] = item;
            caseOfNotice[notice.noticeId] = notice.caseKey;
            if (item.Watching) watched++;
            due.Enqueue(notice.caseKey, item.Next);
            Signal();
            return true;
        }
    }

    public void Remove(string caseKey)
    {
        lock (gate)
        {
            if (!items.Remove(caseKey, out var item)) return;
            caseOfNotice.Remove(item.Notice.noticeId);
            if (item.Watching) watched--;
        }
    }

    public void RemovePartitions(IReadOnlySet<int> partitions)
    {
        lock (gate)
            foreach (var key in items.Where(i => partitions.Contains(i.Value.Partition)).Select(i => i.Key).ToList())
                Remove(key);
    }

    /// <summary>The notice with this id, if it is scheduled here.</summary>
    public TakedownNotice? Find(string noticeId)
    {
        lock (gate)
            return caseOfNotice.TryGetValue(noticeId, out var key) && items.TryGetValue(key, out var item) ? item.Notice : null;
    }

    /// <summary>Records a hoster's confirmation of removal and makes the URL due at once: the removal counts only
    /// when that check finds the content gone.</summary>
    public ConfirmationAnswer Confirm(string noticeId, HosterConfirmation confirmation)
    {
        lock (gate)
        {
            if (!caseOfNotice.TryGetValue(noticeId, out var key) || !items.TryGetValue(key, out var item)) return ConfirmationAnswer.UnknownNotice;
            if (item.Watching) return ConfirmationAnswer.AlreadyRemoved;
            item.Confirmation ??= confirmation; // the first confirmation counts; repeats are the same claim
            if (item.Next != DateTime.MaxValue && item.Next > confirmation.ReceivedAt)
            {
                item.Next = confirmation.ReceivedAt; // not while a check runs: its result is recorded against the confirmation
                due.Enqueue(key, item.Next);
                Signal();
            }
            return ConfirmationAnswer.Verifying;
        }
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
                    checking++;
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
            var current = items.TryGetValue(item.Notice.caseKey, out var now) && ReferenceEquals(now, item);
            var observation = item.Watching ? WatchCheck(item, result, at) : Noticed(item, result, at);
            if (!current)
            {
                // replaced by a newer notice (or its partition was revoked) while this check ran: leave the newer one alone
            }
            else if (observation.Ends || observation.Reappeared)
            {
                // A re-appearance leaves the schedule until the re-upload's own notice arrives (and replaces the entry
                // in the state topic); after a restart in between the watch finds it again and asks for the same notice.
                Remove(item.Notice.caseKey);
            }
            else
            {
                due.Enqueue(item.Notice.caseKey, item.Next);
                Signal();
            }
            return observation;
        }
    }

    private Observation Noticed(Item item, ProbeResult result, DateTime at)
    {
        if (result.IsMiss)
        {
            item.Misses++;
            item.FirstMissAt ??= at;
        }
        else if (result.Status == ContentStatus.ONLINE)
        {
            item.Misses = 0;
            item.FirstMissAt = null;
            item.LastOnlineAt = at;
        }
        var confirmation = item.Confirmation;
        var byHoster = confirmation is not null && result.IsMiss;
        var rejected = confirmation is not null && result.Status == ContentStatus.ONLINE;
        if (rejected) item.Confirmation = null; // contradicted: the hoster can confirm again once it is really gone
        var confirmed = byHoster || item.Misses >= options.MissesForRemoval;
        var age = at - item.Notice.issuedAt;
        var gaveUp = !confirmed && item.Misses == 0 && age >= options.GiveUpAfter; // never in the middle of a confirmation
        DateTime? removedAt = null;
        var misses = item.Misses;
        var offlineSince = item.FirstMissAt;
        if (confirmed)
        {
            removedAt = byHoster ? HosterRemovalTime(item, confirmation!, at) : item.FirstMissAt;
            if (options.WatchFor > TimeSpan.Zero)
            {
                item.Notice.timeline.removalObservedAt = removedAt;
                if (items.TryGetValue(item.Notice.caseKey, out var held) && ReferenceEquals(held, item)) watched++;
                item.Confirmation = null;
                item.Misses = 0;
                item.FirstMissAt = null;
                item.Next = at + options.WatchInterval;
            }
        }
        else
        {
            item.Next = at + (item.Misses > 0 || item.Confirmation is not null ? options.MissSpacing
                : age >= options.SlowAfter ? options.SlowInterval : options.Interval);
        }
        return new Observation(item, result, at, confirmed, gaveUp)
        {
            Method = byHoster ? ObservationMethod.HOSTER_CONFIRMATION : ObservationMethod.RECHECK,
            RemovedAt = removedAt,
            Misses = misses,
            OfflineSince = confirmed ? removedAt : offlineSince,
            ConfirmationRejected = rejected,
        };
    }

    /// <summary>The hoster's account of when it removed the content, but never before we last saw it online (or
    /// before our own first miss, if that was earlier) and never after the check that agreed.</summary>
    private static DateTime HosterRemovalTime(Item item, HosterConfirmation confirmation, DateTime checkedAt)
    {
        var claimed = confirmation.ClaimedRemovedAt ?? confirmation.ReceivedAt;
        if (item.FirstMissAt is { } firstMiss && firstMiss < claimed) claimed = firstMiss;
        if (item.LastOnlineAt is { } online && claimed < online) claimed = online;
        return claimed > checkedAt ? checkedAt : claimed;
    }

    private Observation WatchCheck(Item item, ProbeResult result, DateTime at)
    {
        var reappeared = result.Status == ContentStatus.ONLINE;
        var ended = !reappeared && at >= item.RemovedAt!.Value + options.WatchFor;
        item.Next = at + options.WatchInterval;
        return new Observation(item, result, at, RemovalConfirmed: false, GaveUp: false) { Reappeared = reappeared, WatchEnded = ended };
    }

    private void Signal()
    {
        var signal = changed;
        changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        signal.TrySetResult();
    }

    public static string HostOf(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.IdnHost.ToLowerInvariant() : url;
}
