using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Prometheus;

namespace Pipeline.Platform;

/// <summary>
/// Runs one stage: a blocking consume loop on its own thread; typed consume → process → produce; input offsets
/// stored only after every output is acknowledged (at-least-once; outputs carry deterministic ids); bounded
/// retries for transient errors, then the dead-letter topic with the origin in headers; CooperativeSticky
/// assignment; graceful shutdown. Optionally runs in Kafka transactions on a real cluster.
/// </summary>
internal sealed class ProcessorHost(
    StageDefinition stage,
    object processor,
    IOptions<KafkaOptions> kafkaOptions,
    IOptions<ProcessingOptions> processingOptions,
    AvroSerdes serdes,
    StageHealth health,
    TimeProvider time,
    ILogger<ProcessorHost> log) : BackgroundService
{
    private readonly KafkaOptions kafka = kafkaOptions.Value;
    private readonly ProcessingOptions options = processingOptions.Value;
    private readonly OffsetTracker tracker = new();

    internal OffsetTracker Tracker => tracker;
    private readonly Dictionary<string, InputBinding> bindings = stage.Inputs.ToDictionary(i => i.Topic);
    private readonly Dictionary<TopicPartition, long> consumedPositions = [];
    private readonly Dictionary<TopicPartition, long> pausedUntil = [];
    private readonly bool expected = Expect(health, stage.Name); // known to /health/ready from the moment the host exists
    private readonly List<IStateStore> stores = (processor as IStateful)?.Stores.ToList() ?? [];
    private readonly List<ITimerSource> timers = (processor as IStateful)?.Stores.OfType<ITimerSource>().ToList() ?? [];
    private Dictionary<string, ITimerSource>? storeByTopic;

    /// <summary>Span names, made once: "&lt;stage&gt; process &lt;topic&gt;", "&lt;stage&gt; timer &lt;store&gt;", "&lt;stage&gt; effect &lt;store&gt;".</summary>
    // The per-message metrics, looked up once: WithLabels allocates its label array and hashes the labels at every call.
    private readonly Dictionary<string, Counter.Child> consumedMetric = stage.Inputs.ToDictionary(i => i.Topic, i => ProcessorMetrics.Consumed.WithLabels(stage.Name, i.Topic));
    private readonly ConcurrentDictionary<string, Counter.Child> producedMetric = new();
    // Every turn of the loop sets a store's timer metrics.
    private readonly Dictionary<ITimerSource, (Counter.Child Fired, Gauge.Child Scheduled)> timerMetrics = ((processor as IStateful)?.Stores.OfType<ITimerSource>() ?? [])
        .ToDictionary(s => s, s => (ProcessorMetrics.TimersFired.WithLabels(stage.Name, s.Topic), ProcessorMetrics.TimersScheduled.WithLabels(stage.Name, s.Topic)));
    private readonly Gauge.Child inFlightMetric = ProcessorMetrics.InFlight.WithLabels(stage.Name);
    private readonly Histogram.Child processingMetric = ProcessorMetrics.ProcessingSeconds.WithLabels(stage.Name);
    private readonly byte[] stageHeader = Encoding.UTF8.GetBytes(stage.Name);
    private readonly Dictionary<string, string> processSpans = stage.Inputs.ToDictionary(i => i.Topic, i => $"{stage.Name} process {i.Topic}");
    private readonly Dictionary<string, (string Timer, string Effect)> stateSpans = ((processor as IStateful)?.Stores ?? [])
        .ToDictionary(s => s.Topic, s => ($"{stage.Name} timer {s.Topic}", $"{stage.Name} effect {s.Topic}"));
    private HashSet<string>? stateTopics;
    private Action<PendingEffect>? startEffect; // StartEffect as a delegate, made once rather than for every output buffer (NewOutput)

    /// <summary>State records waiting for the other outputs of their call to be acknowledged, in call order (stage
    /// thread only). See <see cref="ProduceOutputs"/>.</summary>
    private readonly Queue<HeldStateWrites> heldStateWrites = new();

    private sealed class HeldStateWrites
    {
        public HeldStateWrites(OffsetTracker.Entry entry, int unacknowledged)
        {
            Entry = entry;
            Unacknowledged = unacknowledged;
            Acknowledged = () => Interlocked.Decrement(ref Unacknowledged);
        }

        public int Unacknowledged;

        /// <summary>Called once per acknowledged output of the call that is not a state record (one delegate for all of them).</summary>
        public Action Acknowledged { get; }

        public OffsetTracker.Entry Entry { get; }
        public List<(OutputBuffer.Pending Pending, byte[]? Value, Headers Headers, long Sequence)> Records { get; } = [];
    }
    /// <summary>Sequence numbers of state records queued (held or produced) and not yet acknowledged; an effect starts only
    /// once none at or below its barrier is left (see <see cref="StartEffect"/>).</summary>
    private readonly SortedSet<long> unacknowledgedStateWrites = [];
    private readonly List<(long Barrier, TaskCompletionSource Durable)> durableWaiters = []; // under the lock of unacknowledgedStateWrites
    private long stateWritesQueued; // stage thread only

    private volatile bool assigned; // since the last assignment callback, not revoked or lost since
    private long unassignedSince = Environment.TickCount64;

    private long timersPausedUntil;
    private readonly ConcurrentQueue<(PendingEffect Effect, Action<IOutput>? Then, Exception? Error)> completions = new();
    private readonly ConcurrentDictionary<ITimerSource, SemaphoreSlim> effectSlots = new();
    private int effectsInFlight;
    private readonly CancellationTokenSource effectsStop = new(); // cancelled once a stop has let running effects finish
    private volatile Exception? fatal;
    private SharedProducer.Lease? producerLease; // the process's shared producer, unless this stage has its own (transactions)
    private long outputsInFlight; // produced by this stage, neither acknowledged nor failed yet
    private readonly object outputsGate = new();
    private bool transactionOpen;
    private long transactionStartedTicks;

    /// <summary>A processor the host made (not resolved from the container), disposed with the host.</summary>
    internal IDisposable? OwnedProcessor { get; set; }

    public override void Dispose()
    {
        effectsStop.Cancel(); // not disposed: the stage thread may still be shutting down and cancel it too
        base.Dispose();
        // The owned processor (e.g. an exchange partner's producer) is disposed only once the stage thread has ended: a
        // host stop that ran out of time returns while the thread still works, and a Kafka client destroyed under a
        // thread inside it is a native crash of the whole process (issue 16). A thread that does not end in time leaves
        // the processor to the process exit.
        if (OwnedProcessor is { } owned)
        {
            OwnedProcessor = null;
            if (stageThread is { } thread && !thread.Join(TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds)))
                log.LogWarning("{Stage}: the stage thread did not end within {Timeout} s; its processor is left to the process exit", stage.Name, options.ShutdownTimeoutSeconds);
            else
                owned.Dispose();
        }
    }

    private Thread? stageThread;

    private static bool Expect(StageHealth health, string stage)
    {
        health.Expect(stage);
        return true;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _ = expected;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Run(stoppingToken);
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }) { IsBackground = true, Name = $"stage-{stage.Name}" };
        stageThread = thread;
        thread.Start();
        return done.Task;
    }

    private void Run(CancellationToken ct)
    {
        if (processor is IWarmUp warmUp)
        {
            log.LogInformation("{Stage}: warming up", stage.Name);
            try
            {
                warmUp.WarmUpAsync(ct).GetAwaiter().GetResult();
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                health.Report(stage.Name, running: false, joined: false, failure: "warm-up failed: " + e.Message);
                ProcessorMetrics.Up.WithLabels(stage.Name).Set(0);
                throw;
            }
        }

        if (processor is IBackgroundDependent dependent)
            foreach (var work in dependent.BackgroundWork) health.Watch(stage.Name, work, log);

        IProducer<byte[]?, byte[]?> producer;
        IConsumer<byte[]?, byte[]?> consumer;
        try
        {
            CoPartitioning.Verify(stage, ClientConfig(), TimeSpan.FromSeconds(30));
            producer = BuildProducer();
            consumer = BuildConsumer(producer);
            if (kafka.Transactions) producer.InitTransactions(TimeSpan.FromSeconds(30));
            consumer.Subscribe(stage.InputTopics);
        }
        catch (Exception e)
        {
            health.Report(stage.Name, running: false, joined: false, failure: e.Message);
            ProcessorMetrics.Up.WithLabels(stage.Name).Set(0);
            log.LogCritical(e, "{Stage}: could not start", stage.Name);
            throw;
        }
        // Disposed explicitly below, not by `using`: after a failure, disposing a consumer whose group membership broke
        // can block for good inside librdkafka, and the failure must still reach the host so that the process exits.
        using var endOffsets = new InputEndOffsets(stage.Name, stage.InputTopics, ClientConfig(), TimeSpan.FromMilliseconds(kafka.StatisticsIntervalMs), log);
        ProcessorMetrics.Initialise(stage.Name, stage.InputTopics);
        health.Report(stage.Name, running: true, joined: false);
        ProcessorMetrics.Up.WithLabels(stage.Name).Set(1);
        log.LogInformation("{Stage}: consuming {Topics} as group {Group}", stage.Name, string.Join(", ", stage.InputTopics), stage.Name);
        var graceful = true;
        var nextStore = 0L;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                ThrowIfFatal();
                var message = Poll(consumer);
                health.Polled(stage.Name);
                RejoinIfStuck(consumer);
                ReleaseStateWrites(producer);
                if (Environment.TickCount64 >= nextStore)
                {
                    // Every 20 ms, not every turn: one StoreOffset per partition then covers all that completed meanwhile
                    // (Confluent.Kafka stores one partition per call, with a few objects each). The offsets are committed
                    // every auto.commit.interval.ms anyway; a revocation or a stop stores and commits what is left.
                    StoreCompleted(consumer);
                    nextStore = Environment.TickCount64 + 20;
                }
                if (message is not null && !message.IsPartitionEOF)
                {
                    if (kafka.Transactions && !transactionOpen) BeginTransaction(producer);
                    if (Handle(message, producer, consumer, ct)) consumedPositions[message.TopicPartition] = message.Offset.Value + 1;
                }
                if (!completions.IsEmpty) CompleteEffects(producer, ct);
                if (timers.Count > 0) FireTimers(producer, ct);
                if (kafka.Transactions) MaybeCommitTransaction(producer, consumer);
                if (pausedUntil.Count > 0) ResumeDue(consumer);
                while (tracker.InFlight > options.MaxInFlightMessages && !ct.IsCancellationRequested)
                {
                    ThrowIfFatal();
                    Thread.Sleep(1);
                    ReleaseStateWrites(producer);
                    StoreCompleted(consumer);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            graceful = false;
            health.Report(stage.Name, running: false, joined: false, failure: e.Message);
            ProcessorMetrics.Up.WithLabels(stage.Name).Set(0);
            log.LogCritical(e, "{Stage}: stopped; offsets after the failure are not committed, so its input will be re-read on restart", stage.Name);
            throw;
        }
        finally
        {
            if (graceful)
            {
                ShutDown(consumer, producer);
                consumer.Dispose();
                ProducerHandle(producer).Dispose();
            }
            else
            {
                effectsStop.Cancel();
                DisposeWithin(TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds), consumer, ProducerHandle(producer));
            }
        }
    }

    /// <summary>Disposes the clients of a failed stage on another thread and waits at most <paramref name="timeout"/>: seen
    /// in fault runs, a consumer whose rebalance callback threw could block in its destructor, which kept the failed
    /// stage's exception from ever reaching the host, so the process stayed up, unready, until something killed it.</summary>
    private void DisposeWithin(TimeSpan timeout, params IDisposable[] clients)
    {
        var disposing = Task.Run(() =>
        {
            foreach (var client in clients)
            {
                try { client.Dispose(); }
                catch (Exception e) { log.LogWarning("{Stage}: disposing a Kafka client after the failure: {Error}", stage.Name, e.Message); }
            }
        });
        if (!disposing.Wait(timeout))
            log.LogWarning("{Stage}: the Kafka clients did not close within {Timeout}; leaving them to the process exit", stage.Name, timeout);
    }

    private void ShutDown(IConsumer<byte[]?, byte[]?> consumer, IProducer<byte[]?, byte[]?> producer)
    {
        var timeout = TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds);
        try
        {
            FinishEffects(producer);
            effectsStop.Cancel(); // what did not finish in time is redone after the restart, under the same ids
            FlushOutputs(producer, timeout);
            if (kafka.Transactions) CommitTransaction(producer, consumer);
            else
            {
                StoreCompleted(consumer);
                consumer.Commit();
            }
        }
        catch (KafkaException e) when (e.Error.Code == ErrorCode.Local_NoOffset)
        {
        }
        catch (KafkaException e)
        {
            log.LogWarning("{Stage}: final commit failed ({Reason}); the uncommitted tail will be re-read", stage.Name, e.Error.Reason);
        }
        try
        {
            consumer.Close();
        }
        catch (KafkaException e)
        {
            // Leaving the group failed (the client was being torn down, or the coordinator was away): the group drops
            // this member at session.timeout.ms and the uncommitted tail is re-read, so the stop itself still succeeds.
            log.LogWarning("{Stage}: leaving the consumer group failed ({Reason}); the group will time this member out", stage.Name, e.Error.Reason);
        }
        health.Report(stage.Name, running: false, joined: false);
        ProcessorMetrics.Up.WithLabels(stage.Name).Set(0);
        log.LogInformation("{Stage}: stopped gracefully", stage.Name);
    }

    /// <summary>One poll. A non-fatal consumer error (such as "Failed to fetch committed offsets" while a broker or the
    /// group coordinator is away) is the client telling us something it retries by itself: it must not stop the stage.
    /// A fatal one still does.</summary>
    private ConsumeResult<byte[]?, byte[]?>? Poll(IConsumer<byte[]?, byte[]?> consumer) =>
        KafkaClients.Poll(consumer, TimeSpan.FromMilliseconds(Volatile.Read(ref effectsInFlight) > 0 ? 5 : 100), stage.AssignmentStrategy == PartitionAssignmentStrategy.CooperativeSticky,
            onConsumerError ??= e =>
            {
                ProcessorMetrics.ConsumerErrors.WithLabels(stage.Name).Inc();
                log.LogWarning("{Stage}: consumer error, polling on: {Reason}", stage.Name, e.Reason);
            });

    /// <summary>Made once: a lambda that captures the host is a new delegate at every poll.</summary>
    private Action<Error>? onConsumerError;

    /// <summary>Leaves the group and joins again when the stage has been without an assignment for
    /// <see cref="ProcessingOptions.RejoinAfterSeconds"/> (see there).</summary>
    private void RejoinIfStuck(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (assigned || Environment.TickCount64 - Interlocked.Read(ref unassignedSince) < options.RejoinAfterSeconds * 1000L) return;
        log.LogWarning("{Stage}: no partitions assigned for {Seconds} s (Processing:RejoinAfterSeconds); leaving the group and joining again", stage.Name, options.RejoinAfterSeconds);
        ProcessorMetrics.Rejoins.WithLabels(stage.Name).Inc();
        consumer.Unsubscribe();
        consumer.Subscribe(stage.InputTopics);
        Interlocked.Exchange(ref unassignedSince, Environment.TickCount64);
    }

    private void ResumeDue(IConsumer<byte[]?, byte[]?> consumer)
    {
        var now = Environment.TickCount64;
        var due = pausedUntil.Where(p => p.Value <= now).Select(p => p.Key).ToList();
        if (due.Count == 0) return;
        foreach (var tp in due) pausedUntil.Remove(tp);
        consumer.Resume(due);
    }

    /// <summary>Handles one message; false when it was deferred (it will be read again).</summary>
    private bool Handle(ConsumeResult<byte[]?, byte[]?> message, IProducer<byte[]?, byte[]?> producer, IConsumer<byte[]?, byte[]?> consumer, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var entry = tracker.Track(message.Topic, message.Partition.Value, message.Offset.Value);
        var binding = bindings[message.Topic];
        // The span of this record (a child of the context in its headers), current while the processor runs, so that
        // its own outgoing calls join the trace; its context goes on every output.
        using var activity = PipelineTracing.Start(processSpans[message.Topic], ActivityKind.Consumer, TraceHeaders.From(message.Message.Headers), out var trace);
        if (activity is not null) PipelineTracing.TagConsumed(activity, stage.Name, message);
        for (var attempt = 1; ; attempt++)
        {
            var output = NewOutput(trace);
            try
            {
                binding.Dispatch(processor, serdes, message, output, ct).GetAwaiter().GetResult();
                ProduceOutputs(producer, SerialiseWithInfrastructureRetry(output, ct), Origin(message), trace, entry);
                output.CommitState();
                if (attempt > 1) health.Report(stage.Name, running: true, joined: true);
                break;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                output.RollbackState();
                throw;
            }
            catch (DeferException d)
            {
                output.RollbackState();
                // Not now: re-read this message later; only its partition waits, the loop keeps polling.
                tracker.Abandon(entry);
                consumer.Pause([message.TopicPartition]);
                consumer.Seek(message.TopicPartitionOffset);
                pausedUntil[message.TopicPartition] = Environment.TickCount64 + (long)d.After.TotalMilliseconds;
                consumedPositions.Remove(message.TopicPartition);
                ProcessorMetrics.Deferred.WithLabels(stage.Name).Inc();
                activity?.SetTag("pipeline.deferred", true);
                log.LogWarning("{Stage}: deferring {Origin} for {After}: {Reason}", stage.Name, message.TopicPartitionOffset, d.After, d.Message);
                return false;
            }
            catch (Exception e) when (e is not InfrastructureException)
            {
                output.RollbackState(); // a retry starts from the state as it was before this call
                var transient = TransientErrors.IsTransient(e);
                // The registry being unreachable while reading the input is no fault of the message: keep waiting.
                var registryDown = transient && e is UndeserialisableException;
                if (transient && (registryDown || attempt < options.MaxAttempts))
                {
                    ProcessorMetrics.Retries.WithLabels(stage.Name).Inc();
                    var delay = (int)options.RetryBackoff().Delay(attempt).TotalMilliseconds;
                    if (registryDown) health.Report(stage.Name, running: true, joined: false);
                    log.LogWarning("{Stage}: transient error at {Origin}, attempt {Attempt}/{Max}, retrying in {Delay} ms: {Error}",
                        stage.Name, message.TopicPartitionOffset, attempt, options.MaxAttempts, delay, e.Message);
                    if (ct.WaitHandle.WaitOne(delay)) throw new OperationCanceledException(ct);
                    continue;
                }
                var reason = e switch
                {
                    UndeserialisableException => "undeserialisable",
                    UnserialisableOutputException => "output_unserialisable",
                    _ => transient ? "retries_exhausted" : "processing_failed",
                };
                PipelineTracing.Failed(activity, reason, e);
                DeadLetter(producer, message, e, reason, attempt, entry, trace, ct);
                break;
            }
        }
        entry.Release();
        consumedMetric[message.Topic].Inc();
        inFlightMetric.Set(tracker.InFlight);
        processingMetric.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        return true;
    }

    /// <summary>Fires the timers that came due on the stage's clock, on the stage's own thread, a bounded number per turn
    /// so that the loop keeps polling. Their outputs and state changes take the path of a processing call's; the entry a
    /// handler changes is written with them. A failing handler is logged and counted, its changes discarded, and the
    /// stage's timers wait a backoff before that timer fires again.</summary>
    private void FireTimers(IProducer<byte[]?, byte[]?> producer, CancellationToken ct)
    {
        if (Environment.TickCount64 < timersPausedUntil) return;
        var now = time.GetUtcNow().UtcDateTime;
        var budget = options.MaxTimersPerTurn;
        foreach (var source in timers)
        {
            while (budget > 0 && source.TryTakeDue(now, out var timer))
            {
                var output = NewOutput(null);
                Activity? activity = null;
                try
                {
                    // The timer's span continues the trace of the call that wrote the entry (see PipelineTracing).
                    if (!source.Fire(timer, now, output, stored =>
                        {
                            activity = PipelineTracing.Start(stateSpans[source.Topic].Timer, ActivityKind.Internal, stored, out var trace);
                            output.Trace = trace;
                        })) continue; // stale: the entry changed, went, or moved away
                    budget--;
                    Emit(producer, output, source.Topic, timer.Partition, $"timer:{source.Topic}:{timer.Partition}:{timer.Key}", ct);
                    timerMetrics[source].Fired.Inc();
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    output.RollbackState();
                    source.Reschedule(timer);
                    throw;
                }
                catch (Exception e)
                {
                    output.RollbackState();
                    source.Reschedule(timer);
                    PipelineTracing.Failed(activity, "timer_failed", e);
                    ProcessorMetrics.TimerFailures.WithLabels(stage.Name, source.Topic).Inc();
                    var delay = options.RetryBackoff().Delay(1);
                    timersPausedUntil = Environment.TickCount64 + (long)delay.TotalMilliseconds;
                    log.LogError(e, "{Stage}: the timer of {Key} in {Topic}[{Partition}] failed; timers retry in {Delay}", stage.Name, timer.Key, source.Topic, timer.Partition, delay);
                    return;
                }
                finally
                {
                    activity?.Dispose();
                }
            }
            timerMetrics[source].Scheduled.Set(source.Scheduled);
        }
    }


    /// <summary>Starts an effect (<see cref="PendingEffect"/>) off the stage thread, within its store's concurrency; its
    /// continuation waits in <see cref="completions"/> for the stage thread.
    /// <para>The work waits until every state record written before it started is acknowledged: it acts on the world (a
    /// mail, a POST) on the strength of entries that memory already holds, and one whose record a crash lost would come
    /// back different after the restart. The fault run found that: a batch mailed with a member whose "waiting" record was
    /// still in flight; after the SIGKILL the member was read again, joined a new batch and reached its hoster a second
    /// time, under a second Message-ID.</para></summary>
    private void StartEffect(PendingEffect effect)
    {
        foreach (var key in effect.Keys) effect.Store.EffectStarted(effect.Partition, key);
        Interlocked.Increment(ref effectsInFlight);
        var slots = effectSlots.GetOrAdd(effect.Store, s => new SemaphoreSlim(s.EffectConcurrency));
        var barrier = stateWritesQueued;
        _ = Task.Run(async () =>
        {
            try
            {
                await WhenStateDurable(barrier).WaitAsync(effectsStop.Token).ConfigureAwait(false);
                await slots.WaitAsync(effectsStop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e)
            {
                completions.Enqueue((effect, null, e));
                return;
            }
            try
            {
                completions.Enqueue((effect, await effect.Work(effectsStop.Token).ConfigureAwait(false), null));
            }
            catch (Exception e)
            {
                completions.Enqueue((effect, null, e));
            }
            finally
            {
                slots.Release();
            }
        });
    }

    /// <summary>Runs the continuations of finished effects on the stage thread; their outputs and state changes take the
    /// processing path. The continuation of an effect whose partition this member no longer holds is discarded (the new
    /// owner does the work again). A failed effect or continuation is logged and counted, and its entry's timer is queued
    /// again after the timers' backoff.</summary>
    private void CompleteEffects(IProducer<byte[]?, byte[]?> producer, CancellationToken ct)
    {
        while (completions.TryDequeue(out var done))
        {
            var (effect, then, error) = done;
            Interlocked.Decrement(ref effectsInFlight);
            foreach (var key in effect.Keys) effect.Store.EffectDone(effect.Partition, key);
            if (!effect.Store.Holds(effect.Partition)) continue;
            if (error is OperationCanceledException && effectsStop.IsCancellationRequested) continue; // cut short by a stop: redone after the restart
            // The continuation's span continues the trace of the call that started the work.
            using var activity = PipelineTracing.Start(stateSpans[effect.Store.Topic].Effect, ActivityKind.Internal, effect.Trace, out var trace);
            var output = NewOutput(trace);
            try
            {
                if (error is not null) throw new InvalidOperationException($"the work failed: {error.Message}", error);
                then!(output);
                Emit(producer, output, effect.Store.Topic, effect.Partition, $"effect:{effect.Store.Topic}:{effect.Partition}:{effect.Keys[0]}", ct);
                ProcessorMetrics.EffectsCompleted.WithLabels(stage.Name, effect.Store.Topic).Inc();
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                output.RollbackState();
                throw;
            }
            catch (Exception e)
            {
                output.RollbackState();
                PipelineTracing.Failed(activity, "effect_failed", e);
                ProcessorMetrics.TimerFailures.WithLabels(stage.Name, effect.Store.Topic).Inc();
                var delay = options.RetryBackoff().Delay(1);
                timersPausedUntil = Environment.TickCount64 + (long)delay.TotalMilliseconds;
                foreach (var key in effect.Keys) effect.Store.RequeueCurrent(effect.Partition, key);
                log.LogError(e, "{Stage}: the effect of {Key} in {Topic}[{Partition}] failed; its timer fires again after {Delay}", stage.Name, string.Join(",", effect.Keys), effect.Store.Topic, effect.Partition, delay);
            }
        }
    }

    /// <summary>Outputs of a timer or an effect (no input offset waits for them): serialised and produced like a processed
    /// message's, counted in flight until acknowledged, and the state changes made beside them applied once handed over.</summary>
    private void Emit(IProducer<byte[]?, byte[]?> producer, OutputBuffer output, string store, int partition, string origin, CancellationToken ct)
    {
        var entry = tracker.Untracked(new TopicPartition(store, partition));
        ProduceOutputs(producer, SerialiseWithInfrastructureRetry(output, ct), Encoding.UTF8.GetBytes(origin), output.Trace, entry);
        output.CommitState();
        entry.Release();
    }

    /// <summary>
    /// Produces the outputs of one call. Its state records (writes to the stage's changelog topics) go out only once
    /// every other output of the call is acknowledged, and in call order: a state record on the changelog then always
    /// means the outputs that went with it are on their topics. Produced together, a crash could leave the state written
    /// and an output not (they are different partitions, acknowledged separately); the replay then found the state
    /// already changed and did not send the output again: the fault run lost delivery records this way (a notice recorded
    /// SENT in the delivery state, never on notices.deliveries.v1). Now a crash leaves the outputs without the state
    /// change at worst, and the replay redoes both under the same event ids. The input offset waits for all of it.
    /// With Kafka transactions the outputs and state of a call commit together anyway: nothing is held.
    /// </summary>
    /// <param name="origin">The <c>pipeline.origin</c> header's value, shared by every output (the client copies it).</param>
    private void ProduceOutputs(IProducer<byte[]?, byte[]?> producer, List<(OutputBuffer.Pending Pending, byte[]? Value)> serialised, byte[] origin, TraceHeaders? trace,
        OffsetTracker.Entry entry)
    {
        stateTopics ??= stores.Select(s => s.Topic).ToHashSet(StringComparer.Ordinal);
        var state = 0;
        if (!kafka.Transactions)
            foreach (var (pending, _) in serialised) if (stateTopics.Contains(pending.Topic)) state++;
        if (state == 0 || (state == serialised.Count && heldStateWrites.Count == 0))
        {
            foreach (var (pending, value) in serialised)
            {
                var acknowledged = stateTopics.Contains(pending.Topic) ? StateWriteAcknowledgement(QueueStateWrite()) : null;
                Produce(producer, pending.Topic, pending.Partition, Encoding.UTF8.GetBytes(pending.Key), value, OutputHeaders(origin, trace), entry, acknowledged);
            }
            return;
        }
        HoldStateWrites(producer, serialised, state, origin, trace, entry);
    }

    private Action StateWriteAcknowledgement(long sequence) => () => StateWriteAcknowledged(sequence);

    /// <summary>The state records of a call wait until its other outputs are acknowledged (see above). A method of its
    /// own: its closures would otherwise be allocated for every call, held or not.</summary>
    private void HoldStateWrites(IProducer<byte[]?, byte[]?> producer, List<(OutputBuffer.Pending Pending, byte[]? Value)> serialised, int state, byte[] origin,
        TraceHeaders? trace, OffsetTracker.Entry entry)
    {
        var held = new HeldStateWrites(entry, serialised.Count - state);
        foreach (var (pending, value) in serialised)
            if (stateTopics!.Contains(pending.Topic)) held.Records.Add((pending, value, OutputHeaders(origin, trace), QueueStateWrite()));
        entry.AddPending(); // released once the held records are produced: the input offset waits for them too
        heldStateWrites.Enqueue(held);
        foreach (var (pending, value) in serialised)
            if (!stateTopics!.Contains(pending.Topic))
                Produce(producer, pending.Topic, pending.Partition, Encoding.UTF8.GetBytes(pending.Key), value, OutputHeaders(origin, trace), entry, held.Acknowledged);
        ReleaseStateWrites(producer);
    }

    /// <summary>Produces the held state records whose calls' other outputs are all acknowledged, oldest first.</summary>
    private void ReleaseStateWrites(IProducer<byte[]?, byte[]?> producer)
    {
        while (heldStateWrites.TryPeek(out var held) && Volatile.Read(ref held.Unacknowledged) == 0)
        {
            heldStateWrites.Dequeue();
            foreach (var (pending, value, headers, sequence) in held.Records)
                Produce(producer, pending.Topic, pending.Partition, Encoding.UTF8.GetBytes(pending.Key), value, headers, held.Entry, () => StateWriteAcknowledged(sequence));
            held.Entry.Release();
        }
    }

    private long QueueStateWrite()
    {
        var sequence = ++stateWritesQueued;
        lock (unacknowledgedStateWrites) unacknowledgedStateWrites.Add(sequence);
        return sequence;
    }

    private void StateWriteAcknowledged(long sequence)
    {
        List<TaskCompletionSource>? durable = null;
        lock (unacknowledgedStateWrites)
        {
            unacknowledgedStateWrites.Remove(sequence);
            if (durableWaiters.Count > 0)
            {
                var oldest = unacknowledgedStateWrites.Count == 0 ? long.MaxValue : unacknowledgedStateWrites.Min;
                for (var i = durableWaiters.Count - 1; i >= 0; i--)
                {
                    if (durableWaiters[i].Barrier >= oldest) continue;
                    (durable ??= []).Add(durableWaiters[i].Durable);
                    durableWaiters.RemoveAt(i);
                }
            }
        }
        if (durable is not null) foreach (var waiter in durable) waiter.TrySetResult();
    }

    /// <summary>Completes once every state record queued up to <paramref name="barrier"/> is acknowledged: signalled by
    /// the acknowledgement itself. (It was a 2 ms poll per waiting effect: with hundreds of rechecks and deliveries in
    /// flight, 3% of the process's CPU in timer wake-ups, issue 11.)</summary>
    private Task WhenStateDurable(long barrier)
    {
        lock (unacknowledgedStateWrites)
        {
            if (unacknowledgedStateWrites.Count == 0 || unacknowledgedStateWrites.Min > barrier) return Task.CompletedTask;
            var durable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            durableWaiters.Add((barrier, durable));
            return durable.Task;
        }
    }

    /// <summary>Waits, within <paramref name="timeout"/>, until every output and held state record is acknowledged.</summary>
    private void FlushOutputs(IProducer<byte[]?, byte[]?> producer, TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (heldStateWrites.Count > 0 && fatal is null && Environment.TickCount64 < deadline)
        {
            AwaitOwnOutputs(TimeSpan.FromMilliseconds(20));
            ReleaseStateWrites(producer);
        }
        AwaitOwnOutputs(TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64)));
    }

    /// <summary>Waits, within <paramref name="timeout"/>, until every record this stage produced is acknowledged or has
    /// failed; true if none is left. Not <c>Flush</c>: the producer may be the process's shared one (see
    /// <see cref="SharedProducer"/>), and its flush would wait for the other stages' records too.</summary>
    private bool AwaitOwnOutputs(TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (outputsGate)
        {
            while (Interlocked.Read(ref outputsInFlight) > 0 && fatal is null)
            {
                var left = deadline - Environment.TickCount64;
                if (left <= 0) return false;
                Monitor.Wait(outputsGate, TimeSpan.FromMilliseconds(Math.Min(left, 100))); // re-checks the fatal flag now and then
            }
            return Interlocked.Read(ref outputsInFlight) == 0;
        }
    }

    private void OutputSettled()
    {
        if (Interlocked.Decrement(ref outputsInFlight) != 0) return;
        lock (outputsGate) Monitor.PulseAll(outputsGate);
    }

    /// <summary>What to dispose for this stage's producer: its lease of the shared one, or its own.</summary>
    private IDisposable ProducerHandle(IProducer<byte[]?, byte[]?> producer) => (IDisposable?)producerLease ?? producer;

    /// <summary>Before partitions go (a rebalance, a stop): lets running effects finish, within the shutdown timeout, and
    /// writes their outcomes, so that their new owner does not do the work again.</summary>
    private void FinishEffects(IProducer<byte[]?, byte[]?> producer)
    {
        var deadline = Environment.TickCount64 + options.ShutdownTimeoutSeconds * 1000L;
        while (Volatile.Read(ref effectsInFlight) > 0 && Environment.TickCount64 < deadline)
        {
            ReleaseStateWrites(producer); // an effect may be waiting for held state records (see StartEffect)
            CompleteEffects(producer, CancellationToken.None);
            Thread.Sleep(5);
        }
        CompleteEffects(producer, CancellationToken.None);
    }

    /// <summary>Serialising needs the Schema Registry. If it is down, that is no fault of the message: wait and
    /// retry (capped backoff) rather than dead-letter every message; readiness reports it meanwhile.</summary>
    private List<(OutputBuffer.Pending Pending, byte[]? Value)> SerialiseWithInfrastructureRetry(OutputBuffer output, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var result = new List<(OutputBuffer.Pending, byte[]?)>(output.Items.Count);
                foreach (var item in output.Items)
                    result.Add((item, item.Serialize(serdes)));
                if (attempt > 1) health.Report(stage.Name, running: true, joined: true);
                return result;
            }
            catch (Exception e) when (TransientErrors.IsTransient(e) && !ct.IsCancellationRequested)
            {
                health.Report(stage.Name, running: true, joined: false, failure: null);
                var delay = (int)options.RetryBackoff().Delay(attempt).TotalMilliseconds;
                log.LogWarning("{Stage}: Schema Registry unavailable ({Error}); retrying in {Delay} ms", stage.Name, e.Message, delay);
                if (ct.WaitHandle.WaitOne(delay)) throw new OperationCanceledException(ct);
            }
            catch (Exception e) when (!TransientErrors.IsTransient(e) && e is not UnserialisableOutputException)
            {
                throw new InfrastructureException($"An output of {stage.Name} could not be serialised: {e.Message}. Fix: register the schemas (`pipeline schemas register`, done by the embedded runtime at start) or set Kafka:AutoRegisterSchemas=true.", e);
            }
        }
    }

    private void DeadLetter(IProducer<byte[]?, byte[]?> producer, ConsumeResult<byte[]?, byte[]?> message, Exception error, string reason, int attempts, OffsetTracker.Entry entry, TraceHeaders trace, CancellationToken ct)
    {
        ProcessorMetrics.DeadLettered.WithLabels(stage.Name, reason).Inc();
        log.LogError("{Stage}: dead-lettering {Origin} ({Reason}): {Error}", stage.Name, message.TopicPartitionOffset, reason, OriginalBytes.CutText(error.Message, 512));
        // Bounded (Processing:MaxRecordBytes): the key travels twice (record and Kafka key), the value once; a cut copy
        // is kept by reference (length + SHA-256), so a dead letter always fits and can never stop the stage.
        var budget = options.MaxRecordBytes - OriginalBytes.EnvelopeReserve;
        var key = message.Message.Key is { } k ? OriginalBytes.Keep(k, Math.Min(k.Length, budget / 8)) : (OriginalBytes?)null;
        var value = message.Message.Value is { } v ? OriginalBytes.Keep(v, budget - 2 * (key?.Bytes.Length ?? 0)) : (OriginalBytes?)null;
        var record = new DeadLetter
        {
            eventId = EventIds.Derive("dead-letter", stage.Name, message.Topic, message.Partition.Value.ToString(), message.Offset.Value.ToString()),
            stage = stage.Name,
            reason = OriginalBytes.CutText($"{reason}: {error.Message}"),
            errorType = error.GetType().FullName ?? error.GetType().Name,
            originTopic = message.Topic,
            originPartition = message.Partition.Value,
            originOffset = message.Offset.Value,
            originTimestamp = message.Message.Timestamp.Type == TimestampType.NotAvailable ? null : message.Message.Timestamp.UtcDateTime,
            key = key?.Bytes,
            value = value?.Bytes,
            attempts = attempts,
            failedAt = time.GetUtcNow().UtcDateTime,
            keyLength = key?.OriginalLength,
            keySha256 = key?.Sha256,
            valueLength = value?.OriginalLength,
            valueSha256 = value?.Sha256,
        };
        var buffer = new OutputBuffer();
        buffer.Send(stage.DeadLetterTopic, record.eventId, record);
        var (_, serialised) = SerialiseWithInfrastructureRetry(buffer, ct).Single();
        var headers = OriginHeaders(message, trace);
        headers.Add("dlq.reason", Encoding.UTF8.GetBytes(record.reason));
        headers.Add("dlq.error.type", Encoding.UTF8.GetBytes(record.errorType));
        headers.Add("dlq.origin.topic", Encoding.UTF8.GetBytes(message.Topic));
        headers.Add("dlq.origin.partition", Encoding.UTF8.GetBytes(message.Partition.Value.ToString()));
        headers.Add("dlq.origin.offset", Encoding.UTF8.GetBytes(message.Offset.Value.ToString()));
        Produce(producer, stage.DeadLetterTopic, null, key?.Bytes, serialised, headers, entry);
    }

    private OutputBuffer NewOutput(TraceHeaders? trace) => new(startEffect ??= StartEffect) { Trace = trace };

    private Headers OriginHeaders(ConsumeResult<byte[]?, byte[]?> message, TraceHeaders trace) => OutputHeaders(Origin(message), trace);

    /// <summary>"topic:partition:offset" in UTF-8, written straight into the array (one per consumed message). A Kafka
    /// topic name is at most 249 ASCII characters, so with the two numbers it always fits the buffer.</summary>
    private static byte[] Origin(ConsumeResult<byte[]?, byte[]?> message)
    {
        Span<byte> buffer = stackalloc byte[300];
        if (!System.Text.Unicode.Utf8.TryWrite(buffer, System.Globalization.CultureInfo.InvariantCulture, $"{message.Topic}:{message.Partition.Value}:{message.Offset.Value}", out var written))
            throw new InvalidOperationException($"The topic name {message.Topic} is longer than Kafka allows.");
        return buffer[..written].ToArray();
    }

    private Headers OutputHeaders(byte[] origin, TraceHeaders? trace)
    {
        var headers = new Headers
        {
            { "pipeline.stage", stageHeader },
            { "pipeline.origin", origin },
        };
        trace?.AddTo(headers);
        return headers;
    }

    /// <summary>Restores every store of the stage for these partitions, the stores side by side: each reads its own
    /// changelog with its own reader, so a stage of several stores is ready after the longest restore, not after their
    /// sum. The first failure is thrown as one restore would throw it.</summary>
    private void RestoreStores(List<int> partitions, StateFence.Writer fence)
    {
        if (stores.Count == 1)
        {
            stores[0].Restore(partitions, fence);
            return;
        }
        Task.WhenAll(stores.Select(store => Task.Factory.StartNew(() => store.Restore(partitions, fence), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default))).GetAwaiter().GetResult();
    }

    /// <summary>Writes this member's fence to each state partition it was assigned and returns their offsets, the member's
    /// epoch in each (see <see cref="PartitionedState{T}.Restore(IEnumerable{int}, StateFence.Writer)"/>). All are produced
    /// before any is waited for, so an assignment of many partitions costs one linger and one acknowledgement, not one
    /// of each per partition.</summary>
    private Dictionary<int, long> Fence(IProducer<byte[]?, byte[]?> producer, string member, string topic, IReadOnlyCollection<int> partitions)
    {
        var written = partitions.Select(p => (Partition: p, Ack: producer.ProduceAsync(new TopicPartition(topic, p), FenceRecord(member)))).ToList();
        Task.WhenAll(written.Select(w => w.Ack)).GetAwaiter().GetResult(); // a failure throws as one produce would
        return written.ToDictionary(w => w.Partition, w => w.Ack.Result.Offset.Value);
    }

    private long Fence(IProducer<byte[]?, byte[]?> producer, string member, string topic, int partition) =>
        Fence(producer, member, topic, [partition])[partition];

    private Message<byte[]?, byte[]?> FenceRecord(string member) => new()
    {
        Key = Encoding.UTF8.GetBytes(StateFence.Key),
        Value = null,
        Headers = new Headers
        {
            { "pipeline.stage", stageHeader },
            { StateFence.MemberHeader, Encoding.UTF8.GetBytes(member) },
        },
    };

    /// <summary>After an incremental rebalance: the state partitions this member kept are checked for another member's
    /// fence (see <see cref="PartitionedState{T}.Reconcile"/>); where one is found, the member's current values of the keys
    /// written since go out again under its new epoch, before it processes anything more.</summary>
    private void ReconcileKept(IProducer<byte[]?, byte[]?> producer, string member, List<int> kept)
    {
        if (stores.Count == 0 || kept.Count == 0) return; // the caller flushed: the scan sees every write made so far
        foreach (var store in stores)
        {
            var rewrites = store.Reconcile(kept, (topic, p) => Fence(producer, member, topic, p));
            if (rewrites.Count == 0) continue;
            var entry = tracker.Untracked(new TopicPartition(store.Topic, rewrites[0].Partition));
            foreach (var r in rewrites)
            {
                var headers = new Headers { { "pipeline.stage", stageHeader }, { "pipeline.origin", Encoding.UTF8.GetBytes("reconcile:" + store.Topic) } };
                if (r.Value is not null) (store as ITimerSource)?.TraceOf(r.Partition, r.Key)?.AddTo(headers); // the entry keeps its trace
                Produce(producer, store.Topic, r.Partition, Encoding.UTF8.GetBytes(r.Key), r.Value, headers, entry);
            }
            entry.Release();
            ProcessorMetrics.StateRewritten.WithLabels(stage.Name, store.Topic).Inc(rewrites.Count);
        }
        AwaitOwnOutputs(TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds));
    }

    private void Produce(IProducer<byte[]?, byte[]?> producer, string topic, int? partition, byte[]? key, byte[]? value, Headers headers, OffsetTracker.Entry entry,
        Action? acknowledged = null)
    {
        storeByTopic ??= timers.ToDictionary(t => t.Topic);
        if (partition is { } p && storeByTopic.TryGetValue(topic, out var store) && store.TryGetEpoch(p, out var epoch))
            headers.Add(StateFence.EpochHeader, Encoding.UTF8.GetBytes(epoch.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        entry.AddPending();
        var msg = new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers };
        void OnDelivery(DeliveryReport<byte[]?, byte[]?> report)
        {
            if (report.Error.IsError)
            {
                ProcessorMetrics.DeliveryFailures.WithLabels(stage.Name).Inc();
                fatal ??= new KafkaException(report.Error);
                OutputSettled();
                return; // never released: the input offset is not stored
            }
            producedMetric.GetOrAdd(topic, static (t, stageName) => ProcessorMetrics.Produced.WithLabels(stageName, t), stage.Name).Inc();
            acknowledged?.Invoke();
            entry.Release();
            OutputSettled();
        }
        Interlocked.Increment(ref outputsInFlight);
        while (true)
        {
            try
            {
                if (partition is null) producer.Produce(topic, msg, OnDelivery);
                else producer.Produce(new TopicPartition(topic, partition.Value), msg, OnDelivery);
                return;
            }
            catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                Thread.Sleep(2);
            }
            catch
            {
                OutputSettled();
                throw;
            }
        }
    }

    private void StoreCompleted(IConsumer<byte[]?, byte[]?> consumer, IEnumerable<TopicPartition>? only = null)
    {
        if (kafka.Transactions)
        {
            tracker.Completed(only); // offsets travel with the transaction; just drain the tracker
            return;
        }
        foreach (var tpo in tracker.Completed(only))
        {
            try
            {
                consumer.StoreOffset(tpo);
            }
            catch (KafkaException e) when (e.Error.Code is ErrorCode.Local_State or ErrorCode.Local_UnknownPartition)
            {
                // The partition was revoked meanwhile; its new owner re-reads from the last committed offset.
            }
        }
    }

    private void ThrowIfFatal()
    {
        if (fatal is { } e) throw new InvalidOperationException($"{stage.Name}: Kafka did not acknowledge an output ({e.Message}); stopping without committing so that nothing is lost.", e);
    }

    private void BeginTransaction(IProducer<byte[]?, byte[]?> producer)
    {
        producer.BeginTransaction();
        transactionOpen = true;
        transactionStartedTicks = Environment.TickCount64;
    }

    private void MaybeCommitTransaction(IProducer<byte[]?, byte[]?> producer, IConsumer<byte[]?, byte[]?> consumer)
    {
        if (transactionOpen && Environment.TickCount64 - transactionStartedTicks >= kafka.TransactionCommitIntervalMs)
            CommitTransaction(producer, consumer);
    }

    private void CommitTransaction(IProducer<byte[]?, byte[]?> producer, IConsumer<byte[]?, byte[]?> consumer, IEnumerable<TopicPartition>? only = null)
    {
        if (!transactionOpen) return;
        var offsets = consumedPositions.Where(p => only is null || only.Contains(p.Key))
            .Select(p => new TopicPartitionOffset(p.Key, p.Value)).ToList();
        try
        {
            if (offsets.Count > 0) producer.SendOffsetsToTransaction(offsets, consumer.ConsumerGroupMetadata, TimeSpan.FromSeconds(30));
            producer.CommitTransaction(TimeSpan.FromSeconds(30));
        }
        catch (KafkaException e) when (e is KafkaTxnRequiresAbortException)
        {
            log.LogWarning("{Stage}: transaction aborted ({Reason}); rewinding to the committed offsets", stage.Name, e.Error.Reason);
            producer.AbortTransaction(TimeSpan.FromSeconds(30));
            foreach (var committed in consumer.Committed(consumer.Assignment, TimeSpan.FromSeconds(30)))
                consumer.Seek(committed.Offset == Offset.Unset ? new TopicPartitionOffset(committed.TopicPartition, Offset.Beginning) : committed);
        }
        transactionOpen = false;
    }

    private IProducer<byte[]?, byte[]?> BuildProducer()
    {
        var config = new ProducerConfig(ClientConfig())
        {
            ClientId = $"{stage.Name}-producer",
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = kafka.LingerMs,
            MessageTimeoutMs = 120_000,
            Partitioner = Confluent.Kafka.Partitioner.Murmur2Random,
            DeliveryReportFields = KafkaClients.DeliveryReportFields,
        };
        if (!kafka.Transactions)
        {
            producerLease = SharedProducer.Acquire(config, e => fatal ??= new KafkaException(e), log);
            return producerLease.Producer;
        }
        config.TransactionalId = $"{stage.Name}-{Environment.MachineName}-{Environment.ProcessId}";
        config.TransactionTimeoutMs = 180_000; // must be ≥ message.timeout.ms
        return new ProducerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, e) =>
            {
                if (e.IsFatal) fatal ??= new KafkaException(e);
                log.LogWarning("{Stage} producer: {Reason}", stage.Name, e.Reason);
            })
            .SetLogHandler((_, m) => { if (m.Level <= SyslogLevel.Warning) log.LogDebug("{Stage} producer librdkafka: {Message}", stage.Name, m.Message); })
            .Build();
    }

    private IConsumer<byte[]?, byte[]?> BuildConsumer(IProducer<byte[]?, byte[]?> producer)
    {
        var config = new ConsumerConfig(KafkaClients.ConsumerConfig(kafka))
        {
            GroupId = stage.Name,
            ClientId = $"{stage.Name}-consumer",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = !kafka.Transactions,
            EnableAutoOffsetStore = false,
            AutoCommitIntervalMs = kafka.AutoCommitIntervalMs,
            PartitionAssignmentStrategy = stage.AssignmentStrategy,
            SessionTimeoutMs = kafka.SessionTimeoutMs,
            HeartbeatIntervalMs = Math.Max(100, kafka.SessionTimeoutMs / 4),
            StatisticsIntervalMs = kafka.StatisticsIntervalMs,
            IsolationLevel = IsolationLevel.ReadCommitted,
        };
        var fetchTotals = new ProcessorMetrics.FetchTotals(); // this handle's statistics count from its creation
        return new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, e) =>
            {
                if (e.IsFatal) fatal ??= new KafkaException(e);
                log.LogWarning("{Stage} consumer: {Reason}", stage.Name, e.Reason);
            })
            .SetLogHandler((_, m) =>
            {
                if (KafkaClients.OffsetReset(m, stage.Name) is { } reset) log.LogWarning("{Reset}", reset);
                else if (m.Level <= SyslogLevel.Warning) log.LogDebug("{Stage} consumer librdkafka: {Message}", stage.Name, m.Message);
            })
            .SetStatisticsHandler((_, json) => ProcessorMetrics.RecordStatistics(stage.Name, json, fetchTotals))
            .SetPartitionsAssignedHandler((c, partitions) =>
            {
                ProcessorMetrics.AssignedPartitions.WithLabels(stage.Name).Set(c.Assignment.Count + partitions.Count);
                log.LogInformation("{Stage}: assigned {Partitions}", stage.Name, string.Join(", ", partitions));
                var numbers = partitions.Select(p => p.Partition.Value).Distinct().ToList();
                // Every state record written so far must be in the topic before a restore reads it: after lost partitions
                // (a broker outage past the session timeout) the member is often given them straight back, and a restore
                // that missed a record still held or in flight came back without it (the fault run: a batch's fixed id
                // missing, so its members went out again under a new one).
                if (stores.Count > 0) FlushOutputs(producer, TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds));
                if (stage.AssignmentStrategy == PartitionAssignmentStrategy.CooperativeSticky)
                    ReconcileKept(producer, c.MemberId, c.Assignment.Select(tp => tp.Partition.Value).Except(numbers).Distinct().ToList());
                RestoreStores(numbers, (topic, ps) => Fence(producer, c.MemberId, topic, ps));
                (processor as IPartitionAware)?.OnAssigned(partitions);
                assigned = true;
                health.Report(stage.Name, running: true, joined: true); // ready once its state is restored: it processes now
            })
            .SetPartitionsRevokedHandler((c, partitions) =>
            {
                var revoked = partitions.Select(p => p.TopicPartition).ToList();
                log.LogInformation("{Stage}: revoked {Partitions}", stage.Name, string.Join(", ", revoked));
                Unassigned();
                if (kafka.Transactions)
                {
                    // Commit everything consumed so far: outputs and their offsets stay in one transaction.
                    FlushOutputs(producer, TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds));
                    CommitTransaction(producer, c);
                    tracker.Forget(revoked);
                }
                else
                {
                    var deadline = Environment.TickCount64 + options.ShutdownTimeoutSeconds * 1000L;
                    while (!tracker.AllDone(revoked) && fatal is null && Environment.TickCount64 < deadline)
                    {
                        AwaitOwnOutputs(TimeSpan.FromMilliseconds(20));
                        ReleaseStateWrites(producer);
                    }
                    var completed = tracker.Completed(revoked);
                    if (completed.Count > 0)
                    {
                        try { c.Commit(completed); }
                        catch (KafkaException e) { log.LogWarning("{Stage}: commit on revoke failed: {Reason}", stage.Name, e.Error.Reason); }
                    }
                    tracker.Forget(revoked);
                }
                foreach (var tp in revoked)
                {
                    consumedPositions.Remove(tp);
                    pausedUntil.Remove(tp);
                }
                if (timers.Count > 0)
                {
                    FinishEffects(producer);
                    FlushOutputs(producer, TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds)); // timer and effect outputs too
                }
                DropState(c, revoked);
                (processor as IPartitionAware)?.OnRevoked(revoked);
                ProcessorMetrics.AssignedPartitions.WithLabels(stage.Name).Set(Math.Max(0, c.Assignment.Count - revoked.Count));
            })
            .SetPartitionsLostHandler((c, partitions) =>
            {
                var lost = partitions.Select(p => p.TopicPartition).ToList();
                log.LogWarning("{Stage}: lost {Partitions}; they will be re-read by their new owner", stage.Name, string.Join(", ", lost));
                Unassigned();
                tracker.Forget(lost);
                foreach (var tp in lost)
                {
                    consumedPositions.Remove(tp);
                    pausedUntil.Remove(tp);
                }
                ProcessorMetrics.AssignedPartitions.WithLabels(stage.Name).Set(Math.Max(0, c.Assignment.Count - lost.Count));
                if (kafka.Transactions && transactionOpen)
                {
                    producer.AbortTransaction(TimeSpan.FromSeconds(30));
                    transactionOpen = false;
                }
                DropState(c, lost);
                (processor as IPartitionAware)?.OnRevoked(lost);
            })
            .Build();
    }

    /// <summary>A rebalance started (or the partitions were lost): until the next assignment callback the stage counts as
    /// unassigned (see <see cref="RejoinIfStuck"/>).</summary>
    private void Unassigned()
    {
        assigned = false;
        Interlocked.Exchange(ref unassignedSince, Environment.TickCount64);
    }

    /// <summary>Drops the state of partition numbers this member no longer holds in any input (a stage with several inputs
    /// keeps state partition p while it holds partition p of one of them).</summary>
    private void DropState(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> gone)
    {
        if (stores.Count == 0) return;
        var kept = consumer.Assignment.Except(gone).Select(tp => tp.Partition.Value).ToHashSet();
        var numbers = gone.Select(tp => tp.Partition.Value).Where(p => !kept.Contains(p)).Distinct().ToList();
        foreach (var store in stores) store.Drop(numbers);
    }

    private ClientConfig ClientConfig() => KafkaClients.Config(kafka);
}

/// <summary>A failure of the plumbing rather than of the message (e.g. an output type with no registered schema).</summary>
public sealed class InfrastructureException(string message, Exception inner) : Exception(message, inner);
