using System.Collections.Concurrent;
using Streamiz.Kafka.Net;
using Streamiz.Kafka.Net.Stream;
using Streamiz.Kafka.Net.Processors.Public;
using Streamiz.Kafka.Net.SerDes;
using Streamiz.Kafka.Net.State;
using Streamiz.Kafka.Net.Table;

namespace StreamizEval;

/// <summary>Counters shared by the processors (one process, so statics are enough for an evaluation).</summary>
internal static class Stats
{
    public static long Processed;
    public static long FirstProcessedTicks;
    public static long LastProcessedTicks;
    public static long WallPunctuations;
    public static long StreamPunctuations;
    public static long TimersFired;
    public static readonly ConcurrentDictionary<string, long> LastCount = new();
    public static readonly ConcurrentDictionary<string, long> StreamTimeSeen = new();
    public static readonly ConcurrentBag<(string topic, int partition, string task, int thread, string instance)> Placement = [];
    public static int TimerIdleMs = 2000;

    public static void Reset()
    {
        Processed = FirstProcessedTicks = LastProcessedTicks = WallPunctuations = StreamPunctuations = TimersFired = 0;
        LastCount.Clear();
        StreamTimeSeen.Clear();
        Placement.Clear();
    }
}

/// <summary>
/// Keyed state (count per key, in a logged store) plus two punctuators: a wall-clock one that fires a per-key
/// "idle timer" for every key not updated for TimerIdleMs, and a stream-time one that only counts its calls.
/// One output record per input record (key, count), plus one per fired timer (key, "timer:count").
/// </summary>
internal sealed class CountingTransformer : ITransformer<string, string, string, string>
{
    public const string StoreName = "counts";
    private IKeyValueStore<string, string> store = null!;
    private ProcessorContext<string, string> ctx = null!;

    public void Init(ProcessorContext<string, string> context)
    {
        ctx = context;
        store = (IKeyValueStore<string, string>)context.GetStateStore(StoreName);
        context.Schedule(TimeSpan.FromMilliseconds(500), PunctuationType.PROCESSING_TIME, now =>
        {
            Interlocked.Increment(ref Stats.WallPunctuations);
            var due = new List<(string key, long count)>();
            foreach (var kv in store.All())
            {
                var (count, lastWall, fired) = Decode(kv.Value);
                if (!fired && now - lastWall >= Stats.TimerIdleMs) due.Add((kv.Key, count));
            }
            foreach (var (key, count) in due)
            {
                store.Put(key, Encode(count, now, true));
                ctx.Forward(key, "timer:" + count);
                Interlocked.Increment(ref Stats.TimersFired);
            }
        });
        context.Schedule(TimeSpan.FromSeconds(5), PunctuationType.STREAM_TIME, streamTime =>
        {
            Interlocked.Increment(ref Stats.StreamPunctuations);
            Stats.StreamTimeSeen[ctx.Id.ToString()] = streamTime;
        });
    }

    public Record<string, string> Process(Record<string, string> record)
    {
        var old = store.Get(record.Key);
        var count = old is null ? 1 : Decode(old).count + 1;
        store.Put(record.Key, Encode(count, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), false));
        Stats.LastCount[record.Key] = count;
        var ticks = Environment.TickCount64;
        Interlocked.CompareExchange(ref Stats.FirstProcessedTicks, ticks, 0);
        Stats.LastProcessedTicks = ticks;
        Interlocked.Increment(ref Stats.Processed);
        return Record<string, string>.Create(record.Key, count.ToString());
    }

    public void Close() { }

    private static string Encode(long count, long wall, bool fired) => $"{count}|{wall}|{(fired ? 1 : 0)}";

    private static (long count, long wall, bool fired) Decode(string s)
    {
        var p = s.Split('|');
        return (long.Parse(p[0]), long.Parse(p[1]), p[2] == "1");
    }
}

/// <summary>Records which task/thread/instance processed each (topic, partition): co-partitioning evidence.</summary>
internal sealed class PlacementProcessor : IProcessor<string, string>
{
    public const string StoreName = "merged";
    private ProcessorContext<string, string> ctx = null!;
    private IKeyValueStore<string, string> store = null!;
    public static readonly AsyncLocal<string> Instance = new();

    public void Init(ProcessorContext<string, string> context)
    {
        ctx = context;
        store = (IKeyValueStore<string, string>)context.GetStateStore(StoreName);
    }

    public void Process(Record<string, string> record)
    {
        var tpo = record.TopicPartitionOffset;
        // Thread name is set by Streamiz: "<clientId>-stream-thread-N"
        Stats.Placement.Add((tpo.Topic, tpo.Partition.Value, ctx.Id.ToString(), Environment.CurrentManagedThreadId, Thread.CurrentThread.Name ?? "?"));
        var old = store.Get(record.Key);
        store.Put(record.Key, (old ?? "") + record.Value[..1]);
        Interlocked.Increment(ref Stats.Processed);
    }

    public void Close() { }
}

internal static class Topologies
{
    public static Topology Counting(string storeKind)
    {
        var supplier = storeKind == "rocksdb"
            ? Stores.PersistentKeyValueStore(CountingTransformer.StoreName)
            : Stores.InMemoryKeyValueStore(CountingTransformer.StoreName);
        var storeBuilder = Stores.KeyValueStoreBuilder(supplier, new StringSerDes(), new StringSerDes())
            .WithLoggingEnabled(new Dictionary<string, string>())
            .WithCachingDisabled();
        var builder = new StreamBuilder();
        builder.Stream<string, string>("in")
            .Transform(TransformerBuilder.New<string, string, string, string>()
                .Transformer<CountingTransformer>()
                .StateStore(storeBuilder)
                .Build())
            .To("out");
        return builder.Build();
    }

    public static Topology Merged()
    {
        var storeBuilder = Stores.KeyValueStoreBuilder(Stores.InMemoryKeyValueStore(PlacementProcessor.StoreName), new StringSerDes(), new StringSerDes())
            .WithLoggingEnabled(new Dictionary<string, string>())
            .WithCachingDisabled();
        var builder = new StreamBuilder();
        var left = builder.Stream<string, string>("left");
        var right = builder.Stream<string, string>("right");
        left.Merge(right).Process(ProcessorBuilder.New<string, string>()
            .Processor<PlacementProcessor>()
            .StateStore(storeBuilder)
            .Build());
        return builder.Build();
    }

    public static Topology StreamTableJoin()
    {
        var builder = new StreamBuilder();
        var table = builder.Table("right", InMemory.As<string, string>("right-table"));
        builder.Stream<string, string>("left")
            .Join(table, (l, r) => l + "+" + r)
            .To("joined");
        return builder.Build();
    }
}
