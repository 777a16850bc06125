using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Cli.Demo;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline bench restore`: what a stateful stage's restart spends on its state. --records state records of --keys keys
/// (a key written records ÷ keys times, as a stage rewrites an entry at each change) are written to a changelog of
/// --partitions partitions as the host writes them (an epoch header and a trace context on each), then restored
/// --rounds times by the platform's own store (<see cref="PartitionedState{T}"/>: the compacted-topic reader, the fence
/// check, the Avro decode, the entries and their timers). Prints records/s and CPU per record of each round. A restore
/// that holds another number of entries than keys is an error, not a rate.
/// </summary>
public static class BenchRestoreCommand
{
    public sealed record Settings(int Records, int Keys, int Partitions, int Rounds, int Batch = 0);

    public const string Topic = "bench.restore.v1";

    /// <summary>About 450-byte records: within the embedded cluster's ~5 MiB per partition at the most partitions.</summary>
    public const int MaxRecords = 240_000;

    public static async Task<int> RunAsync(Settings settings, CancellationToken ct)
    {
        if (settings.Partitions is < 1 or > 48 || settings.Records < 1_000 || settings.Records > MaxRecords * settings.Partitions / 24
            || settings.Keys < 1 || settings.Keys > settings.Records || settings.Rounds is < 1 or > 10 || settings.Batch is < 0 or > 10_000)
            throw new ArgumentException($"Fix: --partitions 1–48, --records 1000–{MaxRecords:0} at 24 partitions (about 10,000 per partition: the embedded cluster keeps about 5 MiB per partition), --keys 1–records, --rounds 1–10, --batch 0–10000.");
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"pipeline bench restore: {settings.Records:N0} state records of {settings.Keys:N0} keys in {settings.Partitions} partitions, {(settings.Batch == 0 ? "in full producer batches" : $"at most {settings.Batch} per producer batch")}, restored {settings.Rounds} times. Synthetic data only."));
        await using var runtime = await EmbeddedRuntime.StartAsync(1, ct);
        runtime.Cluster.CreateTopic(Topic, settings.Partitions, 1);
        runtime.Registry.Register(Topic + "-value", Schemas.Of<ReportSubmitted>().ToString());
        var kafka = new KafkaOptions { BootstrapServers = runtime.BootstrapServers, SchemaRegistryUrl = runtime.SchemaRegistryUrl, FetchWaitMaxMs = EmbeddedRuntime.FetchWaitMaxMs };
        using var registry = new Confluent.SchemaRegistry.CachedSchemaRegistryClient(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);

        // As the host writes a state record: the writer's epoch and the trace context of the call that wrote it.
        var epoch = Encoding.UTF8.GetBytes("0");
        var traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"u8.ToArray();
        using (var producer = new ProducerBuilder<byte[], byte[]>(ProducerConfig(runtime.BootstrapServers, settings.Batch)).Build())
        {
            for (var i = 0; i < settings.Records; i++)
            {
                var key = $"https://site{i % settings.Keys % 97}.example/gallery/{i % settings.Keys}.jpg";
                var message = new Message<byte[], byte[]>
                {
                    Key = Encoding.UTF8.GetBytes(key),
                    Value = serdes.Serialize(BenchReports.Submitted($"restore-{i}", key, i), Topic),
                    Headers = new Headers { { StateFence.EpochHeader, epoch }, { "traceparent", traceparent } },
                };
                RawKafkaBench.ProduceWhenRoom(producer, Topic, message); // small batches: the queue drains more slowly than it fills
            }
            if (producer.Flush(TimeSpan.FromSeconds(60)) > 0) throw new TimeoutException("The state records were not all written within 60 s.");
        }

        Console.WriteLine();
        Console.WriteLine("── pipeline bench restore ──────────────────────────────────────────────");
        for (var round = 1; round <= settings.Rounds; round++)
        {
            ct.ThrowIfCancellationRequested();
            var state = new PartitionedState<ReportSubmitted>(Topic, kafka, serdes, NullLogger.Instance);
            var cost = ProcessCost.Now();
            var clock = Stopwatch.StartNew();
            state.Restore(Enumerable.Range(0, settings.Partitions));
            var seconds = clock.Elapsed.TotalSeconds;
            var spent = ProcessCost.Now() - cost;
            if (state.Count != settings.Keys)
                throw new InvalidOperationException($"The restore holds {state.Count:N0} entries, not the {settings.Keys:N0} keys written.");
            Console.WriteLine(string.Create(c, $"round {round}: {settings.Records:N0} records in {seconds:0.00} s = {settings.Records / seconds:N0} records/s; {1e6 * spent.CpuSeconds / settings.Records:0.0} µs of CPU and {spent.AllocatedBytes / (double)settings.Records / 1024:0.0} KiB per record; {state.Count:N0} entries held (reader set-up and end offsets included)"));
        }
        return 0;
    }

    /// <summary>Full batches by default; with <paramref name="batch"/> at most that many records per batch, as a running
    /// stage writes its changelog (a few records per linger). The embedded broker answers a fetch with one batch per
    /// partition, so a changelog of small batches restores that much slower there (not on real Kafka).</summary>
    private static ProducerConfig ProducerConfig(string bootstrap, int batch)
    {
        var config = new ProducerConfig { BootstrapServers = bootstrap, EnableIdempotence = true, LingerMs = 20 };
        if (batch > 0) config.BatchNumMessages = batch;
        return config;
    }
}
