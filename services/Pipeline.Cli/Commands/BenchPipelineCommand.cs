using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Avro.IO;
using Avro.Specific;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Audit;
using Pipeline.Classification;
using Pipeline.Cli.Demo;
using Pipeline.Contracts;
using Pipeline.Geolocation;
using Pipeline.Intake;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.Recheck;
using Pipeline.Routing;
using Pipeline.Sla;
using Pipeline.Takedown;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline bench pipeline`: every stage in one process on the embedded runtime (as the demo runs them), fed with
/// synthetic reports either in a closed loop (at most --in-flight reports without an outcome) or at a fixed --rate.
/// Prints end-to-end reports/s, the embedded cluster's raw produce/consume rates measured in the same run, topic hops
/// per report (messages the stages consumed ÷ reports that reached an outcome), hop efficiency, and a real-time
/// histogram of submitted → first notice (wall clock, not the accelerated stage clock).
/// </summary>
public static class BenchPipelineCommand
{
    private static readonly double[] LatencyBucketsMs = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];

    public sealed record Settings(double Rate, double Duration, double Warmup, double Drain, int InFlight, int MaxOpen, double Speed, int RawBenchMessages, int Seed, int Partitions = 0, bool KeepConsumed = false, int Brokers = 3);

    public static async Task<int> RunAsync(Settings settings, CancellationToken ct)
    {
        var (rate, duration, warmup, drain) = (settings.Rate, settings.Duration, settings.Warmup, settings.Drain);
        var (inFlight, maxOpen, speed, rawMessages, seed) = (settings.InFlight, settings.MaxOpen, settings.Speed, settings.RawBenchMessages, settings.Seed);
        if (rate < 0 || duration <= 0 || warmup < 0 || warmup >= duration || inFlight < 1 || maxOpen < 1 || speed <= 0 || rawMessages is < 1000 or > RawKafkaBench.MaxMessages || settings.Partitions < 0 || settings.Brokers < 1)
            throw new ArgumentException("Fix: --rate ≥ 0 (0 = closed loop), --duration > --warmup ≥ 0, --in-flight ≥ 1, --max-open ≥ 1, --speed > 0, --raw-bench 1000–150000 (the embedded cluster keeps about 5 MiB per partition), --partitions ≥ 0 (0 = the topic catalog's), --brokers ≥ 1.");

        var c = CultureInfo.InvariantCulture;
        var mode = rate <= 0 ? $"closed loop, at most {inFlight} reports without an outcome" : string.Create(c, $"fixed rate {rate:0} reports/s (at most {maxOpen} open)");
        Console.WriteLine(string.Create(c, $"pipeline bench pipeline: {mode}; {duration:0} s ({warmup:0} s warm-up not measured), stage clock ×{speed:0}, up to {drain:0} s drain, {settings.Brokers} broker{(settings.Brokers == 1 ? "" : "s")}, {(settings.Partitions > 0 ? $"{settings.Partitions} partitions per topic" : "the topic catalog's partitions")}. Synthetic data only."));
        await using var runtime = await EmbeddedRuntime.StartAsync(settings.Brokers, TimeSpan.FromSeconds(5), settings.Partitions > 0 ? settings.Partitions : null, ct);

        var raw = RawKafkaBench.MeasureWarm(runtime.Cluster, rawMessages);

        var clock = new AcceleratedTimeProvider(new DateTimeOffset(2026, 11, 2, 8, 0, 0, TimeSpan.Zero), speed);
        var web = new SimulatedWeb(clock, seed);
        var builder = BenchHost.Create(runtime, DemoWorld.Configuration());
        builder.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock));
        builder.Services.AddSingleton<IContentProbe>(web);
        builder.AddIntake().AddGeolocation().AddClassification().AddRouting().AddTakedown().AddRecheck().AddSla().AddAudit();
        var readers = TrimmedTopics(builder.Stages);
        await using var app = builder.Build();
        var kafka = app.Services.GetRequiredService<IOptions<KafkaOptions>>().Value;
        var serdes = app.Services.GetRequiredService<AvroSerdes>();
        var known = SyntheticFeed.RandomHashes(2000, seed + 1000);
        await DemoCommand.SeedBankAsync(app.Services.GetRequiredService<EventPublisher>(), known, clock, ct);

        var submittedAt = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        using var observer = new Observer(kafka, submittedAt);
        var startup = Stopwatch.StartNew();
        await app.StartAsync(ct);
        await DemoCommand.WaitUntilReadyAsync(app.Services.GetRequiredService<StageHealth>(), ct);
        observer.Start();
        await observer.Assigned.WaitAsync(TimeSpan.FromSeconds(60), ct);
        web.StartDesks(kafka, serdes);
        Console.WriteLine($"all stages consuming after {startup.Elapsed.TotalSeconds:0.0} s");
        using var trimmer = settings.KeepConsumed ? null
            : new ConsumedRecordTrimmer(runtime.Cluster, readers, TimeSpan.FromSeconds(1), TrimKeep, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("trimmer"));
        trimmer?.Start();
        var resetsAtStart = KafkaClients.OffsetResets.Value;

        var feed = new SyntheticFeed(seed, known, clock);
        var encoder = await FeedEncoder.CreateAsync(serdes.Registry);
        using var producer = KafkaClients.Producer(kafka, "bench-feed");
        var submitted = 0;
        var produceErrors = 0;
        var capped = false;
        var run = Stopwatch.StartNew();
        (double At, long Done, double Consumed)? windowStart = null;
        ProcessCost? costStart = null;
        ThreadCpu? threadsStart = null;
        // The feed runs on a thread of its own (never a thread-pool thread it would block) and encodes with its own
        // cached writer, so neither the thread pool nor the serdes under test can slow the offered load.
        await Task.Factory.StartNew(() =>
        {
            Thread.CurrentThread.Name ??= "bench-feed"; // its own line in the CPU by thread
            var nextProgress = 2.0;
            while (run.Elapsed.TotalSeconds < duration && !ct.IsCancellationRequested)
            {
                var now = run.Elapsed.TotalSeconds;
                if (windowStart is null && now >= warmup)
                {
                    windowStart = (now, observer.Done, StageConsumed());
                    costStart = ProcessCost.Now();
                    threadsStart = ThreadCpu.Now();
                    observer.MeasureFrom(Stopwatch.GetTimestamp());
                }
                var open = submitted - observer.Done;
                var due = rate <= 0 ? submitted + Math.Max(0, inFlight - open) : (int)(rate * now);
                if (rate > 0 && due - observer.Done > maxOpen) { capped = true; due = (int)observer.Done + maxOpen; }
                while (submitted < due)
                {
                    var item = feed.Next();
                    var value = item.Malformed ?? encoder.Encode(item.Report!);
                    submittedAt[item.Key] = Stopwatch.GetTimestamp();
                    DemoCommand.ProduceSubmission(producer, item.Key, value, () => Interlocked.Increment(ref produceErrors));
                    submitted++;
                }
                if (now >= nextProgress)
                {
                    Console.WriteLine(string.Create(c, $"{now,5:0}s submitted {submitted,7:N0}  with outcome {observer.Done,7:N0}  first notices {observer.Notices,6:N0}  stage messages consumed {StageConsumed(),9:N0}"));
                    nextProgress += 2;
                }
                Thread.Sleep(1);
            }
        }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var windowEnd = (At: run.Elapsed.TotalSeconds, Done: observer.Done, Consumed: StageConsumed());
        var cost = ProcessCost.Now() - (costStart ?? ProcessCost.Now());
        var threadCpu = ThreadCpu.Now().Since(threadsStart ?? ThreadCpu.Now());
        var lagAtEnd = LagByGroup();
        producer.Flush(TimeSpan.FromSeconds(30));
        var offeredSeconds = run.Elapsed.TotalSeconds;

        var drainUntil = run.Elapsed.TotalSeconds + drain;
        while (observer.Done < submitted && run.Elapsed.TotalSeconds < drainUntil && !ct.IsCancellationRequested) await Task.Delay(50, ct);
        var drained = observer.Done >= submitted;
        var afterDrain = run.Elapsed.TotalSeconds;
        await Task.Delay(500, ct); // late first notices of reports that just finished
        observer.Stop();

        var ws = windowStart ?? (0, 0, 0);
        var we = windowEnd;
        var seconds = we.At - ws.At;
        var reports = we.Done - ws.Done;
        var reportsPerSecond = reports / seconds;
        var hops = reports == 0 ? 0 : (we.Consumed - ws.Consumed) / reports;
        var efficiency = reportsPerSecond * hops / raw.ConsumeRate;
        var latencies = observer.Latencies.Order().ToList();

        Console.WriteLine();
        Console.WriteLine("── pipeline bench ──────────────────────────────────────────────────────");
        Console.WriteLine(string.Create(c, $"mode                       {mode}"));
        Console.WriteLine(string.Create(c, $"offered                    {submitted:N0} reports in {offeredSeconds:0.0} s = {submitted / offeredSeconds:N0} reports/s (producer errors {produceErrors}{(capped ? $"; the feed was held at {maxOpen:N0} open reports" : "")})"));
        Console.WriteLine(string.Create(c, $"end to end (measured)      {reports:N0} reports reached an outcome in {seconds:0.0} s = {reportsPerSecond:N1} reports/s"));
        Console.WriteLine(string.Create(c, $"drain                      {(drained ? $"every report had an outcome {afterDrain - offeredSeconds:0.0} s after the feed stopped" : $"{submitted - observer.Done:N0} reports still without an outcome after {drain:0} s")}"));
        Console.WriteLine(string.Create(c, $"embedded cluster raw       produce {raw.ProduceRate:N0} msg/s, consume {raw.ConsumeRate:N0} msg/s (same run)"));
        Console.WriteLine(string.Create(c, $"stage messages consumed    {we.Consumed - ws.Consumed:N0} in the window = {(we.Consumed - ws.Consumed) / seconds:N0} msg/s ({(we.Consumed - ws.Consumed) / seconds / raw.ConsumeRate:P2} of raw consume)"));
        Console.WriteLine(string.Create(c, $"hops per report            {hops:0.00}"));
        Console.WriteLine(trimmer is null
            ? "embedded log               every record kept (--keep-consumed): the mock broker walks a partition's kept batches for each fetch"
            : string.Create(c, $"embedded log               {trimmer.Records:N0} consumed records deleted in {trimmer.Deletions:N0} calls (committed by every group ≥ {TrimKeep.TotalSeconds:0} s before); offset resets {KafkaClients.OffsetResets.Value - resetsAtStart:0}"));
        // Steadier than rates on a shared machine: what each report and each stage message cost the process, whatever else ran.
        var stageMessages = Math.Max(1, we.Consumed - ws.Consumed);
        Console.WriteLine(string.Create(c, $"process cost in the window {cost.CpuSeconds:0.0} CPU s in {seconds:0.0} s ({cost.CpuSeconds / seconds:0.00} cores): {1000 * cost.CpuSeconds / Math.Max(1, reports):0.00} ms per report, {1e6 * cost.CpuSeconds / stageMessages:0} µs per stage message (raw: {raw.ConsumeCpuMicros:0.00} µs per consumed and {raw.ProduceCpuMicros:0.00} µs per produced record)"));
        PrintThreadCpu(threadCpu, cost.CpuSeconds, stageMessages);
        Console.WriteLine(string.Create(c, $"garbage collector          {cost.AllocatedBytes / 1e6 / seconds:N0} MB/s allocated ({cost.AllocatedBytes / stageMessages / 1024.0:0.0} KiB per stage message); {cost.Gen0} gen-0, {cost.Gen1} gen-1, {cost.Gen2} gen-2 collections; paused {cost.PauseSeconds:0.00} s ({cost.PauseSeconds / seconds:P1} of the window)"));
        Console.WriteLine(string.Create(c, $"submitted → first notice   {latencies.Count:N0} reports (real time): p50 {Percentile(latencies, 0.5):N0} ms, p90 {Percentile(latencies, 0.9):N0} ms, p99 {Percentile(latencies, 0.99):N0} ms, max {(latencies.Count == 0 ? 0 : latencies[^1]):N0} ms"));
        var histogram = new StringBuilder("  histogram (ms ≤):");
        var previous = 0;
        foreach (var bound in LatencyBucketsMs)
        {
            var upTo = latencies.Count(l => l <= bound);
            histogram.Append(CultureInfo.InvariantCulture, $" {bound:0}:{upTo - previous}");
            previous = upTo;
        }
        histogram.Append(CultureInfo.InvariantCulture, $" more:{latencies.Count - previous}");
        Console.WriteLine(histogram.ToString());
        var held = observer.HeldLatencies.Order().ToList();
        Console.WriteLine(string.Create(c, $"  not counted above: {held.Count:N0} reports referred to the police first, whose notice waits for the release or its timeout by design (p50 {Percentile(held, 0.5):N0} ms)"));
        Console.WriteLine("  per stage (whole run): messages handled, mean ms on the stage thread per message (deserialise + process + serialise + hand to the producer); timers fired and effects completed (a check, a delivery); records per fetch request of its consumer (librdkafka statistics)");
        foreach (var stage in ProcessorMetrics.ProcessingSeconds.GetAllLabelValues().Select(l => l[0]).Order(StringComparer.Ordinal))
        {
            var h = ProcessorMetrics.ProcessingSeconds.WithLabels(stage);
            if (h.Count > 0) Console.WriteLine(string.Create(c, $"    {stage,-22} {h.Count,8:N0} {1000 * h.Sum / h.Count,8:0.000} ms  timers {SumFor(ProcessorMetrics.TimersFired, stage),8:N0}  effects {SumFor(ProcessorMetrics.EffectsCompleted, stage),8:N0}  {PerFetch(stage)}"));
        }
        // What the stages wrote, by topic: every record costs the producer, the broker and a delivery report, whether or
        // not a stage reads it (audit.log.v1 and the state changelogs are read by no stage, so they are not hops).
        Console.WriteLine(string.Create(c, $"  records the stages wrote (whole run), by topic; {ProducedPerConsumed():0.00} per stage message consumed:"));
        Console.WriteLine("    " + string.Join(", ", ProducedByTopic().Take(12).Select(t => string.Create(c, $"{t.Topic} {t.Records:N0}"))));
        // Where the queue is: a closed loop bounds the reports without an outcome, not the work behind an outcome (a takedown
        // request is an outcome; its notice is the takedown stage's), so the slowest stage after the outcome shows here.
        Console.WriteLine("  consumer lag at the end of the window (messages not yet consumed, from librdkafka statistics every Kafka:StatisticsIntervalMs):");
        Console.WriteLine("    " + (lagAtEnd.Count == 0 ? "(no statistics yet)" : string.Join(", ", lagAtEnd.Select(l => string.Create(c, $"{l.Key} {l.Value:N0}")))));
        Console.WriteLine(string.Create(c, $"  (against the raw consume rate timed with the group join, as before stop 31: {reportsPerSecond * hops / Math.Max(1, raw.ConsumeRateWithJoin):0.0000})"));
        Console.WriteLine(string.Create(c, $"hop efficiency = {reportsPerSecond:N1} reports/s × {hops:0.00} hops ÷ {raw.ConsumeRate:N0} raw consume msg/s = {efficiency:0.0000}"));
        web.Dispose();
        await app.StopAsync(CancellationToken.None);
        return produceErrors == 0 ? 0 : 1;
    }

    /// <summary>How old every group's commit must be before the records under it are deleted (<see cref="ConsumedRecordTrimmer"/>):
    /// readers without a group that tail a topic (the sla stage's scorecard history) follow its end well within this.</summary>
    private static readonly TimeSpan TrimKeep = TimeSpan.FromSeconds(3);

    /// <summary>The topics the trimmer may delete consumed records from, by the consumer groups that read them: the stages'
    /// inputs and the observer's, less compacted topics and any topic a stage restores state from.</summary>
    private static Dictionary<string, IReadOnlyList<string>> TrimmedTopics(IReadOnlyList<StageDefinition> stages)
    {
        var state = stages.SelectMany(s => s.CoPartitionedTopics.Except(s.InputTopics)).ToHashSet(StringComparer.Ordinal);
        bool Trimmable(string topic) => TopicCatalog.Get(topic).CleanupPolicy == "delete" && !state.Contains(topic);
        var groups = stages.ToDictionary(s => s.Name, s => (IReadOnlyList<string>)[.. s.InputTopics.Where(Trimmable)], StringComparer.Ordinal);
        groups[Observer.Group] = [.. Observer.Watched.Where(Trimmable)];
        return groups;
    }

    /// <summary>Where the process's CPU went in the window, by kind of thread (<see cref="ThreadCpu"/>): the stage threads
    /// summed (and each), then librdkafka's client threads, the embedded broker, the collector and the rest.</summary>
    internal static void PrintThreadCpu(List<(string Group, double Seconds)> groups, double processSeconds, double stageMessages)
    {
        if (groups.Count == 0 || processSeconds <= 0) return;
        var c = CultureInfo.InvariantCulture;
        string Share(double seconds) => string.Create(c, $"{seconds / processSeconds,6:P1} {1e6 * seconds / stageMessages,5:0.0} µs");
        var stages = groups.Where(g => g.Group.StartsWith("stage-", StringComparison.Ordinal)).ToList();
        Console.WriteLine("  CPU by thread in the window (share of the process, µs per stage message):");
        Console.WriteLine(string.Create(c, $"    {"stage threads",-42} {Share(stages.Sum(s => s.Seconds))}  ({string.Join(", ", stages.Select(s => $"{s.Group["stage-".Length..]} {s.Seconds / processSeconds:P0}"))})"));
        foreach (var (group, seconds) in groups.Where(g => !g.Group.StartsWith("stage-", StringComparison.Ordinal)))
            Console.WriteLine(string.Create(c, $"    {group,-42} {Share(seconds)}"));
        var unaccounted = processSeconds - groups.Sum(g => g.Seconds);
        if (unaccounted > 0.05 * processSeconds)
            Console.WriteLine(string.Create(c, $"    {"threads that ended in the window",-42} {Share(unaccounted)}"));
    }

    /// <summary>Each consumer group's lag summed over its partitions (pipeline_consumer_lag_messages), largest first.</summary>
    private static List<KeyValuePair<string, double>> LagByGroup() =>
        [.. ProcessorMetrics.ConsumerLag.GetAllLabelValues().GroupBy(l => l[0])
            .Select(g => new KeyValuePair<string, double>(g.Key, g.Sum(l => ProcessorMetrics.ConsumerLag.WithLabels(l).Value)))
            .OrderByDescending(l => l.Value)];

    /// <summary>Records per fetch request of a stage's consumer so far. The embedded broker answers a fetch with at most
    /// one record batch per partition, so this is about the producers' batch size times the partitions that had one.</summary>
    private static string PerFetch(string stage)
    {
        var requests = SumFor(ProcessorMetrics.FetchRequests, stage);
        return requests == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"fetches {requests,7:N0}  {SumFor(ProcessorMetrics.FetchedMessages, stage) / requests,5:0.0} records/fetch");
    }

    /// <summary>A counter's value summed over its children of one stage (the first label).</summary>
    internal static double SumFor(Prometheus.Counter counter, string stage) =>
        counter.GetAllLabelValues().Where(l => l[0] == stage).Sum(l => counter.WithLabels(l).Value);

    /// <summary>Records the stages produced and Kafka acknowledged, by topic, most first.</summary>
    private static IEnumerable<(string Topic, double Records)> ProducedByTopic() =>
        ProcessorMetrics.Produced.GetAllLabelValues().GroupBy(l => l[1], StringComparer.Ordinal)
            .Select(g => (Topic: g.Key, Records: g.Sum(l => ProcessorMetrics.Produced.WithLabels(l).Value)))
            .OrderByDescending(t => t.Records);

    private static double ProducedPerConsumed() => ProducedByTopic().Sum(t => t.Records) / Math.Max(1, StageConsumed());

    /// <summary>Messages every stage consumed and finished so far (processed or dead-lettered).</summary>
    private static double StageConsumed() =>
        ProcessorMetrics.Consumed.GetAllLabelValues().Sum(l => ProcessorMetrics.Consumed.WithLabels(l).Value);

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    /// <summary>Confluent framing (magic byte 0, schema id, Avro binary) with the subject's registered id, looked up once.</summary>
    private sealed class FeedEncoder(int schemaId)
    {
        private readonly SpecificDatumWriter<ReportSubmitted> writer = new(Schemas.Of<ReportSubmitted>());

        public static async Task<FeedEncoder> CreateAsync(Confluent.SchemaRegistry.ISchemaRegistryClient registry) =>
            new(await registry.GetSchemaIdAsync(Topics.ReportsSubmitted + "-value",
                new Confluent.SchemaRegistry.Schema(Schemas.Of<ReportSubmitted>().ToString(), Confluent.SchemaRegistry.SchemaType.Avro), normalize: false));

        public byte[] Encode(ReportSubmitted value)
        {
            using var stream = new MemoryStream(1024);
            stream.WriteByte(0);
            Span<byte> id = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(id, schemaId);
            stream.Write(id);
            writer.Write(value, new BinaryEncoder(stream));
            return stream.ToArray();
        }
    }

    /// <summary>
    /// Reads the topics where a report ends (the same outcomes the demo counts) and the first notices. It decodes with
    /// its own Avro readers (the registered schemas are the compiled ones), so the serdes under test do not measure
    /// themselves, and it fetches with a short wait so the instrument adds little latency of its own.
    /// </summary>
    private sealed class Observer : IDisposable
    {
        public const string Group = "bench-observer";

        public static readonly string[] Watched =
        [
            Topics.ReportsGrouped, Topics.ReportsRejected, Topics.ReportsClassified, Topics.ReportsReview, Topics.PoliceReferrals,
            Topics.ExchangeOutbound, Topics.TakedownRequested, Topics.NoticesIssued, Topics.DeadLetter("intake"),
        ];

        private readonly KafkaOptions kafka;
        private readonly ConcurrentDictionary<string, long> submittedAt;
        private readonly ConcurrentDictionary<string, byte> done = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, byte> noticed = new(StringComparer.Ordinal);
        private readonly ConcurrentQueue<double> latencies = new();
        private readonly ConcurrentQueue<double> heldLatencies = new();
        private readonly ConcurrentDictionary<string, byte> referred = new(StringComparer.Ordinal);
        private readonly CancellationTokenSource stop = new();
        private readonly TaskCompletionSource assigned = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Thread thread;
        private long measureFrom = long.MaxValue;

        public Observer(KafkaOptions kafka, ConcurrentDictionary<string, long> submittedAt)
        {
            this.kafka = kafka;
            this.submittedAt = submittedAt;
            thread = new Thread(Run) { IsBackground = true, Name = "bench-observer" };
        }

        public Task Assigned => assigned.Task;

        public long Done => done.Count;

        public long Notices => noticed.Count;

        public IEnumerable<double> Latencies => latencies;

        /// <summary>Reports referred to the police first: their notice waits for the police's release or its timeout
        /// (Routing:PoliceReleaseTimeout, 4 h of stage time = 4 s real at ×3600) by design.</summary>
        public IEnumerable<double> HeldLatencies => heldLatencies;

        public void Start() => thread.Start();

        /// <summary>Latencies are kept for reports submitted at or after <paramref name="timestamp"/>.</summary>
        public void MeasureFrom(long timestamp) => Interlocked.Exchange(ref measureFrom, timestamp);

        public void Stop()
        {
            stop.Cancel();
            thread.Join(TimeSpan.FromSeconds(10));
        }

        private void Run()
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(KafkaClients.Config(kafka))
            {
                GroupId = Group, AutoOffsetReset = AutoOffsetReset.Earliest, SessionTimeoutMs = 3000, HeartbeatIntervalMs = 750,
                // Commits only so that the embedded log trimmer knows what the observer has read.
                EnableAutoCommit = true, AutoCommitIntervalMs = 1000, FetchWaitMaxMs = 10,
            }).SetPartitionsAssignedHandler((_, _) => assigned.TrySetResult()).Build();
            consumer.Subscribe(Watched);
            while (!stop.IsCancellationRequested)
            {
                var r = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (r?.Message?.Value is not { } value) continue;
                try
                {
                    Observe(r.Topic, r.Message.Key, value);
                }
                catch (Exception e) when (e is Avro.AvroException or EndOfStreamException)
                {
                    // Not a record this observer reads: not an outcome.
                }
            }
            consumer.Close();
        }

        private void Observe(string topic, byte[]? key, byte[] value)
        {
            switch (topic)
            {
                case Topics.ReportsGrouped: Finished(Read<ReportGrouped>(value).reportId); break;
                case Topics.ReportsRejected:
                    var rejected = Read<ReportRejected>(value);
                    Finished(rejected.reportId ?? rejected.eventId);
                    break;
                case Topics.ReportsClassified:
                    var classified = Read<ReportClassified>(value);
                    if (classified.verdict == Verdict.NOT_ILLEGAL) Finished(classified.report.reportId);
                    break;
                case Topics.ReportsReview: Finished(Read<ReviewRequested>(value).report.reportId); break;
                case Topics.PoliceReferrals:
                    var referral = Read<PoliceReferral>(value).report.reportId;
                    referred.TryAdd(referral, 0);
                    Finished(referral);
                    break;
                case Topics.ExchangeOutbound: Finished(Read<ReportForwarded>(value).report.reportId); break;
                case Topics.TakedownRequested: Finished(Read<TakedownRequested>(value).report.reportId); break;
                case Topics.NoticesIssued:
                    var notice = Read<TakedownNotice>(value);
                    if (notice.kind == NoticeKind.REMINDER) break;
                    var now = Stopwatch.GetTimestamp();
                    foreach (var id in notice.reportIds)
                    {
                        if (!noticed.TryAdd(id, 0) || !submittedAt.TryGetValue(id, out var at) || at < Interlocked.Read(ref measureFrom)) continue;
                        (referred.ContainsKey(id) ? heldLatencies : latencies).Enqueue(Stopwatch.GetElapsedTime(at, now).TotalMilliseconds);
                    }
                    break;
                default:
                    if (key is not null) Finished(Encoding.UTF8.GetString(key)); // junk on reports.submitted, dead-lettered by intake
                    break;
            }
        }

        private void Finished(string reportId)
        {
            if (submittedAt.ContainsKey(reportId)) done.TryAdd(reportId, 0);
        }

        private static readonly ConcurrentDictionary<Type, object> Readers = new();

        /// <summary>The observer needs ids, the verdict and the notice's kind: the audit stage's projection leaves out
        /// every large field it does not read either.</summary>
        private static readonly AvroProjection Unread = Pipeline.Audit.AuditMapper.Unread;

        private static T Read<T>(byte[] value) where T : class, ISpecificRecord
        {
            // The stages' own compiled reader: the observer shares the two cores with the pipeline it measures.
            var reader = (CompiledAvroReader.ReadItem)Readers.GetOrAdd(typeof(T), _ => CompiledAvroReader.Compile(Schemas.Of<T>(), Unread));
            return (T)reader(new BoundedAvroDecoder(value.AsMemory(5)))!;
        }

        public void Dispose()
        {
            stop.Cancel();
            if (thread.IsAlive) thread.Join(TimeSpan.FromSeconds(10));
            stop.Dispose();
        }
    }

}
