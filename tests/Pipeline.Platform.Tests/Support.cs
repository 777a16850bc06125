using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text;
using Avro.Specific;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform.Embedded;
using Pipeline.TestSupport;

namespace Pipeline.Platform.Tests;

/// <summary>One embedded runtime (Kafka mock cluster + schema registry) per test, plus the clients a test needs.</summary>
internal sealed class Harness : IAsyncDisposable
{
    private readonly List<WebApplication> apps = [];
    private readonly List<IDisposable> disposables = [];

    private Harness(EmbeddedRuntime runtime)
    {
        Runtime = runtime;
        Clients = PipelineClients.For(runtime, "test-publisher");
        RawProducer = KafkaClients.Producer(Kafka, "test-raw-producer");
    }

    public EmbeddedRuntime Runtime { get; }
    public PipelineClients Clients { get; }
    public KafkaOptions Kafka => Clients.Kafka;
    public CachedSchemaRegistryClient RegistryClient => Clients.Registry;
    public AvroSerdes Serdes => Clients.Serdes;
    public EventPublisher Publisher => Clients.Publisher;
    public IProducer<byte[]?, byte[]?> RawProducer { get; }

    public static async Task<Harness> StartAsync() => new(await EmbeddedRuntime.StartAsync());

    /// <summary>A stage name unique to this test (so the process-wide Prometheus counters are exact), with its own
    /// dead-letter topic and the DeadLetter schema registered for it.</summary>
    public string NewStage(string prefix)
    {
        var stage = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
        Runtime.Cluster.CreateTopic(Topics.DeadLetter(stage), partitions: 3, replicationFactor: 3);
        Runtime.Registry.Register(Topics.DeadLetter(stage) + "-value", Schemas.Of<DeadLetter>().ToString());
        return stage;
    }

    public WebApplication BuildHost<TProcessor>(string stage, TProcessor processor, IDictionary<string, string?>? settings = null)
        where TProcessor : class, IProcessor<ReportSubmitted> =>
        BuildHost(stage, processor, s => s.Consumes<ReportSubmitted>(Topics.ReportsSubmitted), settings);

    /// <summary>A host running one stage with the given inputs.</summary>
    public WebApplication BuildHost<TProcessor>(string stage, TProcessor processor, Action<StageInputs<TProcessor>> inputs, IDictionary<string, string?>? settings = null)
        where TProcessor : class
    {
        var builder = NewBuilder(settings);
        builder.Services.AddSingleton(processor);
        ConfigureServices?.Invoke(builder.Services);
        builder.AddStage(stage, inputs);
        var app = builder.Build();
        apps.Add(app);
        return app;
    }

    public Action<IServiceCollection>? ConfigureServices { get; set; }

    private PipelineHostBuilder NewBuilder(IDictionary<string, string?>? settings)
    {
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(Runtime.Configuration);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Processing:InitialBackoffMs"] = "10",
            ["Processing:MaxBackoffMs"] = "100",
            ["Processing:ShutdownTimeoutSeconds"] = "10",
        });
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    /// <summary>A host with no stage, only the topic view <typeparamref name="TView"/> (as the operator console is).</summary>
    public WebApplication BuildViewHost<TView>(TView view, IDictionary<string, string?>? settings = null) where TView : class, ITopicView
    {
        var builder = NewBuilder(settings);
        builder.Services.AddSingleton(view);
        builder.Services.AddTopicView<TView>();
        var app = builder.Build();
        apps.Add(app);
        return app;
    }

    /// <summary>Publishes inputs concurrently and returns where each landed, by eventId.</summary>
    public async Task<Dictionary<string, TopicPartitionOffset>> PublishAsync(IEnumerable<ReportSubmitted> inputs, int? partition = null)
    {
        var list = inputs.ToList();
        var results = await Task.WhenAll(list.Select(i => Publisher.PublishAsync(Topics.ReportsSubmitted, i.report.reportId, i, partition)));
        return list.Zip(results).ToDictionary(p => p.First.eventId, p => p.Second);
    }

    public async Task<TopicPartitionOffset> PublishRawAsync(string topic, byte[]? key, byte[]? value, int partition)
    {
        var r = await RawProducer.ProduceAsync(new TopicPartition(topic, partition), new Message<byte[]?, byte[]?> { Key = key, Value = value });
        return r.TopicPartitionOffset;
    }

    public OutputReader<T> Reader<T>(string topic, int? partitions = null) where T : class, ISpecificRecord
    {
        var reader = new OutputReader<T>(this, topic, partitions);
        disposables.Add(reader);
        return reader;
    }

    /// <summary>The committed offsets of a consumer group (an OffsetFetch; does not join the group).</summary>
    public Dictionary<int, long> Committed(string group, string topic)
    {
        using var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
            { BootstrapServers = Kafka.BootstrapServers, GroupId = group, EnableAutoCommit = false }).Build();
        var tps = Enumerable.Range(0, TopicCatalog.Get(topic).Partitions).Select(p => new TopicPartition(topic, p)).ToList();
        return c.Committed(tps, TimeSpan.FromSeconds(10)).ToDictionary(t => t.Partition.Value, t => t.Offset.Value);
    }

    public Dictionary<int, long> EndOffsets(string topic, int? partitions = null)
    {
        using var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
            { BootstrapServers = Kafka.BootstrapServers, GroupId = "watermarks-" + Guid.NewGuid() }).Build();
        return Enumerable.Range(0, partitions ?? TopicCatalog.Get(topic).Partitions)
            .ToDictionary(p => p, p => c.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in apps)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                await app.StopAsync(cts.Token);
            }
            catch (Exception)
            {
                // already stopped or failed: the test asserted what mattered
            }
            await app.DisposeAsync();
        }
        foreach (var d in disposables) d.Dispose();
        RawProducer.Dispose();
        Clients.Dispose();
        await Runtime.DisposeAsync();
    }

    // ---- synthetic data (hosts under .example, random hashes) ----

    private static readonly DateTime Epoch = new(2026, 1, 5, 9, 30, 0, DateTimeKind.Utc);

    public static ReportSubmitted Submitted(string reportId)
    {
        var report = new Report
        {
            reportId = reportId,
            sourceHotline = "test-hotline",
            sourceReference = "ref-" + reportId,
            externalIds = new Dictionary<string, string>(),
            receivedAt = Epoch,
            reportedAt = null,
            url = $"https://files{reportId.Length % 7}.example/media/{reportId}.jpg",
            parentUrl = null,
            isSourceUrl = true,
            contentType = ContentType.IMAGE,
            siteType = SiteType.WEBSITE,
            commercial = false,
            hashes = new ContentHashes { sha256 = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) },
            reporterType = ReporterType.CRAWLER,
            reporterContact = null,
            assessment = null,
            hops = new List<string>(),
        };
        return new ReportSubmitted { eventId = EventIds.Derive("submitted", reportId), caseKey = null, report = report, submittedAt = Epoch };
    }

    public static IEnumerable<ReportSubmitted> Submitted(string prefix, int count) =>
        Enumerable.Range(0, count).Select(i => Submitted($"{prefix}-{i}"));

    public static string AcceptedId(ReportSubmitted input) => EventIds.Derive("accepted", input.eventId);

    public static ReportAccepted Accept(ReportSubmitted input) => new()
    {
        eventId = AcceptedId(input),
        caseKey = input.report.url,
        report = input.report,
        caseInfo = new CaseInfo
        {
            normalizedUrl = input.report.url,
            host = new Uri(input.report.url).Host,
            caseOpenedAt = Epoch,
            reportCount = 1,
            reupload = false,
            userinfoRemoved = false,
        },
        acceptedAt = Epoch,
    };

    // ---- waiting ----

    public static Task Eventually(Func<bool> condition, TimeSpan timeout, Func<string> describe) => Polling.Until(condition, timeout, describe);

    public static Task Eventually(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe) =>
        Polling.Until(condition, timeout, describe, TimeSpan.FromMilliseconds(50));

    public static string Header(Headers headers, string name) =>
        headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : throw new KeyNotFoundException($"header {name} missing");

    /// <summary>Entries the offset tracker of a stage still holds.</summary>
    public static int TrackedEntries(WebApplication app) =>
        app.Services.GetServices<IHostedService>().OfType<ProcessorHost>().Single().Tracker.Tracked;
}

/// <summary>Reads a topic from the beginning (all partitions assigned, no group), deserialising values.</summary>
internal sealed class OutputReader<T> : IDisposable where T : class, ISpecificRecord
{
    private readonly Harness harness;
    private readonly string topic;
    private readonly IConsumer<byte[]?, byte[]?> consumer;

    public sealed record Record(string? Key, byte[]? RawKey, T Value, Headers Headers, TopicPartitionOffset Position);

    public OutputReader(Harness harness, string topic, int? partitions = null)
    {
        this.harness = harness;
        this.topic = topic;
        consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = harness.Kafka.BootstrapServers,
            GroupId = "test-reader-" + Guid.NewGuid(),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            SessionTimeoutMs = 3000,
            HeartbeatIntervalMs = 750,
        }).Build();
        var count = partitions ?? (TopicCatalog.All.FirstOrDefault(t => t.Name == topic)?.Partitions ?? 3);
        consumer.Assign(Enumerable.Range(0, count).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
    }

    public List<Record> Records { get; } = [];

    /// <summary>Records without a value (deletes, state-store fences), kept apart.</summary>
    public List<Record> Tombstones { get; } = [];

    /// <summary>Reads what is available for up to <paramref name="duration"/>.</summary>
    public async Task<List<Record>> PollAsync(TimeSpan duration)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(50));
            if (r?.Message is null || r.IsPartitionEOF) continue;
            if (r.Message.Value is null)
            {
                Tombstones.Add(new Record(r.Message.Key is null ? null : Encoding.UTF8.GetString(r.Message.Key), r.Message.Key, null!, r.Message.Headers, r.TopicPartitionOffset));
                continue;
            }
            var value = await harness.Serdes.DeserializeAsync<T>(r.Message.Value, topic);
            Records.Add(new Record(r.Message.Key is null ? null : Encoding.UTF8.GetString(r.Message.Key), r.Message.Key, value, r.Message.Headers, r.TopicPartitionOffset));
        }
        return Records;
    }

    /// <summary>Reads until <paramref name="condition"/> holds on everything read so far, then for <paramref name="settle"/>
    /// more (to catch extra records), failing after <paramref name="timeout"/>.</summary>
    public async Task<List<Record>> ReadUntilAsync(Func<List<Record>, bool> condition, TimeSpan timeout, TimeSpan? settle = null)
    {
        var sw = Stopwatch.StartNew();
        while (!condition(Records))
        {
            if (sw.Elapsed > timeout) Assert.Fail($"{topic}: condition not met after {timeout.TotalSeconds:0.#} s; {Records.Count} record(s) read");
            await PollAsync(TimeSpan.FromMilliseconds(100));
        }
        if (settle is { } s) await PollAsync(s);
        return Records;
    }

    /// <summary>Reads until the position of every partition reached <paramref name="ends"/> (e.g. high watermarks).</summary>
    public async Task ReadToAsync(IReadOnlyDictionary<int, long> ends, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (ends.Any(e => e.Value > 0 && consumer.Position(new TopicPartition(topic, e.Key)).Value < e.Value))
        {
            if (sw.Elapsed > timeout) Assert.Fail($"{topic}: did not reach {string.Join(",", ends)} within {timeout.TotalSeconds:0.#} s");
            await PollAsync(TimeSpan.FromMilliseconds(50));
        }
    }

    public Task<List<Record>> ReadAtLeastAsync(int count, TimeSpan timeout, TimeSpan? settle = null) =>
        ReadUntilAsync(r => r.Count >= count, timeout, settle);

    public void Dispose()
    {
        consumer.Close();
        consumer.Dispose();
    }
}

/// <summary>Maps each ReportSubmitted to one ReportAccepted; optional behaviour hooks per input (may throw).</summary>
internal class AcceptingProcessor : IProcessor<ReportSubmitted>, IPartitionAware
{
    private readonly Func<Incoming<ReportSubmitted>, int, Task>? before;

    public AcceptingProcessor(Func<Incoming<ReportSubmitted>, int, Task>? before = null) => this.before = before;

    public ConcurrentDictionary<string, int> Attempts { get; } = new();
    public ConcurrentDictionary<TopicPartition, bool> Assigned { get; } = new();
    public int Processed => processed;
    private int processed;

    public async ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken)
    {
        var attempt = Attempts.AddOrUpdate(message.Value.report.reportId, 1, (_, n) => n + 1);
        if (before is not null) await before(message, attempt);
        output.Send(Topics.ReportsAccepted, message.Value.report.url, Harness.Accept(message.Value));
        Interlocked.Increment(ref processed);
    }

    public void OnAssigned(IReadOnlyCollection<TopicPartition> partitions)
    {
        foreach (var p in partitions) Assigned[p] = true;
    }

    public void OnRevoked(IReadOnlyCollection<TopicPartition> partitions)
    {
        foreach (var p in partitions) Assigned.TryRemove(p, out _);
    }
}

/// <summary>An ISchemaRegistryClient that forwards to a real one, except that schema fetches by id fail with a
/// network error while <see cref="Outage"/> is set (a registry outage as seen by a deserialiser).</summary>
public class FlakyRegistry : DispatchProxy
{
    public ISchemaRegistryClient? Target { get; set; }
    private volatile bool outage;

    public bool Outage { get => outage; set => outage = value; }

    public static ISchemaRegistryClient Wrap(ISchemaRegistryClient target, out FlakyRegistry control)
    {
        var proxy = DispatchProxy.Create<ISchemaRegistryClient, FlakyRegistry>();
        control = (FlakyRegistry)(object)proxy;
        control.Target = target;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (Outage && targetMethod.Name.StartsWith("GetSchema", StringComparison.Ordinal))
            throw new HttpRequestException("Connection refused (127.0.0.1, simulated registry outage)");
        try
        {
            return targetMethod.Invoke(Target, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}
