using System.Text;
using Avro.Specific;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Polly;

namespace Pipeline.Platform;

/// <summary>
/// Follows a compacted topic from the beginning, without a consumer group, and applies every record (a null value
/// deletes the key). <see cref="CaughtUp"/> completes once everything that was in the topic at start has been
/// applied; later records keep being applied live. Used for hash banks, the case index and state restores.
/// Transient broker and registry errors (a broker down, a partition without a leader for a while, the registry
/// unreachable) are retried with the platform's <see cref="Backoff"/> until they pass or the reader is disposed:
/// restoring state must outlive a broker restart. <see cref="Completion"/> faults when the reader dies for good, so a
/// stage that depends on it can stop being ready (<see cref="IBackgroundDependent"/>).
/// </summary>
public sealed class CompactedTopicReader<T> : IDisposable where T : class, ISpecificRecord
{
    /// <summary>Between attempts to read the topic's partitions and end offsets, and to decode a record while the
    /// registry is unreachable.</summary>
    internal static readonly Backoff Retry = Backoff.FromMilliseconds(100, 5_000);

    private readonly KafkaOptions kafka;
    private readonly AvroSerdes serdes;
    private readonly string topic;
    private readonly Action<string, T?, int> apply;
    private readonly ILogger log;
    private readonly Func<int, bool> partitionFilter;
    private readonly TaskCompletionSource caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource stop = new();
    private Thread? thread;

    private readonly Func<ConsumeResult<byte[]?, byte[]?>, bool>? admit;

    /// <summary>Fields the reader's callback never reads, left out of the decode (see <see cref="AvroProjection"/>).</summary>
    public AvroProjection? Projection { get; init; }

    /// <summary>How long a fetch at the end of the topic may wait for new records (librdkafka's fetch.wait.max.ms); by
    /// default the pipeline's consumer setting. A real broker answers as soon as a record arrives, so this costs nothing
    /// there; the embedded cluster holds an empty fetch for the whole wait, so a short wait (Kafka:FetchWaitMaxMs, 10 ms)
    /// makes an idle reader ask each broker a hundred times a second. A reader whose records may arrive late (a
    /// scorecard's history) sets it longer.</summary>
    public int? TailFetchWaitMs { get; init; }

    /// <param name="admit">Decides, before decoding, whether a record is applied (false: passed over; a state store's
    /// fencing, see <see cref="PartitionedState{T}"/>).</param>
    public CompactedTopicReader(KafkaOptions kafka, AvroSerdes serdes, string topic, Action<string, T?, int> apply, ILogger log, Func<int, bool>? partitionFilter = null,
        Func<ConsumeResult<byte[]?, byte[]?>, bool>? admit = null)
    {
        this.admit = admit;
        this.kafka = kafka;
        this.serdes = serdes;
        this.topic = topic;
        this.apply = apply;
        this.log = log;
        this.partitionFilter = partitionFilter ?? (_ => true);
    }

    public Task CaughtUp => caughtUp.Task;

    /// <summary>Completes when the reader is disposed; faults when it died (then <see cref="CaughtUp"/> faults too if it
    /// had not caught up yet).</summary>
    public Task Completion => completion.Task;

    /// <summary>This reader as background work a stage depends on (metric label <c>component</c>: reader:&lt;topic&gt;).</summary>
    public BackgroundWork AsBackgroundWork() => new("reader:" + topic, Completion);

    public long Applied { get; private set; }

    public long Skipped { get; private set; }

    /// <summary>Transient errors retried so far (setup and decoding).</summary>
    public long Retries { get; private set; }

    public void Start()
    {
        thread = new Thread(Run) { IsBackground = true, Name = $"reader-{topic}" };
        thread.Start();
    }

    private void Run()
    {
        try
        {
            using var admin = new AdminClientBuilder(new AdminClientConfig(KafkaClients.Config(kafka))).Build();
            // A fresh consumer per attempt: one that saw a partition unknown while its leader was down keeps answering
            // "Local: Unknown partition" from its cached metadata after the leader is back (seen on the embedded cluster).
            var setup = WithRetries("reading its partitions and end offsets", () =>
            {
                var c = BuildConsumer();
                try
                {
                    return (Consumer: c, Ends: EndOffsets(admin, c));
                }
                catch
                {
                    c.Dispose();
                    throw;
                }
            });
            if (setup.Consumer is null) return; // disposed while retrying
            using var consumer = setup.Consumer;
            var ends = setup.Ends;
            consumer.Assign(ends.Keys.Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
            var pending = ends.Where(e => e.Value > 0).Select(e => e.Key).ToHashSet();
            if (pending.Count == 0) caughtUp.TrySetResult();
            while (!stop.IsCancellationRequested)
            {
                ConsumeResult<byte[]?, byte[]?>? r;
                try
                {
                    r = consumer.Consume(TimeSpan.FromMilliseconds(200));
                }
                catch (ConsumeException e) when (!e.Error.IsFatal)
                {
                    // A partition briefly unknown or leaderless while a broker is down: the assignment stays, keep reading.
                    Retries++;
                    log.LogWarning("{Topic}: reading failed ({Reason}); retrying", topic, e.Error.Reason);
                    stop.Token.WaitHandle.WaitOne(Retry.Delay(1));
                    continue;
                }
                if (r is null) continue;
                if (!r.IsPartitionEOF && (admit is null || admit(r)))
                {
                    var key = r.Message.Key is null ? "" : Encoding.UTF8.GetString(r.Message.Key);
                    try
                    {
                        var value = r.Message.Value is null ? null : Decode(r);
                        if (r.Message.Value is not null && value is null) break; // disposed while retrying
                        apply(key, value, r.Partition.Value);
                        Applied++;
                    }
                    catch (UndeserialisableException e)
                    {
                        Skipped++;
                        log.LogError("{Topic}: record {Origin} is unreadable and was skipped (it stays in the topic for inspection): {Error}", topic, r.TopicPartitionOffset, e.Message);
                    }
                }
                if (pending.Count > 0 && (r.IsPartitionEOF || r.Offset.Value + 1 >= ends[r.Partition.Value]))
                {
                    pending.Remove(r.Partition.Value);
                    if (pending.Count == 0) caughtUp.TrySetResult();
                }
            }
            consumer.Close();
            completion.TrySetResult();
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            log.LogCritical(e, "Reader of {Topic} failed", topic);
            caughtUp.TrySetException(e);
            completion.TrySetException(e);
        }
        catch (Exception)
        {
            completion.TrySetResult(); // failed while being disposed: a stop, not a death
        }
        finally
        {
            caughtUp.TrySetCanceled();
            completion.TrySetResult();
        }
    }

    private IConsumer<byte[]?, byte[]?> BuildConsumer() => new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(KafkaClients.ConsumerConfig(kafka))
    {
        GroupId = $"reader-{topic}-{Guid.NewGuid():N}", // never committed: assign() reads from the beginning
        EnableAutoCommit = false,
        AutoOffsetReset = AutoOffsetReset.Earliest,
        EnablePartitionEof = true,
        FetchWaitMaxMs = TailFetchWaitMs ?? kafka.FetchWaitMaxMs,
    }).SetLogHandler((_, m) =>
      {
          if (KafkaClients.OffsetReset(m, "reader:" + topic) is { } reset) log.LogWarning("{Reset}", reset);
          else if (m.Level <= SyslogLevel.Warning) log.LogDebug("reader {Topic} librdkafka: {Message}", topic, m.Message);
      })
      .SetErrorHandler((_, e) => log.LogDebug("reader {Topic}: {Reason}", topic, e.Reason))
      .Build();

    /// <summary>The end offset of every wanted partition, from fresh metadata. A topic the metadata reports with an error
    /// (a leader election, a broker down) or without partitions is an error to retry, never an empty topic.</summary>
    private Dictionary<int, long> EndOffsets(IAdminClient admin, IConsumer<byte[]?, byte[]?> consumer)
    {
        var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(30)).Topics.Single();
        if (metadata.Error.IsError) throw new KafkaException(metadata.Error);
        if (metadata.Partitions.Count == 0) throw new KafkaException(new Error(ErrorCode.Local_UnknownPartition, $"{topic} has no partitions in the metadata"));
        return metadata.Partitions.Select(p => p.PartitionId).Where(partitionFilter)
            .ToDictionary(p => p, p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(30)).High.Value);
    }

    /// <summary>Decodes a record's value. The first attempt is a plain call: a restore decodes every record of the changelog,
    /// and going through the retry pipeline each time cost a Polly context, clock reads, a label and a closure per record
    /// (`pipeline bench restore`: 2.8 → 2.4 KiB allocated per record; the CPU within the noise). Only a transient failure
    /// (the registry unreachable for a schema not yet cached) goes on to <see cref="WithRetries"/>; default when the reader
    /// is disposed meanwhile.</summary>
    private T? Decode(ConsumeResult<byte[]?, byte[]?> r)
    {
        try
        {
            return serdes.Deserialize<T>(r.Message.Value, topic, Projection);
        }
        catch (Exception e) when (IsTransient(e) && !stop.IsCancellationRequested)
        {
            Retries++;
            log.LogWarning("{Topic}: decoding {Origin} failed: {Error}; retrying", topic, r.TopicPartitionOffset, e.Message);
            return WithRetries($"decoding {r.TopicPartitionOffset}", () => serdes.Deserialize<T>(r.Message.Value, topic, Projection));
        }
    }

    /// <summary>Runs <paramref name="action"/> until it succeeds, retrying transient errors with <see cref="Retry"/>
    /// (through Polly); default when the reader is disposed meanwhile. Any other error is thrown.</summary>
    private TResult? WithRetries<TResult>(string what, Func<TResult> action)
    {
        retrying ??= Retry.Pipeline(int.MaxValue, IsTransient, TimeProvider.System, args =>
        {
            Retries++;
            log.LogWarning("{Topic}: {What} failed (attempt {Attempt}): {Error}; retrying in {Delay} ms",
                topic, args.Context.Properties.GetValue(What, "an operation"), args.AttemptNumber + 1, args.Outcome.Exception?.Message, (int)args.RetryDelay.TotalMilliseconds);
            return ValueTask.CompletedTask;
        });
        var context = ResilienceContextPool.Shared.Get(stop.Token);
        context.Properties.Set(What, what);
        try
        {
            return retrying.Execute(_ => action(), context);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return default;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private static readonly ResiliencePropertyKey<string> What = new("what");
    private ResiliencePipeline? retrying;

    /// <summary>Kafka errors that are not fatal (a broker down, a partition unknown or leaderless for a while, a
    /// timeout) and what <see cref="TransientErrors"/> calls transient (the registry unreachable).</summary>
    internal static bool IsTransient(Exception e) => e switch
    {
        KafkaException k => !k.Error.IsFatal && k.Error.Code is not (ErrorCode.TopicAuthorizationFailed or ErrorCode.GroupAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed),
        _ => TransientErrors.IsTransient(e),
    };

    public void Dispose()
    {
        stop.Cancel();
        thread?.Join(TimeSpan.FromSeconds(10));
        stop.Dispose();
    }
}
