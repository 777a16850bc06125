using System.Diagnostics;
using System.Reflection;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Logging;
using Pipeline.Platform.Embedded;
using Streamiz.Kafka.Net;
using Streamiz.Kafka.Net.Stream;
using Streamiz.Kafka.Net.Kafka;
using Streamiz.Kafka.Net.Kafka.Internal;
using StreamizEval;
using static StreamizEval.Common;

// Usage: dotnet StreamizEval.dll <mode> [args]
//   startup-nocreate        Q1a: only in/out exist; Streamiz must create the changelog itself
//   startup-autocreate      Q1b: as above with AllowAutoCreateTopics=true
//   startup-supplier        Q1c: custom IKafkaSupplier whose admin CreateTopicsAsync creates topics on the mock
//   startup-precreate       Q1d: changelog pre-created with the cluster object
//   state inmemory|rocksdb  Q2: state + punctuators + restore after dispose/restart
//   throughput N threads    Q3
//   copart [rightPartitions] Q4
//   eos                     Q5
var mode = args.Length > 0 ? args[0] : "startup-precreate";
Log($"mode {mode}; Confluent.Kafka {Library.VersionString}; Streamiz {typeof(KafkaStream).Assembly.GetName().Version}");
using var cluster = EmbeddedKafkaCluster.Start();
Log($"embedded cluster at {cluster.BootstrapServers}");
if (Directory.Exists(StateRoot)) Directory.Delete(StateRoot, true);

switch (mode)
{
    case "startup-nocreate": Startup(nocreate: true, autoCreate: false, supplier: false); break;
    case "startup-autocreate": Startup(nocreate: true, autoCreate: true, supplier: false); break;
    case "startup-supplier": Startup(nocreate: true, autoCreate: false, supplier: true); break;
    case "startup-precreate": Startup(nocreate: false, autoCreate: false, supplier: false); break;
    case "state": State(args.Length > 1 ? args[1] : "inmemory"); break;
    case "throughput": Throughput(args.Length > 1 ? int.Parse(args[1]) : 200_000, args.Length > 2 ? args[2].Split(',').Select(int.Parse).ToArray() : [1]); break;
    case "copart": CoPartition(args.Length > 1 ? int.Parse(args[1]) : 6); break;
    case "eos": Eos(); break;
    default: Console.Error.WriteLine("unknown mode"); return 2;
}
Log("errors logged by Streamiz (Error level and above): " + LineLoggerProvider.Errors.Count);
Log("done");
// Some Streamiz/librdkafka handles may linger after a failed start; do not wait for them.
Environment.Exit(0);
return 0;

void DisposeBounded(KafkaStream s, string what)
{
    var sw = Stopwatch.StartNew();
    var t = Task.Run(s.Dispose);
    Log(t.Wait(TimeSpan.FromSeconds(60)) ? $"{what} disposed in {sw.Elapsed.TotalSeconds:F1}s" : $"{what}: Dispose still blocked after 60s");
}

void Startup(bool nocreate, bool autoCreate, bool supplier)
{
    cluster.CreateTopic("in", 6);
    cluster.CreateTopic("out", 6);
    var appId = "startup-app";
    if (!nocreate) cluster.CreateTopic($"{appId}-counts-changelog", 6);
    var cfg = Config(cluster, appId, LogLevel.Information);
    if (autoCreate) cfg.AllowAutoCreateTopics = true;
    var stream = supplier
        ? new KafkaStream(Topologies.Counting("inmemory"), cfg, new CreatingSupplier(cfg, cluster))
        : new KafkaStream(Topologies.Counting("inmemory"), cfg);
    var state = StartAndWait(stream, TimeSpan.FromSeconds(nocreate && !supplier ? 150 : 60));
    Log($"RESULT start state: {state}");
    if (state == KafkaStream.State.RUNNING)
    {
        Produce(cluster, "in", 600, i => ($"k{i % 60}", $"v{i}"));
        WaitFor(() => Interlocked.Read(ref Stats.Processed) >= 600, TimeSpan.FromSeconds(60), "600 records processed");
        Log($"RESULT processed {Stats.Processed}");
    }
    using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build())
    {
        var md = admin.GetMetadata(TimeSpan.FromSeconds(5));
        foreach (var t in md.Topics.OrderBy(t => t.Topic))
            Log($"topic on cluster: {t.Topic} partitions={t.Partitions.Count} error={t.Error.Code}");
    }
    DisposeBounded(stream, "stream");
}

void State(string storeKind)
{
    cluster.CreateTopic("in", 6);
    cluster.CreateTopic("out", 6);
    var appId = "state-app-" + storeKind;
    cluster.CreateTopic($"{appId}-counts-changelog", 6);
    const int keys = 100, perKey = 10;
    var t0 = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 3_600_000;
    // record timestamps advance 100 ms per record: 1,000 records span 100 s of stream time.
    Produce(cluster, "in", keys * perKey, i => ($"k{i % keys}", $"v{i}"), t0, 100);

    // Run 1
    var cfg = Config(cluster, appId, LogLevel.Warning);
    var s1 = new KafkaStream(Topologies.Counting(storeKind), cfg);
    s1.OnRestoreEndEvent += (tp, store, n) => Log($"run1 restore end {tp} {store} restored={n}");
    Log($"run1 start state {StartAndWait(s1, TimeSpan.FromSeconds(60))}");
    WaitFor(() => Interlocked.Read(ref Stats.Processed) >= keys * perKey, TimeSpan.FromSeconds(60), "run1: 1000 processed");
    WaitFor(() => Interlocked.Read(ref Stats.TimersFired) >= keys, TimeSpan.FromSeconds(15), "run1: idle timer fired for all 100 keys");
    Log($"RESULT run1 processed={Stats.Processed} wallPunctuations={Stats.WallPunctuations} streamTimePunctuations={Stats.StreamPunctuations} timersFired={Stats.TimersFired} maxCount={Stats.LastCount.Values.Max()}");
    Log("run1 stream time seen per task: " + string.Join(", ", Stats.StreamTimeSeen.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value - t0}ms")));
    Thread.Sleep(1500); // let a commit interval pass
    DisposeBounded(s1, "run1");

    if (storeKind == "rocksdb")
    {
        var dir = Path.Combine(StateRoot, appId);
        Log($"rocksdb: deleting local state dir {dir} so that run2 must restore from the changelog");
        Directory.Delete(dir, true);
    }
    var changelog = ReadAll(cluster, $"{appId}-counts-changelog", 10_000, TimeSpan.FromSeconds(3));
    Log($"changelog {appId}-counts-changelog holds {changelog.Count} records over {changelog.Select(r => r.Partition.Value).Distinct().Count()} partitions");

    // Run 2: same application.id, new KafkaStream
    Stats.Reset();
    long restored = 0;
    var cfg2 = Config(cluster, appId, LogLevel.Warning);
    var s2 = new KafkaStream(Topologies.Counting(storeKind), cfg2);
    s2.OnRestoreStartEvent += (tp, store, a, b) => Log($"run2 restore start {tp} {store} offsets {a}..{b}");
    s2.OnRestoreEndEvent += (tp, store, n) => { Interlocked.Add(ref restored, n); Log($"run2 restore end {tp} {store} restored={n}"); };
    Log($"run2 start state {StartAndWait(s2, TimeSpan.FromSeconds(60))}");
    Produce(cluster, "in", keys, i => ($"k{i % keys}", $"w{i}"), t0 + keys * perKey * 100L, 100);
    WaitFor(() => Interlocked.Read(ref Stats.Processed) >= keys, TimeSpan.FromSeconds(60), "run2: 100 new records processed");
    Thread.Sleep(2000);
    var counts = Stats.LastCount.Values.GroupBy(v => v).OrderBy(g => g.Key).Select(g => $"count {g.Key}: {g.Count()} keys");
    Log($"RESULT run2 processed={Stats.Processed} (100 expected if offsets were committed) restoredRecords={restored} countsAfterOneMoreRecordPerKey: {string.Join("; ", counts)} (11 everywhere = state restored)");
    DisposeBounded(s2, "run2");
}

void Throughput(int n, int[] threadCounts)
{
    cluster.CreateTopic("in", 6);
    cluster.CreateTopic("out", 6);
    foreach (var th in threadCounts) cluster.CreateTopic($"tp-app-{th}-counts-changelog", 6);
    Stats.TimerIdleMs = int.MaxValue / 2; // timers scan the store every 500 ms but never fire during the run
    var sw = Stopwatch.StartNew();
    Produce(cluster, "in", n, i => ($"key-{i % 10_000:D5}", $"value-{i:D10}"));
    Log($"RESULT produced {n} records in {sw.Elapsed.TotalSeconds:F2}s = {n / sw.Elapsed.TotalSeconds:F0} msg/s");

    // (a) raw consumer
    using (var c = new ConsumerBuilder<string, string>(new ConsumerConfig
    {
        BootstrapServers = cluster.BootstrapServers,
        GroupId = "raw-" + Guid.NewGuid().ToString("N"),
        AutoOffsetReset = AutoOffsetReset.Earliest,
        SessionTimeoutMs = 3000,
        HeartbeatIntervalMs = 750,
        EnableAutoCommit = true,
    }).Build())
    {
        sw.Restart();
        c.Subscribe("in");
        var got = 0;
        var first = TimeSpan.Zero;
        var idle = Stopwatch.StartNew();
        while (got < n && idle.Elapsed < TimeSpan.FromSeconds(30))
        {
            var r = c.Consume(TimeSpan.FromMilliseconds(100));
            if (r is null) continue;
            if (got == 0) first = sw.Elapsed;
            got++;
            idle.Restart();
        }
        var total = sw.Elapsed;
        c.Close();
        rawRate = got / (total - first).TotalSeconds;
        Log($"RESULT raw consumer: {got} records; subscribe->last {total.TotalSeconds:F2}s; first->last {(total - first).TotalSeconds:F2}s = {rawRate:F0} msg/s (join took {first.TotalSeconds:F2}s)");
    }

    foreach (var th in threadCounts)
    {
        Stats.Reset();
        var cfg = Config(cluster, $"tp-app-{th}", LogLevel.Warning);
        cfg.NumStreamThreads = th;
        var s = new KafkaStream(Topologies.Counting("inmemory"), cfg);
        sw.Restart();
        Log($"streamiz threads={th} state {StartAndWait(s, TimeSpan.FromSeconds(60))} after {sw.Elapsed.TotalSeconds:F2}s");
        WaitFor(() => Interlocked.Read(ref Stats.Processed) >= n, TimeSpan.FromSeconds(300), $"streamiz threads={th}: {n} processed");
        var total = sw.Elapsed;
        var busy = TimeSpan.FromMilliseconds(Stats.LastProcessedTicks - Stats.FirstProcessedTicks);
        var rate = Stats.Processed / busy.TotalSeconds;
        Thread.Sleep(2000);
        long outCount;
        using (var c = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "wm" }).Build())
            outCount = Enumerable.Range(0, 6).Sum(p => c.QueryWatermarkOffsets(new TopicPartition("out", p), TimeSpan.FromSeconds(5)).High.Value);
        long clCount;
        using (var c = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "wm" }).Build())
            clCount = Enumerable.Range(0, 6).Sum(p => c.QueryWatermarkOffsets(new TopicPartition($"tp-app-{th}-counts-changelog", p), TimeSpan.FromSeconds(5)).High.Value);
        Log($"RESULT streamiz threads={th}: processed {Stats.Processed}; start->last {total.TotalSeconds:F2}s; first->last {busy.TotalSeconds:F2}s = {rate:F0} msg/s; " +
            $"raw/streamiz ratio {rawRate / rate:F1}x; 'out' high watermarks sum {outCount}; changelog high watermarks sum {clCount}");
        DisposeBounded(s, $"threads={th}");
    }
}

void CoPartition(int rightPartitions)
{
    cluster.CreateTopic("left", 6);
    cluster.CreateTopic("right", rightPartitions);
    cluster.CreateTopic("joined", 6);
    cluster.CreateTopic("copart-app-merged-changelog", 6);
    cluster.CreateTopic("join-app-right-table-changelog", rightPartitions);
    const int keys = 600;

    // Two members of one application (two KafkaStream instances, one stream thread each), as two pods would be.
    // Both are started and the group is left to settle BEFORE any data is produced, so that placement reflects
    // the final assignment and not the first member's temporary ownership of everything.
    var a = new KafkaStream(Topologies.Merged(), Cfg("copart-app", "A"));
    var b = new KafkaStream(Topologies.Merged(), Cfg("copart-app", "B"));
    Log($"merge A: {StartAndWait(a, TimeSpan.FromSeconds(60))}");
    Log($"merge B: {StartAndWait(b, TimeSpan.FromSeconds(60))}");
    Thread.Sleep(8000);
    Stats.Reset();
    Produce(cluster, "right", keys, i => ($"key{i}", $"R{i}"));
    Produce(cluster, "left", keys, i => ($"key{i}", $"L{i}"));
    WaitFor(() => Interlocked.Read(ref Stats.Processed) >= 2 * keys, TimeSpan.FromSeconds(60), "merge: all left+right processed");
    Thread.Sleep(1000);
    var byTp = Stats.Placement.GroupBy(x => (x.topic, x.partition)).OrderBy(g => g.Key.topic).ThenBy(g => g.Key.partition)
        .Select(g => $"{g.Key.topic}-{g.Key.partition}: {g.Count()} recs, task {string.Join("/", g.Select(x => x.task).Distinct())} thread {string.Join("/", g.Select(x => x.instance).Distinct())}");
    foreach (var line in byTp) Log("placement " + line);
    var violations = 0;
    for (var p = 0; p < 6; p++)
    {
        var l = Stats.Placement.Where(x => x.topic == "left" && x.partition == p).Select(x => x.task + "@" + x.instance).Distinct().Order().ToList();
        var r = Stats.Placement.Where(x => x.topic == "right" && x.partition == p).Select(x => x.task + "@" + x.instance).Distinct().Order().ToList();
        if (r.Count > 0 && l.Count > 0 && !l.SequenceEqual(r)) violations++;
    }
    Log($"RESULT merge: {Stats.Processed} processed (1200 produced); partitions whose left-p and right-p went to different task/thread: {violations}");
    DisposeBounded(a, "A");
    DisposeBounded(b, "B");

    // KStream-KTable join with two members, again settled before data.
    var j1 = new KafkaStream(Topologies.StreamTableJoin(), Cfg("join-app", "J1"));
    var j2 = new KafkaStream(Topologies.StreamTableJoin(), Cfg("join-app", "J2"));
    Log($"join J1: {StartAndWait(j1, TimeSpan.FromSeconds(60))}");
    Log($"join J2: {StartAndWait(j2, TimeSpan.FromSeconds(60))}");
    Thread.Sleep(8000);
    Produce(cluster, "right", keys, i => ($"key{i}", $"S{i}"));
    Thread.Sleep(4000);
    Produce(cluster, "left", keys, i => ($"key{i}", $"M{i}"));
    Thread.Sleep(6000);
    var joined = ReadAll(cluster, "joined", 10 * keys, TimeSpan.FromSeconds(5)).Where(r => r.Message.Value.StartsWith('M')).ToList();
    var correct = joined.Count(r => r.Message.Value.Split('+') is [var l, var rr] && rr.StartsWith('S') && l[1..] == rr[1..]);
    Log($"RESULT join: {joined.Count} joined records from {keys} left records produced after the table (expected {keys}); pairs with matching right value: {correct}");
    DisposeBounded(j1, "J1");
    DisposeBounded(j2, "J2");
    using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        foreach (var t in admin.GetMetadata(TimeSpan.FromSeconds(5)).Topics.OrderBy(t => t.Topic))
            Log($"topic on cluster: {t.Topic} partitions={t.Partitions.Count}");

    StreamConfig<Streamiz.Kafka.Net.SerDes.StringSerDes, Streamiz.Kafka.Net.SerDes.StringSerDes> Cfg(string app, string instance)
    {
        var c = Config(cluster, app, LogLevel.Information);
        c.StateDir = Path.Combine(StateRoot, app + "-" + instance);
        c.ClientId = $"{app}-{instance}";
        return c;
    }
}

void Eos()
{
    cluster.CreateTopic("in", 6);
    cluster.CreateTopic("out", 6);
    var appId = "eos-app";
    cluster.CreateTopic($"{appId}-counts-changelog", 6);
    Produce(cluster, "in", 1000, i => ($"k{i % 100}", $"v{i}"));
    var cfg = Config(cluster, appId, LogLevel.Warning);
    cfg.Guarantee = ProcessingGuarantee.EXACTLY_ONCE;
    var s1 = new KafkaStream(Topologies.Counting("inmemory"), cfg);
    Log($"eos run1 state {StartAndWait(s1, TimeSpan.FromSeconds(60))}");
    WaitFor(() => Interlocked.Read(ref Stats.Processed) >= 1000, TimeSpan.FromSeconds(60), "eos run1: 1000 processed");
    Thread.Sleep(3000);
    Log($"RESULT eos run1 processed={Stats.Processed}");
    var rc = ReadAll(cluster, "out", 100_000, TimeSpan.FromSeconds(4), IsolationLevel.ReadCommitted).Count;
    var ru = ReadAll(cluster, "out", 100_000, TimeSpan.FromSeconds(4), IsolationLevel.ReadUncommitted).Count;
    Log($"RESULT eos run1: 'out' read_committed={rc} read_uncommitted={ru}");
    DisposeBounded(s1, "eos run1");
    using (var c = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = appId }).Build())
    {
        var committed = c.Committed(Enumerable.Range(0, 6).Select(p => new TopicPartition("in", p)), TimeSpan.FromSeconds(5));
        Log("RESULT eos committed offsets of group eos-app on 'in': " + string.Join(", ", committed.Select(x => $"{x.Partition.Value}:{x.Offset}")));
    }
    Stats.Reset();
    var cfg2 = Config(cluster, appId, LogLevel.Warning);
    cfg2.Guarantee = ProcessingGuarantee.EXACTLY_ONCE;
    var s2 = new KafkaStream(Topologies.Counting("inmemory"), cfg2);
    Log($"eos run2 state {StartAndWait(s2, TimeSpan.FromSeconds(60))}");
    Thread.Sleep(8000);
    Log($"RESULT eos run2 re-processed {Stats.Processed} of the 1000 old records (0 expected under exactly-once); max count per key now {(Stats.LastCount.IsEmpty ? 0 : Stats.LastCount.Values.Max())} (10 before)");
    DisposeBounded(s2, "eos run2");
}

partial class Program
{
    static double rawRate;
}

/// <summary>Q1c: a Streamiz IKafkaSupplier whose admin client creates topics on the mock cluster instead of via CreateTopics.</summary>
internal sealed class CreatingSupplier(IStreamConfig cfg, EmbeddedKafkaCluster cluster) : IKafkaSupplier
{
    private readonly DefaultKafkaClientSupplier inner = new(new KafkaLoggerAdapter(cfg), cfg);
    public Streamiz.Kafka.Net.Metrics.StreamMetricsRegistry MetricsRegistry { get => inner.MetricsRegistry; set => inner.MetricsRegistry = value; }
    public IConsumer<byte[], byte[]> GetConsumer(ConsumerConfig config, IConsumerRebalanceListener rebalanceListener) => inner.GetConsumer(config, rebalanceListener);
    public IProducer<byte[], byte[]> GetProducer(ProducerConfig config) => inner.GetProducer(config);
    public IConsumer<byte[], byte[]> GetRestoreConsumer(ConsumerConfig config) => inner.GetRestoreConsumer(config);
    public IConsumer<byte[], byte[]> GetGlobalConsumer(ConsumerConfig config) => inner.GetGlobalConsumer(config);
    public IAdminClient GetAdmin(AdminClientConfig config) => AdminProxy.Wrap(inner.GetAdmin(config), cluster);
}

public class AdminProxy : DispatchProxy
{
    private IAdminClient target = null!;
    private EmbeddedKafkaCluster cluster = null!;

    internal static IAdminClient Wrap(IAdminClient target, EmbeddedKafkaCluster cluster)
    {
        var p = Create<IAdminClient, AdminProxy>();
        ((AdminProxy)(object)p).target = target;
        ((AdminProxy)(object)p).cluster = cluster;
        return p;
    }

    protected override object? Invoke(MethodInfo? m, object?[]? a)
    {
        if (m!.Name == nameof(IAdminClient.CreateTopicsAsync))
        {
            foreach (var spec in (IEnumerable<TopicSpecification>)a![0]!)
            {
                Common.Log($"AdminProxy: CreateTopicsAsync({spec.Name}, partitions={spec.NumPartitions}, rf={spec.ReplicationFactor}) -> cluster.CreateTopic");
                cluster.CreateTopic(spec.Name, spec.NumPartitions, Math.Max(1, (int)spec.ReplicationFactor));
            }
            return Task.CompletedTask;
        }
        try { return m.Invoke(target, a); }
        catch (TargetInvocationException e) { throw e.InnerException!; }
    }
}
