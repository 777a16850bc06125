using System.Collections.Concurrent;
using System.Text;
using Avro.Specific;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.TestSupport;

/// <summary>Reads output topics as a user would and keeps every event, typed, with its key and headers.</summary>
public sealed class TopicWatcher : IDisposable
{
    public sealed record Seen(string Topic, string? Key, object Value, Headers Headers, int Partition, long Offset);

    private readonly ConcurrentQueue<Seen> seen = new();
    private readonly CancellationTokenSource stop = new();
    private readonly Thread thread;
    private readonly AvroSerdes serdes;
    private readonly CachedSchemaRegistryClient registry;
    private readonly string bootstrap;
    private readonly IReadOnlyDictionary<string, Type> topics;
    private readonly TaskCompletionSource assigned = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TopicWatcher(string bootstrapServers, string schemaRegistryUrl, params string[] names)
    {
        bootstrap = bootstrapServers;
        registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = schemaRegistryUrl });
        serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        topics = names.ToDictionary(n => n, n =>
            n.StartsWith("deadletter.", StringComparison.Ordinal) ? typeof(DeadLetter)
            : n.StartsWith("exchange.inbound.", StringComparison.Ordinal) ? typeof(ReportForwarded)
            : SchemaRegistration.ValueType(TopicCatalog.Get(n)));
        thread = new Thread(Run) { IsBackground = true, Name = "topic-watcher" };
        thread.Start();
    }

    private readonly ConcurrentDictionary<(string Topic, int Partition), long> read = new();
    private int unreadable;
    private int consumerErrors;
    private volatile Exception? failure;

    public Task Assigned => assigned.Task;

    /// <summary>Non-fatal errors the consumer reported (e.g. committed offsets not fetched during a broker outage); the
    /// watcher polls on through them.</summary>
    public int ConsumerErrors => Volatile.Read(ref consumerErrors);

    /// <summary>What stopped the watcher's thread, if anything did. A waiting test fails with it instead of timing out.</summary>
    public Exception? Failure => failure;

    public int Unreadable => Volatile.Read(ref unreadable);

    public IEnumerable<Seen> All => seen;

    /// <summary>Distinct events of a type on a topic (by eventId: re-deliveries of the same event count once).</summary>
    public List<T> Events<T>(string topic, Func<T, bool>? where = null) where T : class, ISpecificRecord =>
        seen.Where(s => s.Topic == topic).Select(s => (T)s.Value).Where(v => where is null || where(v))
            .DistinctBy(v => (string)v.Get(0)).ToList();

    /// <summary>All deliveries, duplicates included.</summary>
    public List<Seen> Deliveries(string topic) => seen.Where(s => s.Topic == topic).ToList();

    /// <summary>
    /// The end marker for "nothing more may follow": once every writer of <paramref name="topics"/> has stopped, waits
    /// until the watcher has read everything the topics hold (up to their end offsets, unreadable records included).
    /// </summary>
    public async Task ReadToEndAsync(TimeSpan timeout, params string[] topics)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "watcher-end-" + Guid.NewGuid().ToString("N") }).Build();
        var ends = new Dictionary<(string, int), long>();
        foreach (var topic in topics)
            foreach (var p in admin.GetMetadata(topic, TimeSpan.FromSeconds(30)).Topics.Single().Partitions)
                ends[(topic, p.PartitionId)] = probe.QueryWatermarkOffsets(new TopicPartition(topic, p.PartitionId), TimeSpan.FromSeconds(30)).High.Value;
        bool AtEnd() => ends.All(e => e.Value == 0 || (read.TryGetValue(e.Key, out var offset) && offset >= e.Value - 1));
        await WaitUntilAsync(AtEnd, timeout, () => "not read to the end: " + string.Join(", ",
            ends.Where(e => e.Value > 0 && !(read.TryGetValue(e.Key, out var o) && o >= e.Value - 1)).Select(e => $"{e.Key.Item1}[{e.Key.Item2}] end {e.Value}")));
    }

    public async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string>? describe = null)
    {
        await Polling.Until(() =>
        {
            if (failure is { } f) throw new InvalidOperationException("The topic watcher stopped: " + f.Message + ". " + describe?.Invoke(), f);
            return condition();
        }, timeout, () => describe?.Invoke() ?? "(no description)", TimeSpan.FromMilliseconds(50));
    }

    /// <summary>The watcher's thread. Nothing may escape it: an unhandled exception on a background thread ends the whole
    /// test host (this was the "test host crashed" of the exchange tests, when a partner's brokers went down and the
    /// consumer reported that it could not fetch its committed offsets).</summary>
    private void Run()
    {
        try
        {
            Watch();
        }
        catch (Exception e)
        {
            failure = e;
            assigned.TrySetException(e);
        }
    }

    private void Watch()
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = bootstrap, GroupId = "watcher-" + Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest,
            SessionTimeoutMs = 3000, HeartbeatIntervalMs = 750, EnableAutoCommit = false,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            // A test watcher, on any backend: a fetch in flight to a broker taken down (embedded cluster) is given up after
            // 10 s instead of librdkafka's 60 s (Pipeline.Platform.Embedded.EmbeddedRuntime.SocketTimeoutMs).
            SocketTimeoutMs = Pipeline.Platform.Embedded.EmbeddedRuntime.SocketTimeoutMs,
        }).SetPartitionsAssignedHandler((_, _) => assigned.TrySetResult()).Build();
        consumer.Subscribe(topics.Keys);
        while (!stop.IsCancellationRequested)
        {
            var r = KafkaClients.Poll(consumer, TimeSpan.FromMilliseconds(50), _ => Interlocked.Increment(ref consumerErrors));
            if (r is not null) read[(r.Topic, r.Partition.Value)] = r.Offset.Value;
            if (r?.Message?.Value is null) continue;
            var type = topics[r.Topic];
            var method = typeof(AvroSerdes).GetMethod(nameof(AvroSerdes.DeserializeAsync))!.MakeGenericMethod(type);
            var value = ((Task)method.Invoke(serdes, [r.Message.Value, r.Topic])!);
            try
            {
                value.GetAwaiter().GetResult();
            }
            catch (UndeserialisableException)
            {
                Interlocked.Increment(ref unreadable); // e.g. junk a test sent on purpose
                continue;
            }
            var result = value.GetType().GetProperty("Result")!.GetValue(value)!;
            seen.Enqueue(new Seen(r.Topic, r.Message.Key is null ? null : Encoding.UTF8.GetString(r.Message.Key), result, r.Message.Headers, r.Partition.Value, r.Offset.Value));
        }
        consumer.Close();
    }

    public void Dispose()
    {
        stop.Cancel();
        thread.Join(TimeSpan.FromSeconds(10));
        registry.Dispose();
        stop.Dispose();
    }
}
