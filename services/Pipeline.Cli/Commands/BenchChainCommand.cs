using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Pipeline.Cli.Demo;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline bench chain`: the hop efficiency a pipeline of Kafka hops reaches on this machine when its stages do no
/// work at all: a chain of --hops pass-through stages (chain.0 → chain.1 → … → chain.N), fed in a closed loop with at
/// most --in-flight records between the feed and the end of the chain, as `bench pipeline` bounds its reports. It runs
/// the chain twice on one embedded cluster: with raw Confluent.Kafka clients (a consumer per hop, one shared idempotent
/// producer, the pipeline's client settings, no decoding: the least any Kafka stage can do per record) and with the
/// platform's own stage host (Avro decode and encode, headers, offsets, metrics), and prints for each the end-to-end
/// records/s, the hop efficiency against the raw consume rate of the same run and the CPU per hop. It bounds what
/// `bench pipeline` can reach: a pipeline whose stages do work cannot be faster per hop than the raw chain.
/// </summary>
public static class BenchChainCommand
{
    public sealed record Settings(int Hops, int InFlight, int Duration, int Warmup, int Partitions, int Brokers, string Mode, int RawBenchMessages);

    public const int MaxHops = 30;
    private const string Prefix = "bench.chain";

    public static async Task<int> RunAsync(Settings settings, CancellationToken ct)
    {
        var (raw, results) = await MeasureAsync(settings, ct);
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine("── pipeline bench chain ────────────────────────────────────────────────");
        Console.WriteLine(string.Create(c, $"embedded cluster raw       produce {raw.ProduceRate:N0} msg/s, consume {raw.ConsumeRate:N0} msg/s (same run); {raw.ConsumeCpuMicros:0.00} µs of CPU per consumed and {raw.ProduceCpuMicros:0.00} µs per produced record"));
        foreach (var r in results)
        {
            Console.WriteLine();
            Console.WriteLine(string.Create(c, $"{r.Mode} chain ({r.Description})"));
            Console.WriteLine(string.Create(c, $"  end to end               {r.Records:N0} records through {settings.Hops} hops in {r.Window.TotalSeconds:0.0} s = {r.Rate:N0} records/s; {r.Rate * settings.Hops:N0} hop messages/s; mean time in the chain {1000.0 * settings.InFlight / r.Rate:0} ms (in flight ÷ rate)"));
            Console.WriteLine(string.Create(c, $"  process cost             {r.Cost.CpuSeconds / r.Window.TotalSeconds:0.00} cores, {1e6 * r.Cost.CpuSeconds / (r.Records * settings.Hops):0.0} µs of CPU per hop message, {r.Cost.AllocatedBytes / (r.Records * settings.Hops) / 1024.0:0.0} KiB allocated per hop message, collector paused {r.Cost.PauseSeconds / r.Window.TotalSeconds:P1} of the window"));
            BenchPipelineCommand.PrintThreadCpu(r.Threads, r.Cost.CpuSeconds, r.Records * settings.Hops);
            if (r.RecordsPerFetch > 0)
                Console.WriteLine(string.Create(c, $"  records per fetch        {r.RecordsPerFetch:0.0} (the hops' consumers, librdkafka statistics)"));
            Console.WriteLine(string.Create(c, $"  embedded log             {r.Trimmed:N0} consumed records deleted (committed by every group ≥ 3 s before), as bench pipeline does"));
            Console.WriteLine(string.Create(c, $"hop efficiency ({r.Mode} chain) = {r.Rate:N0} records/s × {settings.Hops} hops ÷ {raw.ConsumeRate:N0} raw consume msg/s = {r.Rate * settings.Hops / raw.ConsumeRate:0.0000}"));
        }
        return 0;
    }

    /// <summary>The raw rates and each chain's measured window.</summary>
    public static async Task<(RawKafkaBench.Result Raw, List<Result> Chains)> MeasureAsync(Settings settings, CancellationToken ct)
    {
        if (settings.Hops is < 1 or > MaxHops || settings.InFlight is < 1 or > 20_000 || settings.Duration is < 1 or > 600 || settings.Warmup is < 0 or > 120
            || settings.Partitions is < 1 or > 48 || settings.Brokers < 1 || settings.Mode is not ("raw" or "platform" or "both")
            || settings.RawBenchMessages is < 1_000 or > RawKafkaBench.MaxMessages)
            throw new ArgumentException($"Fix: --hops 1–{MaxHops}, --in-flight 1–20000, --duration 1–600, --warmup 0–120, --partitions 1–48, --brokers ≥ 1, --mode raw|platform|both, --raw-bench 1000–{RawKafkaBench.MaxMessages}.");
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"pipeline bench chain: {settings.Hops} pass-through hops, at most {settings.InFlight:N0} records in flight, {settings.Partitions} partitions, {settings.Brokers} broker{(settings.Brokers == 1 ? "" : "s")}, {settings.Warmup} s warm-up + {settings.Duration} s measured per chain. Synthetic data only."));
        await using var runtime = await EmbeddedRuntime.StartAsync(settings.Brokers, ct);
        var raw = RawKafkaBench.MeasureWarm(runtime.Cluster, settings.RawBenchMessages);
        var kafka = new KafkaOptions
        {
            BootstrapServers = runtime.BootstrapServers, SchemaRegistryUrl = runtime.SchemaRegistryUrl,
            FetchWaitMaxMs = EmbeddedRuntime.FetchWaitMaxMs, LingerMs = EmbeddedRuntime.LingerMs,
        };
        using var registry = new Confluent.SchemaRegistry.CachedSchemaRegistryClient(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, false);

        var results = new List<Result>();
        foreach (var mode in settings.Mode == "both" ? new[] { "raw", "platform" } : [settings.Mode])
        {
            var topics = Enumerable.Range(0, settings.Hops + 1).Select(i => $"{Prefix}.{mode}.{i}").ToArray();
            foreach (var topic in topics)
            {
                runtime.Cluster.CreateTopic(topic, settings.Partitions, settings.Brokers);
                runtime.Registry.Register(topic + "-value", Schemas.Of<ReportSubmitted>().ToString());
            }
            // One encoded record, written under a new key each time: the feed costs next to nothing.
            var value = serdes.Serialize(BenchReports.Submitted("chain", "https://site1.example/gallery/1.jpg", 1), topics[0]);
            results.Add(mode == "raw"
                ? await RunRawAsync(runtime.Cluster, kafka, topics, value, settings, ct)
                : await RunPlatformAsync(runtime, kafka, topics, value, settings, ct));
        }

        return (raw, results);
    }

    public sealed record Result(string Mode, string Description, long Records, TimeSpan Window, ProcessCost Cost, List<(string Group, double Seconds)> Threads, double RecordsPerFetch, long Trimmed)
    {
        public double Rate => Records / Window.TotalSeconds;
    }

    /// <summary>Writes records to the chain's first topic while fewer than --in-flight are between it and the sink; the
    /// sink reads the last topic and lets the feed go on. Measures the window after the warm-up.</summary>
    private sealed class ClosedLoop(KafkaOptions kafka, string[] topics, byte[] value, Settings settings, string mode) : IDisposable
    {
        private readonly SemaphoreSlim slots = new(settings.InFlight, settings.InFlight);
        private readonly CancellationTokenSource stop = new();
        private long sunk;
        private Thread? feed, sink;
        private Exception? failure;

        public long Sunk => Interlocked.Read(ref sunk);

        /// <summary>The consumer group of the sink, which reads the chain's last topic.</summary>
        public string SinkGroup => $"{Prefix}.{mode}.sink";

        public void Start(IProducer<byte[]?, byte[]?> producer)
        {
            sink = new Thread(Sink) { Name = "bench-observer", IsBackground = true };
            sink.Start();
            feed = new Thread(() => Feed(producer)) { Name = "bench-feed", IsBackground = true };
            feed.Start();
        }

        private void Feed(IProducer<byte[]?, byte[]?> producer)
        {
            try
            {
                for (long i = 0; !stop.IsCancellationRequested; i++)
                {
                    slots.Wait(stop.Token);
                    RawKafkaBench.ProduceWhenRoom(producer, topics[0], new Message<byte[]?, byte[]?> { Key = System.Text.Encoding.UTF8.GetBytes($"chain-{i}"), Value = value });
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e)
            {
                failure ??= e;
            }
        }

        private void Sink()
        {
            try
            {
                using var consumer = new ConsumerBuilder<Ignore, Ignore>(ConsumerConfig(kafka, SinkGroup)).Build();
                consumer.Subscribe(topics[^1]);
                while (!stop.IsCancellationRequested)
                {
                    if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is not { IsPartitionEOF: false }) continue;
                    Interlocked.Increment(ref sunk);
                    slots.Release();
                }
                consumer.Close();
            }
            catch (Exception e)
            {
                failure ??= e;
            }
        }

        /// <summary>Waits out the warm-up, then measures the window.</summary>
        public async Task<(long Records, TimeSpan Window, ProcessCost Cost, List<(string, double)> Threads)> MeasureAsync(CancellationToken ct)
        {
            var start = Stopwatch.StartNew();
            while (Sunk == 0)
            {
                Check();
                if (start.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException($"No record reached the end of the {mode} chain within 2 minutes.");
                await Task.Delay(10, ct);
            }
            await Task.Delay(TimeSpan.FromSeconds(settings.Warmup), ct);
            var from = Sunk;
            var cost = ProcessCost.Now();
            var threads = ThreadCpu.Now();
            var clock = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(settings.Duration), ct);
            var records = Sunk - from;
            var window = clock.Elapsed;
            var result = (records, window, ProcessCost.Now() - cost, ThreadCpu.Now().Since(threads));
            Check();
            return result;
        }

        private void Check()
        {
            if (failure is not null) throw new InvalidOperationException($"The {mode} chain failed: {failure.Message}", failure);
        }

        public void Dispose()
        {
            stop.Cancel();
            feed?.Join();
            sink?.Join();
            stop.Dispose();
            slots.Dispose();
        }
    }

    /// <summary>The least a Kafka stage can do: consume, produce the same key, value and headers to the next topic, and
    /// store the offset once the write is acknowledged (auto-committed), on one thread per hop.</summary>
    private static async Task<Result> RunRawAsync(EmbeddedKafkaCluster cluster, KafkaOptions kafka, string[] topics, byte[] value, Settings settings, CancellationToken ct)
    {
        using var producer = KafkaClients.Producer(kafka, "bench-chain-raw");
        using var stop = new CancellationTokenSource();
        Exception? failure = null;
        var hops = Enumerable.Range(0, settings.Hops).Select(i => new Thread(() =>
        {
            try
            {
                var config = ConsumerConfig(kafka, RawHop(i));
                config.EnableAutoOffsetStore = false;
                config.StatisticsIntervalMs = 1_000;
                var seen = new ProcessorMetrics.FetchTotals();
                using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config)
                    .SetStatisticsHandler((_, json) => ProcessorMetrics.RecordStatistics(RawHop(i), json, seen))
                    .Build();
                consumer.Subscribe(topics[i]);
                var next = topics[i + 1];
                while (!stop.IsCancellationRequested)
                {
                    if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is not { IsPartitionEOF: false } result) continue;
                    var position = new TopicPartitionOffset(result.TopicPartition, result.Offset + 1);
                    var message = new Message<byte[]?, byte[]?> { Key = result.Message.Key, Value = result.Message.Value, Headers = result.Message.Headers };
                    RawKafkaBench.ProduceWhenRoom(producer, next, message, report =>
                    {
                        if (report.Error.IsError) failure ??= new KafkaException(report.Error);
                        else
                            try
                            {
                                consumer.StoreOffset(position);
                            }
                            catch (Exception e) when (e is ObjectDisposedException or KafkaException)
                            {
                                // Acknowledged after the hop stopped, or for a partition it no longer holds.
                            }
                    });
                }
                consumer.Close();
            }
            catch (Exception e) when (e is not KafkaException { Error.Code: ErrorCode.Local_State } || !stop.IsCancellationRequested)
            {
                failure ??= e;
            }
        }) { Name = $"stage-raw{i}", IsBackground = true }).ToList();
        hops.ForEach(t => t.Start());
        try
        {
            using var loop = new ClosedLoop(kafka, topics, value, settings, "raw");
            using var trimmer = Trimmer(cluster, topics, RawHop, loop.SinkGroup);
            loop.Start(producer);
            var (records, window, cost, threads) = await loop.MeasureAsync(ct);
            if (failure is not null) throw new InvalidOperationException($"The raw chain failed: {failure.Message}", failure);
            return new Result("raw", "Confluent.Kafka consumer per hop and one shared producer, no decoding", records, window, cost, threads,
                RecordsPerFetch(Enumerable.Range(0, settings.Hops).Select(RawHop)), trimmer.Records);
        }
        finally
        {
            stop.Cancel();
            hops.ForEach(t => t.Join());
        }
    }

    /// <summary>Deletes what every hop has committed, as `bench pipeline` does (<see cref="ConsumedRecordTrimmer"/>): the
    /// mock broker walks a partition's kept batches for every fetch, which real Kafka does not.</summary>
    private static ConsumedRecordTrimmer Trimmer(EmbeddedKafkaCluster cluster, string[] topics, Func<int, string> hopGroup, string sinkGroup)
    {
        var groups = Enumerable.Range(0, topics.Length - 1).ToDictionary(hopGroup, i => (IReadOnlyList<string>)[topics[i]]);
        groups[sinkGroup] = [topics[^1]];
        var trimmer = new ConsumedRecordTrimmer(cluster, groups, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        trimmer.Start();
        return trimmer;
    }

    /// <summary>The consumer group (and metric label) of hop <paramref name="i"/> of the raw chain.</summary>
    private static string RawHop(int i) => $"{Prefix}.raw.hop{i}";

    /// <summary>The stage (its consumer group) of hop <paramref name="i"/> of the platform chain.</summary>
    internal static string PlatformHop(int i) => $"chain{i}";

    /// <summary>A consumer of the chain: the pipeline's consumer settings, from the beginning, a short session.</summary>
    private static ConsumerConfig ConsumerConfig(KafkaOptions kafka, string group)
    {
        var config = KafkaClients.ConsumerConfig(kafka);
        config.GroupId = group;
        config.AutoOffsetReset = AutoOffsetReset.Earliest;
        config.SessionTimeoutMs = 6_000;
        config.HeartbeatIntervalMs = 1_000;
        return config;
    }

    /// <summary>Records per fetch request of these consumer groups' consumers so far (librdkafka statistics, as
    /// <see cref="ProcessorMetrics.RecordStatistics"/> counts them for every stage).</summary>
    private static double RecordsPerFetch(IEnumerable<string> groups)
    {
        var list = groups.ToList();
        var requests = list.Sum(g => BenchPipelineCommand.SumFor(ProcessorMetrics.FetchRequests, g));
        return requests > 0 ? list.Sum(g => BenchPipelineCommand.SumFor(ProcessorMetrics.FetchedMessages, g)) / requests : 0;
    }

    /// <summary>The same chain through the platform's stage host: each hop a stage of its own, as every pipeline stage is.</summary>
    private static async Task<Result> RunPlatformAsync(EmbeddedRuntime runtime, KafkaOptions kafka, string[] topics, byte[] value, Settings settings, CancellationToken ct)
    {
        var builder = BenchHost.Create(runtime, new Dictionary<string, string?>());
        for (var i = 0; i < settings.Hops; i++)
        {
            var stage = PlatformHop(i);
            runtime.Cluster.CreateTopic(Topics.DeadLetter(stage), partitions: 3, replicationFactor: settings.Brokers);
            runtime.Registry.Register(Topics.DeadLetter(stage) + "-value", Schemas.Of<DeadLetter>().ToString());
            var (input, output) = (topics[i], topics[i + 1]);
            builder.AddStage(stage, _ => new BenchHopCommand.PassThrough(output), s => s.Consumes<ReportSubmitted>(input));
        }
        await using var app = builder.Build();
        await app.StartAsync(ct);
        try
        {
            using var producer = KafkaClients.Producer(kafka, "bench-chain-feed");
            using var loop = new ClosedLoop(kafka, topics, value, settings, "platform");
            using var trimmer = Trimmer(runtime.Cluster, topics, PlatformHop, loop.SinkGroup);
            loop.Start(producer);
            var (records, window, cost, threads) = await loop.MeasureAsync(ct);
            return new Result("platform", "the platform's stage host per hop: Avro decode and encode, offsets, metrics", records, window, cost, threads,
                RecordsPerFetch(Enumerable.Range(0, settings.Hops).Select(PlatformHop)), trimmer.Records);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
        }
    }
}
