using System.Collections.Concurrent;
using Avro.Specific;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Pipeline.Platform;

/// <summary>A keyed state store the processor host manages: restored from its changelog topic when input partitions
/// are assigned, dropped when they are revoked or lost (<see cref="IStateful"/>).</summary>
public interface IStateStore
{
    /// <summary>The compacted changelog topic, co-partitioned with the stage's inputs.</summary>
    string Topic { get; }

    /// <summary>Restores the entries of these partition numbers (no-op for those already held); with
    /// <paramref name="fence"/>, fences each of them first, all in one call (see <see cref="PartitionedState{T}.Restore(IEnumerable{int}, StateFence.Writer)"/>).</summary>
    void Restore(IEnumerable<int> partitions, StateFence.Writer? fence);

    /// <summary>Forgets the entries of these partition numbers (their new owner restores them).</summary>
    void Drop(IEnumerable<int> partitions);

    /// <summary>After a rebalance that left these held partitions with this member (an incremental assignment keeps them
    /// without assigning them again): finds whether another member fenced one since this member's epoch, and if so fences
    /// it again and returns the records to write under the new epoch. See <see cref="PartitionedState{T}.Reconcile"/>.</summary>
    IReadOnlyList<StateRewrite> Reconcile(IEnumerable<int> kept, Func<string, int, long> fence);
}

/// <summary>A state record written again by <see cref="IStateStore.Reconcile"/>: the member's current value of the key
/// (null: a tombstone, the key is gone here).</summary>
public sealed record StateRewrite(int Partition, string Key, byte[]? Value);

/// <summary>The records of state-store fencing (see <see cref="PartitionedState{T}.Restore(IEnumerable{int}, StateFence.Writer)"/>).</summary>
public static class StateFence
{
    /// <summary>Writes this member's fence to each of these partitions of a state topic and returns each fence's offset,
    /// the member's epoch there. The host writes them all before it waits for any: one linger and one acknowledgement for
    /// a store's whole assignment, not one after another per partition.</summary>
    public delegate IReadOnlyDictionary<int, long> Writer(string topic, IReadOnlyCollection<int> partitions);

    /// <summary>The key of the fence record a member writes to each state partition it is assigned (a tombstone: nothing
    /// to apply, only its offset and headers matter).</summary>
    public const string Key = "\u0000fence";

    /// <summary>Header of every state record the host writes: the writer's epoch, the offset of the fence it wrote.</summary>
    public const string EpochHeader = "pipeline.state.epoch";

    /// <summary>Header of a fence record: the consumer-group member that wrote it.</summary>
    public const string MemberHeader = "pipeline.state.member";
}

/// <summary>State changes made beside a processing call's outputs: the host makes them visible to later calls only once
/// every output of the call has been handed to the producer, and throws them away when the call fails (retried,
/// deferred or dead-lettered). See <see cref="IOutput.Enlist"/>.</summary>
public interface IStateChanges
{
    void Commit();

    void Rollback();
}

/// <summary>A processor whose stage keeps keyed state: the host restores, drops and fires the timers of these stores.</summary>
public interface IStateful
{
    IEnumerable<IStateStore> Stores { get; }
}

/// <summary>A timer that came due: the entry of <paramref name="Key"/> in partition <paramref name="Partition"/>, due at
/// <paramref name="DueAt"/>, fired at <paramref name="Now"/> (both on the stage's clock).</summary>
public sealed record TimerFired<T>(int Partition, string Key, T Value, DateTime DueAt, DateTime Now);

/// <summary>What a stage does when a timer fires: send outputs and change the entry (put it with a later due time, or
/// delete it). The entry fires once per due time: an unchanged entry does not fire again.</summary>
public delegate void TimerHandler<T>(TimerFired<T> timer, IOutput output) where T : class, ISpecificRecord;

/// <summary>Asynchronous work (a delivery, an HTTP check) started for one entry of a store by a processing call or a
/// timer, once that call's outputs are handed over. It runs off the stage thread, at most the store's concurrency at a
/// time; its continuation then runs on the stage thread, with an output of its own whose outputs and state changes take
/// the processing path. While it runs, the entry's timers wait. If the member loses the entry's partition first, the
/// continuation is discarded: the new owner finds the entry as it was and does the work again (so work must be safe to
/// repeat: same ids, same Message-ID).</summary>
internal sealed class PendingEffect(ITimerSource store, int partition, IReadOnlyList<string> keys, Func<CancellationToken, Task<Action<IOutput>>> work, IOutput origin)
    : IStateChanges
{
    public ITimerSource Store { get; } = store;
    public int Partition { get; } = partition;

    /// <summary>The entries the work is for (a batch: all its members); their timers wait while it runs.</summary>
    public IReadOnlyList<string> Keys { get; } = keys;
    public Func<CancellationToken, Task<Action<IOutput>>> Work { get; } = work;

    /// <summary>The trace context of the call that started the work: its continuation's span continues that trace.</summary>
    public TraceHeaders? Trace { get; } = (origin as OutputBuffer)?.Trace;

    /// <summary>Outside a host (a test's recorder): run it at once, in line.</summary>
    public void Commit() => Work(CancellationToken.None).GetAwaiter().GetResult()(origin);

    public void Rollback()
    {
    }
}

/// <summary>The host's view of a store with timers.</summary>
internal interface ITimerSource
{
    /// <summary>This member's epoch for a partition it holds (see <see cref="StateFence.EpochHeader"/>).</summary>
    bool TryGetEpoch(int partition, out long epoch);

    /// <summary>Effects of this store that may run at once.</summary>
    int EffectConcurrency { get; }

    /// <summary>While an effect of an entry runs, its timers wait; <see cref="EffectDone"/> releases them.</summary>
    void EffectStarted(int partition, string key);

    void EffectDone(int partition, string key);

    /// <summary>True while this member holds the partition (an effect's continuation for a dropped one is discarded).</summary>
    bool Holds(int partition);

    string Topic { get; }

    /// <summary>The earliest due timer, if it is due at <paramref name="now"/>, taken off the queue.</summary>
    bool TryTakeDue(DateTime now, out (int Partition, string Key, DateTime DueAt) timer);

    /// <summary>Runs the handler of a taken timer; false when the entry changed or went since it was scheduled. Just
    /// before the handler, <paramref name="starting"/> gets the trace context of the call that wrote the entry.</summary>
    bool Fire((int Partition, string Key, DateTime DueAt) timer, DateTime now, IOutput output, Action<TraceHeaders?> starting);

    /// <summary>The trace context of the call that wrote the entry's current value (kept with the entry, restored from
    /// its changelog record's headers); null when that record carried none.</summary>
    TraceHeaders? TraceOf(int partition, string key);

    /// <summary>Queues the entry's timer again at its current due time, if it has one (an effect of it failed).</summary>
    void RequeueCurrent(int partition, string key);

    /// <summary>Puts a taken timer back (its handler failed; it fires again later).</summary>
    void Reschedule((int Partition, string Key, DateTime DueAt) timer);

    int Scheduled { get; }
}

/// <summary>
/// Keyed state of a stage, kept in memory and backed by a compacted changelog topic that the stage owns. The state topic
/// is co-partitioned with the input: an entry written while processing input partition p goes to state partition p, and
/// is restored when p is assigned again (by the host, for an <see cref="IStateful"/> processor).
/// <para>Writes are part of the processing call: <see cref="Put"/> and <see cref="Delete"/> send the changelog record
/// through the call's output and keep the change pending (visible to the same call's reads); the host applies it when
/// every output of the call is handed to the producer and discards it when the call fails. A failed acknowledgement
/// stops the stage without committing offsets, so memory is rebuilt from the changelog (acknowledged writes only) and
/// the input is re-read: state, outputs and offsets move together.</para>
/// <para>Optional timers (<see cref="OnDue"/>): each entry may carry a due time on the stage's clock; when it passes, the
/// host calls the handler on the stage's own thread, and its outputs and state changes take the same path as a
/// processing call's. Timers persist because they are derived from the persisted entries.</para>
/// </summary>
public sealed class PartitionedState<T>(string topic, KafkaOptions kafka, AvroSerdes serdes, ILogger log)
    : IStateStore, IStateChanges, ITimerSource where T : class, ISpecificRecord
{
    private readonly ConcurrentDictionary<int, ConcurrentDictionary<string, T>> held = new();
    private readonly Dictionary<(int Partition, string Key), T?> pending = [];
    private readonly Dictionary<(int Partition, string Key), TraceHeaders?> pendingTraces = [];
    private readonly ConcurrentDictionary<int, ConcurrentDictionary<string, TraceHeaders>> traces = new(); // per held entry with a context
    private int pendingThread = -1; // the stage thread that holds pending changes; other threads never see (or touch) them
    private readonly PriorityQueue<(int Partition, string Key, DateTime DueAt), DateTime> timers = new();
    private Func<T, DateTime?>? dueAt;
    private TimerHandler<T>? onDue;
    private Func<T, DateTime?>? expiresAt;
    private readonly Dictionary<(int Partition, string Key), int> busy = [];
    private readonly List<(int Partition, string Key, DateTime DueAt)> parked = [];
    private int effectConcurrency = 4;
    private readonly ConcurrentDictionary<int, long> epochs = new();
    private readonly ConcurrentDictionary<int, long> checkedFrom = new(); // per held partition: where the next reconcile scan starts

    /// <summary>Records passed over at restore because a later fence had superseded their writer.</summary>
    public long Fenced => Interlocked.Read(ref fenced);

    private long fenced;

    /// <summary>This member's epoch for a partition it holds: the offset of its fence record there.</summary>
    public bool TryGetEpoch(int partition, out long epoch) => epochs.TryGetValue(partition, out epoch);

    public string Topic => topic;

    /// <summary>Applied entries of every held partition (not the pending changes of the call in progress).</summary>
    public IEnumerable<KeyValuePair<string, T>> Entries => held.Values.SelectMany(p => p);

    public int Count => held.Values.Sum(p => p.Count);

    public IEnumerable<KeyValuePair<string, T>> EntriesOf(int partition) =>
        held.TryGetValue(partition, out var p) ? p : [];

    /// <summary>Declares this store's timers: <paramref name="due"/> gives an entry's due time (null: none), and
    /// <paramref name="handler"/> runs when it passes. Set before the stage starts.</summary>
    public PartitionedState<T> OnDue(Func<T, DateTime?> due, TimerHandler<T> handler)
    {
        dueAt = due;
        onDue = handler;
        return this;
    }

    /// <summary>Declares this store's retention: <paramref name="expires"/> gives the time after which an entry is no longer
    /// kept (null: kept). When it passes, the platform deletes the entry through the stage's output (a tombstone on the
    /// state topic, so compaction removes every earlier record of the key), before any timer of <see cref="OnDue"/> that
    /// is due at the same time. Set before the stage starts.</summary>
    public PartitionedState<T> ExpiresAt(Func<T, DateTime?> expires)
    {
        expiresAt = expires;
        return this;
    }

    /// <summary>The entry's next timer: the earlier of its <see cref="OnDue"/> time and its expiry.</summary>
    private DateTime? Due(T value)
    {
        var due = dueAt?.Invoke(value);
        var expires = expiresAt?.Invoke(value);
        return due is null ? expires : expires is null ? due : expires < due ? expires : due;
    }

    /// <summary>When the earliest queued timer fires (stage clock); null when none is queued. A timer whose entry changed
    /// since is taken off the queue, without firing, once it comes due.</summary>
    public DateTime? NextDue
    {
        get
        {
            lock (timers) return timers.TryPeek(out _, out var at) ? at : null;
        }
    }

    /// <summary>How many effects (<see cref="StartEffect{TResult}"/>) of this store may run at once (default 4).</summary>
    public PartitionedState<T> WithEffectConcurrency(int concurrency)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        effectConcurrency = concurrency;
        return this;
    }

    /// <summary>Starts <paramref name="work"/> for the entry of <paramref name="key"/> once this call's outputs are handed
    /// over; <paramref name="then"/> runs on the stage thread with its result and an output of its own. See
    /// <see cref="PendingEffect"/>.</summary>
    public void StartEffect<TResult>(IOutput output, int partition, string key, Func<CancellationToken, Task<TResult>> work, Action<TResult, IOutput> then) =>
        StartEffect(output, partition, [key], work, then);

    /// <summary>Work for several entries at once (a batch): the timers of all of them wait while it runs.</summary>
    public void StartEffect<TResult>(IOutput output, int partition, IReadOnlyList<string> keys, Func<CancellationToken, Task<TResult>> work, Action<TResult, IOutput> then)
    {
        output.Enlist(new PendingEffect(this, partition, keys, async ct =>
        {
            var result = await work(ct).ConfigureAwait(false);
            return o => then(result, o);
        }, output));
    }

    int ITimerSource.EffectConcurrency => effectConcurrency;

    void ITimerSource.EffectStarted(int partition, string key)
    {
        lock (timers) busy[(partition, key)] = busy.GetValueOrDefault((partition, key)) + 1;
    }

    void ITimerSource.EffectDone(int partition, string key)
    {
        lock (timers)
        {
            if (!busy.TryGetValue((partition, key), out var n)) return;
            if (n > 1)
            {
                busy[(partition, key)] = n - 1;
                return;
            }
            busy.Remove((partition, key));
            for (var i = parked.Count - 1; i >= 0; i--)
            {
                if (parked[i].Partition != partition || parked[i].Key != key) continue;
                timers.Enqueue(parked[i], parked[i].DueAt);
                parked.RemoveAt(i);
            }
        }
    }

    bool ITimerSource.Holds(int partition) => held.ContainsKey(partition);

    /// <summary>Queues the timers of the held entries that <paramref name="which"/> selects again at their due time: for a
    /// due time that depends on something outside the entry (classification: whether its bank entry still exists), when
    /// that changes. Safe from any thread.</summary>
    public void Reschedule(Func<T, bool> which)
    {
        if (dueAt is null && expiresAt is null) return;
        foreach (var (partition, entries) in held)
            foreach (var (key, value) in entries)
                if (which(value) && Due(value) is { } due)
                    lock (timers) timers.Enqueue((partition, key, due), due);
    }

    /// <summary>Fires <paramref name="timer"/> again at <paramref name="until"/> unless its entry changes first (a
    /// handler that must wait for something, e.g. a confirmation, before it decides).</summary>
    public void Snooze(TimerFired<T> timer, DateTime until)
    {
        lock (timers) timers.Enqueue((timer.Partition, timer.Key, timer.DueAt), until);
    }

    /// <summary>The stage thread sees its call's pending changes; any other thread (an HTTP endpoint, a test) sees only
    /// applied state.</summary>
    private bool SeesPending => Volatile.Read(ref pendingThread) == Environment.CurrentManagedThreadId;

    public bool TryGet(int partition, string key, out T value)
    {
        if (SeesPending && pending.TryGetValue((partition, key), out var changed))
        {
            value = changed!;
            return changed is not null;
        }
        value = null!;
        return held.TryGetValue(partition, out var p) && p.TryGetValue(key, out value!);
    }

    public bool TryFind(string key, out T value, out int partition)
    {
        if (SeesPending)
        {
            foreach (var ((p, k), changed) in pending)
            {
                if (k != key) continue;
                value = changed!;
                partition = changed is null ? -1 : p;
                return changed is not null; // put, or deleted by this call
            }
        }
        foreach (var (id, p) in held)
            if (p.TryGetValue(key, out value!)) { partition = id; return true; }
        value = null!;
        partition = -1;
        return false;
    }

    public void Put(IOutput output, int partition, string key, T value)
    {
        output.Send(topic, partition, key, value);
        Volatile.Write(ref pendingThread, Environment.CurrentManagedThreadId);
        pending[(partition, key)] = value;
        pendingTraces[(partition, key)] = (output as OutputBuffer)?.Trace;
        output.Enlist(this);
    }

    public void Delete(IOutput output, int partition, string key)
    {
        output.Tombstone(topic, key, partition);
        Volatile.Write(ref pendingThread, Environment.CurrentManagedThreadId);
        pending[(partition, key)] = null;
        output.Enlist(this);
    }

    void IStateChanges.Commit()
    {
        foreach (var ((partition, key), value) in pending) Apply(partition, key, value, pendingTraces.GetValueOrDefault((partition, key)));
        pending.Clear();
        pendingTraces.Clear();
    }

    void IStateChanges.Rollback()
    {
        pending.Clear();
        pendingTraces.Clear();
    }

    /// <summary>Applies a change read from the changelog (restore), or one published and acknowledged outside a
    /// processing call.</summary>
    public void Apply(int partition, string key, T? value) => Apply(partition, key, value, trace: null);

    /// <summary>Applies a change with the trace context of the write that made it (kept for the entry's timers).</summary>
    private void Apply(int partition, string key, T? value, TraceHeaders? trace)
    {
        var p = held.GetOrAdd(partition, _ => new());
        if (value is not null && trace is { } t) traces.GetOrAdd(partition, _ => new())[key] = t;
        else if (traces.TryGetValue(partition, out var kept)) kept.TryRemove(key, out _);
        if (value is null) p.TryRemove(key, out _);
        else
        {
            p[key] = value;
            if (Due(value) is { } due)
                lock (timers) timers.Enqueue((partition, key, due), due);
        }
    }

    /// <summary>Restores the entries of the assigned input partitions from the state topic.</summary>
    public void Restore(IEnumerable<TopicPartition> assigned) => Restore(assigned.Select(tp => tp.Partition.Value));

    public void Restore(IEnumerable<int> partitions) => Restore(partitions, fence: null);

    /// <summary>Restores, after writing a fence to each partition first when <paramref name="fence"/> is given (the host
    /// does: it writes the fence record and returns its offset, which becomes this member's epoch there).
    /// <para>Fencing: every state record the host writes carries its writer's epoch (<see cref="StateFence.EpochHeader"/>). Restore
    /// reads each partition in offset order and passes over a record whose epoch is below the latest fence before it: a
    /// member that lost the partition without noticing (a pause past the session timeout) and wrote after its successor
    /// fenced it. Because the fence is written before the restore reads, everything written before it is restored and
    /// nothing a fenced member writes after it is ever applied.</para></summary>
    public void Restore(IEnumerable<int> partitions, StateFence.Writer? fence)
    {
        var wanted = partitions.Where(p => !held.ContainsKey(p)).ToHashSet();
        if (wanted.Count == 0) return;
        if (fence is not null)
        {
            var fences = fence(topic, wanted);
            foreach (var p in wanted)
                epochs[p] = fences.TryGetValue(p, out var offset) ? offset : throw new InvalidOperationException($"No fence was written to {topic} [{p}].");
        }
        foreach (var p in wanted) held.TryAdd(p, new());
        var latestFence = new Dictionary<int, long>();
        TraceHeaders? admittedTrace = null; // the reader applies a record right after admitting it, on its own thread
        bool Admit(ConsumeResult<byte[]?, byte[]?> r)
        {
            var admitted = AdmitRecord(r);
            admittedTrace = admitted ? TraceHeaders.From(r.Message.Headers) : null;
            return admitted;
        }
        bool AdmitRecord(ConsumeResult<byte[]?, byte[]?> r)
        {
            var p = r.Partition.Value;
            if (r.Message.Key is { } k && System.Text.Encoding.UTF8.GetString(k) == StateFence.Key)
            {
                latestFence[p] = r.Offset.Value;
                return false;
            }
            if (r.Message.Headers?.TryGetLastBytes(StateFence.EpochHeader, out var e) == true
                && long.TryParse(System.Text.Encoding.UTF8.GetString(e), System.Globalization.CultureInfo.InvariantCulture, out var epoch)
                && latestFence.TryGetValue(p, out var latest) && epoch < latest)
            {
                Interlocked.Increment(ref fenced);
                log.LogWarning("{Topic}: record {Origin} was written by a member fenced at epoch {Epoch} (superseded at {Latest}); not applied", topic, r.TopicPartitionOffset, epoch, latest);
                return false;
            }
            return true;
        }
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var reader = new CompactedTopicReader<T>(kafka, serdes, topic, (key, value, p) => Apply(p, key, value, admittedTrace), log, wanted.Contains, Admit);
        reader.Start();
        if (!reader.CaughtUp.Wait(TimeSpan.FromSeconds(60)))
            throw new TimeoutException($"Restoring {topic} partitions {string.Join(",", wanted)} took longer than 60 s.");
        var took = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        ProcessorMetrics.RestoreSeconds.WithLabels(topic).Observe(took.TotalSeconds);
        log.LogInformation("Restored {Count} entries of {Topic} for partitions {Partitions} in {Ms:0} ms", reader.Applied, topic, string.Join(",", wanted.Order()), took.TotalMilliseconds);
    }

    /// <summary>Records this member wrote again after finding a foreign fence in a partition it kept.</summary>
    public long Rewritten => Interlocked.Read(ref rewritten);

    private long rewritten;

    /// <summary>
    /// Checks the partitions this member kept through a rebalance. A group coordinator can hand a partition to a joining
    /// member while its owner, left out of that generation without being told, keeps it: the embedded cluster does when the
    /// owner rejoins later than its rebalance delay (session timeout − 1 s), and the cooperative protocol then lets the
    /// owner keep the partition at the next rebalance without assigning it again. The other member fenced the partition
    /// meanwhile, so every later write of the owner carries an epoch below that fence, and a restore would pass all of
    /// them over: the owner's state would be lost at its next restart or hand-over.
    /// <para>So after each rebalance the host calls this for the partitions a member kept: it reads each from where it
    /// last checked (its epoch at first) to the end, keys and headers only. No fence there: nothing to do. A fence of
    /// another member: this member fences the partition again (a new epoch) and returns, for every key written after that
    /// fence by anyone, its current value here (or a tombstone), which the host writes under the new epoch. A restore then
    /// rebuilds exactly this member's state: keys untouched since the foreign fence keep their earlier, admitted value.</para>
    /// </summary>
    public IReadOnlyList<StateRewrite> Reconcile(IEnumerable<int> kept, Func<string, int, long> fence)
    {
        var rewrites = new List<StateRewrite>();
        IConsumer<byte[]?, byte[]?>? consumer = null;
        try
        {
            foreach (var p in kept.Distinct())
                ReconcilePartition(p, ref consumer, fence, rewrites);
        }
        finally
        {
            consumer?.Close();
            consumer?.Dispose();
        }
        return rewrites;
    }

    private void ReconcilePartition(int p, ref IConsumer<byte[]?, byte[]?>? consumer, Func<string, int, long> fence, List<StateRewrite> rewrites)
    {
        if (!held.TryGetValue(p, out var entries) || !epochs.TryGetValue(p, out var epoch)) return;
        var from = Math.Max(epoch + 1, checkedFrom.GetValueOrDefault(p));
        consumer ??= BuildScanConsumer();
        var (foreign, keys, end) = ScanForForeignFence(consumer, p, from);
        if (foreign is null)
        {
            checkedFrom[p] = end;
            return;
        }
        var renewed = fence(topic, p);
        epochs[p] = renewed;
        checkedFrom[p] = renewed + 1;
        foreach (var key in keys)
            rewrites.Add(new StateRewrite(p, key, entries.TryGetValue(key, out var value) ? serdes.Serialize(value, topic) : null));
        Interlocked.Add(ref rewritten, keys.Count);
        log.LogWarning("{Topic} [{Partition}]: another member fenced this partition at {Foreign} while this member kept it (epoch {Epoch}); " +
                       "fenced it again at {Renewed} and wrote {Count} keys again under the new epoch", topic, p, foreign, epoch, renewed, keys.Count);
    }

    /// <summary>Reads state partition <paramref name="partition"/> from <paramref name="from"/> to its end (keys and headers,
    /// no decoding): the offset of the first fence there, the keys written after it, and the end offset.</summary>
    private (long? Foreign, HashSet<string> Keys, long End) ScanForForeignFence(IConsumer<byte[]?, byte[]?> consumer, int partition, long from)
    {
        var tp = new TopicPartition(topic, partition);
        var end = consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(30)).High.Value;
        long? foreign = null;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        if (from >= end) return (null, keys, Math.Max(from, end));
        consumer.Assign(new TopicPartitionOffset(tp, from));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is not null && r.TopicPartition != tp) continue; // left over from the partition scanned before
            if (r is { IsPartitionEOF: true }) break; // the end may be a transaction marker, never a record
            if (r is not null)
            {
                var key = r.Message.Key is null ? "" : System.Text.Encoding.UTF8.GetString(r.Message.Key);
                if (key == StateFence.Key) foreign ??= r.Offset.Value;
                else if (foreign is not null) keys.Add(key);
                if (r.Offset.Value + 1 >= end) break;
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Checking {tp} for another member's fence from offset {from} to {end} took longer than 60 s.");
        }
        consumer.Unassign();
        return (foreign, keys, end);
    }

    private IConsumer<byte[]?, byte[]?> BuildScanConsumer() => new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(KafkaClients.ConsumerConfig(kafka))
    {
        GroupId = $"reconcile-{topic}-{Guid.NewGuid():N}", // never committed: assign() says where to read
        EnableAutoCommit = false,
        AutoOffsetReset = AutoOffsetReset.Earliest, // the embedded cluster may have evicted the start: read what is kept
        EnablePartitionEof = true,
    }).SetLogHandler((_, m) => { if (m.Level <= SyslogLevel.Warning) log.LogDebug("reconcile {Topic} librdkafka: {Message}", topic, m.Message); })
      .Build();

    public void Drop(IEnumerable<TopicPartition> revoked) => Drop(revoked.Select(tp => tp.Partition.Value));

    public void Drop(IEnumerable<int> partitions)
    {
        foreach (var p in partitions)
        {
            held.TryRemove(p, out _);
            traces.TryRemove(p, out _);
            epochs.TryRemove(p, out _);
            checkedFrom.TryRemove(p, out _);
        }
        // Their timers stay queued but no longer match an entry (checked when they come due), so they never fire here.
        lock (timers)
        {
            var dropped = partitions.ToHashSet();
            parked.RemoveAll(t => dropped.Contains(t.Partition));
            foreach (var k in busy.Keys.Where(k => dropped.Contains(k.Partition)).ToList()) busy.Remove(k);
        }
    }

    int ITimerSource.Scheduled
    {
        get { lock (timers) return timers.Count; }
    }

    bool ITimerSource.TryTakeDue(DateTime now, out (int Partition, string Key, DateTime DueAt) timer)
    {
        lock (timers)
        {
            while (timers.TryPeek(out timer, out var due) && due <= now)
            {
                timers.Dequeue();
                if (!busy.ContainsKey((timer.Partition, timer.Key))) return true;
                parked.Add(timer); // its entry's effect is still running: fires when that is done
            }
        }
        return false;
    }

    bool ITimerSource.Fire((int Partition, string Key, DateTime DueAt) timer, DateTime now, IOutput output, Action<TraceHeaders?> starting)
    {
        // A queued timer is current only while its entry is held and still due at the same time: an entry put again
        // with another due time queued a new timer, and a deleted, dropped or changed entry's old timer is stale.
        if (!held.TryGetValue(timer.Partition, out var p) || !p.TryGetValue(timer.Key, out var value)) return false;
        var expires = expiresAt?.Invoke(value);
        if (expires == timer.DueAt)
        {
            starting(((ITimerSource)this).TraceOf(timer.Partition, timer.Key));
            Delete(output, timer.Partition, timer.Key);
            output.AfterCommit(() => ProcessorMetrics.StateExpired.WithLabels(topic).Inc());
            return true;
        }
        if (onDue is null || Due(value) != timer.DueAt) return false;
        starting(((ITimerSource)this).TraceOf(timer.Partition, timer.Key));
        onDue(new TimerFired<T>(timer.Partition, timer.Key, value, timer.DueAt, now), output);
        // A handler that leaves its entry as it is queues nothing new: the entry's expiry must still come.
        if (expires is { } later && later > timer.DueAt) lock (timers) timers.Enqueue((timer.Partition, timer.Key, later), later);
        return true;
    }

    TraceHeaders? ITimerSource.TraceOf(int partition, string key) =>
        traces.TryGetValue(partition, out var p) && p.TryGetValue(key, out var trace) ? trace : null;

    void ITimerSource.RequeueCurrent(int partition, string key)
    {
        if (held.TryGetValue(partition, out var p) && p.TryGetValue(key, out var value) && Due(value) is { } due)
            lock (timers) timers.Enqueue((partition, key, due), due);
    }

    void ITimerSource.Reschedule((int Partition, string Key, DateTime DueAt) timer)
    {
        lock (timers) timers.Enqueue(timer, timer.DueAt);
    }
}
