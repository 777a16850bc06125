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

    private int unreadable;

    public Task Assigned => assigned.Task;

    public int Unreadable => Volatile.Read(ref unreadable);

    public IEnumerable<Seen> All => seen;

    /// <summary>Distinct events of a type on a topic (by eventId: re-deliveries of the same event count once).</summary>
    public List<T> Events<T>(string topic, Func<T, bool>? where = null) where T : class, ISpecificRecord =>
        seen.Where(s => s.Topic == topic).Select(s => (T)s.Value).Where(v => where is null || where(v))
            .DistinctBy(v => (string)v.Get(0)).ToList();

    /// <summary>All deliveries, duplicates included.</summary>
    public List<Seen> Deliveries(string topic) => seen.Where(s => s.Topic == topic).ToList();

    public async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string>? describe = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("Condition not met within " + timeout + ". " + describe?.Invoke());
            await Task.Delay(50);
        }
    }

    private void Run()
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = bootstrap, GroupId = "watcher-" + Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest,
            SessionTimeoutMs = 3000, HeartbeatIntervalMs = 750, EnableAutoCommit = false,
        }).SetPartitionsAssignedHandler((_, _) => assigned.TrySetResult()).Build();
        consumer.Subscribe(topics.Keys);
        while (!stop.IsCancellationRequested)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(50));
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
