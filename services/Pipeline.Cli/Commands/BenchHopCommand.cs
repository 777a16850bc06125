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
/// `pipeline bench hop`: what one topic hop costs the platform itself, without a stage's own work. A pass-through stage
/// reads --records ReportSubmitted records, written before it starts, and writes each one unchanged to a second topic:
/// the same host, Avro decode and encode, producer, acknowledgement and offset path as every stage, with full batches to
/// read. Prints records/s, CPU and allocation per record and where the CPU went by kind of thread, beside the raw rates
/// of the same cluster in the same run: the gap between the two is the platform's per-record cost, and what
/// `bench pipeline` spends above it per stage message is the stages' work and the small batches of a running pipeline.
/// </summary>
public static class BenchHopCommand
{
    public sealed record Settings(int Records, int Brokers, int RawBenchMessages);

    public const string Input = "bench.hop.in.v1";
    public const string Output = "bench.hop.out.v1";
    private const string Stage = "bench-hop";

    /// <summary>Partitions of the two topics: --records of about 450 bytes stay below the embedded cluster's ~5 MiB per partition.</summary>
    private const int Partitions = 24;

    public const int MaxRecords = 240_000;

    public static async Task<int> RunAsync(Settings settings, CancellationToken ct)
    {
        if (settings.Records is < 1_000 or > MaxRecords || settings.Brokers < 1 || settings.RawBenchMessages is < 1_000 or > RawKafkaBench.MaxMessages)
            throw new ArgumentException($"Fix: --records 1000–{MaxRecords} (the embedded cluster keeps about 5 MiB per partition), --brokers ≥ 1, --raw-bench 1000–{RawKafkaBench.MaxMessages}.");
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"pipeline bench hop: {settings.Records:N0} records through one pass-through stage, {settings.Brokers} broker{(settings.Brokers == 1 ? "" : "s")}, {Partitions} partitions. Synthetic data only."));
        await using var runtime = await EmbeddedRuntime.StartAsync(settings.Brokers, ct);
        var raw = RawKafkaBench.MeasureWarm(runtime.Cluster, settings.RawBenchMessages);

        foreach (var topic in new[] { Input, Output })
        {
            runtime.Cluster.CreateTopic(topic, Partitions, settings.Brokers);
            runtime.Registry.Register(topic + "-value", Schemas.Of<ReportSubmitted>().ToString());
        }
        runtime.Cluster.CreateTopic(Topics.DeadLetter(Stage), partitions: 3, replicationFactor: settings.Brokers);
        runtime.Registry.Register(Topics.DeadLetter(Stage) + "-value", Schemas.Of<DeadLetter>().ToString());

        var kafka = new KafkaOptions { BootstrapServers = runtime.BootstrapServers, SchemaRegistryUrl = runtime.SchemaRegistryUrl };
        using var registry = new Confluent.SchemaRegistry.CachedSchemaRegistryClient(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, false);
        using (var publisher = new EventPublisher(Options.Create(kafka), serdes, "bench-hop"))
        {
            var pending = new List<Task>(settings.Records);
            for (var i = 0; i < settings.Records; i++) pending.Add(publisher.PublishAsync(Input, $"hop-{i}", Record(i), ct: ct));
            await Task.WhenAll(pending);
        }

        var builder = BenchHost.Create(runtime, new Dictionary<string, string?>());
        builder.AddStage(Stage, _ => new PassThrough(Output), s => s.Consumes<ReportSubmitted>(Input));
        await using var app = builder.Build();
        double Consumed() => ProcessorMetrics.Consumed.WithLabels(Stage, Input).Value;
        double Produced() => ProcessorMetrics.Produced.WithLabels(Stage, Output).Value;

        var clock = Stopwatch.StartNew();
        await app.StartAsync(ct);
        while (Consumed() == 0)
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException("The pass-through stage consumed nothing within 2 minutes.");
            await Task.Delay(1, ct);
        }
        var firstAt = clock.Elapsed;
        var costStart = ProcessCost.Now();
        var threadsStart = ThreadCpu.Now();
        var consumedAtStart = Consumed();
        while (Produced() < settings.Records)
        {
            if (clock.Elapsed > firstAt + TimeSpan.FromMinutes(5)) throw new TimeoutException($"The pass-through stage wrote {Produced():N0} of {settings.Records:N0} records within 5 minutes.");
            await Task.Delay(1, ct);
        }
        var window = clock.Elapsed - firstAt;
        var cost = ProcessCost.Now() - costStart;
        var threads = ThreadCpu.Now().Since(threadsStart);
        var records = settings.Records - consumedAtStart;
        await app.StopAsync(CancellationToken.None);

        Console.WriteLine();
        Console.WriteLine("── pipeline bench hop ──────────────────────────────────────────────────");
        Console.WriteLine(string.Create(c, $"pass-through stage         {records:N0} records read, decoded, encoded, written and acknowledged in {window.TotalSeconds:0.00} s = {records / window.TotalSeconds:N0} records/s (from its first record; start-up and group join {firstAt.TotalSeconds:0.0} s)"));
        Console.WriteLine(string.Create(c, $"embedded cluster raw       produce {raw.ProduceRate:N0} msg/s, consume {raw.ConsumeRate:N0} msg/s (same run)"));
        Console.WriteLine(string.Create(c, $"process cost               {1e6 * cost.CpuSeconds / records:0.0} µs of CPU per record ({cost.CpuSeconds / window.TotalSeconds:0.00} cores); the raw clients and broker: {raw.ConsumeCpuMicros:0.00} µs per consumed and {raw.ProduceCpuMicros:0.00} µs per produced record"));
        BenchPipelineCommand.PrintThreadCpu(threads, cost.CpuSeconds, records);
        Console.WriteLine(string.Create(c, $"garbage collector          {cost.AllocatedBytes / records / 1024.0:0.0} KiB per record; {cost.Gen0} gen-0, {cost.Gen1} gen-1, {cost.Gen2} gen-2 collections; paused {cost.PauseSeconds:0.00} s ({cost.PauseSeconds / window.TotalSeconds:P1} of the window)"));
        Console.WriteLine(string.Create(c, $"hop efficiency of one hop = {records / window.TotalSeconds:N0} records/s ÷ {raw.ConsumeRate:N0} raw consume msg/s = {records / window.TotalSeconds / raw.ConsumeRate:0.0000}"));
        return 0;
    }

    private static ReportSubmitted Record(int i) => BenchReports.Submitted($"hop-{i}", $"https://site{i % 97}.example/gallery/{i}.jpg", i);

    /// <summary>Writes every record it reads, unchanged, to <paramref name="next"/> under the same key (here and in
    /// `bench chain`).</summary>
    internal sealed class PassThrough(string next) : IProcessor<ReportSubmitted>
    {
        public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken)
        {
            output.Send(next, message.Key ?? message.Value.report.reportId, message.Value);
            return ValueTask.CompletedTask;
        }
    }
}
