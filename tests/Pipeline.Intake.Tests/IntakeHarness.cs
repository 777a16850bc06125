using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Avro.Specific;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Intake;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.TestSupport;

namespace Pipeline.Intake.Tests;

/// <summary>An embedded runtime plus intake hosts started in this process (their HTTP API on 127.0.0.1).</summary>
internal sealed class IntakeHarness : IAsyncDisposable
{
    public const string Hotline = "nl-hotline";
    public const string Key = "test-key-nl-0123456789abcdef";
    public const string OtherHotline = "de-hotline";
    public const string OtherKey = "test-key-de-0123456789abcdef";

    private readonly List<WebApplication> apps = [];
    private readonly List<IDisposable> disposables = [];

    private IntakeHarness(EmbeddedRuntime runtime)
    {
        Runtime = runtime;
        Clients = PipelineClients.For(runtime, "test-publisher");
    }

    public EmbeddedRuntime Runtime { get; }
    public PipelineClients Clients { get; }
    public KafkaOptions Kafka => Clients.Kafka;
    public CachedSchemaRegistryClient RegistryClient => Clients.Registry;
    public AvroSerdes Serdes => Clients.Serdes;
    public EventPublisher Publisher => Clients.Publisher;

    public static async Task<IntakeHarness> StartAsync() => new(await EmbeddedRuntime.StartAsync());

    public async Task<(WebApplication App, Uri Url)> StartIntakeAsync(IDictionary<string, string?>? settings = null, TimeProvider? time = null, ILoggerProvider? logs = null)
    {
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Builder.Logging.SetMinimumLevel(LogLevel.Warning);
        if (logs is not null) builder.Builder.Logging.AddProvider(logs);
        builder.Configuration.AddInMemoryCollection(Runtime.Configuration);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Processing:InitialBackoffMs"] = "10",
            ["Processing:MaxBackoffMs"] = "100",
            ["Processing:ShutdownTimeoutSeconds"] = "10",
            ["Intake:KnownHotlines:0"] = Hotline,
            ["Intake:KnownHotlines:1"] = OtherHotline,
            [$"Intake:ApiKeys:{Hotline}"] = ApiKeys.Hash(Key),
            [$"Intake:ApiKeys:{OtherHotline}"] = ApiKeys.Hash(OtherKey),
        });
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        if (time is not null) builder.Services.AddSingleton(time);
        var app = builder.AddIntake().Build().MapIntakeApi();
        apps.Add(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new Uri(address));
    }

    public static async Task StopAsync(WebApplication app)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await app.StopAsync(cts.Token);
    }

    public Task<TopicPartitionOffset> SubmitAsync(ReportSubmitted submitted) =>
        Publisher.PublishAsync(Topics.ReportsSubmitted, submitted.report.reportId, submitted);

    public TopicReader<T> Reader<T>(string topic) where T : class, ISpecificRecord
    {
        var reader = new TopicReader<T>(this, topic);
        disposables.Add(reader);
        return reader;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in apps)
        {
            try { await StopAsync(app); }
            catch (Exception) { /* already stopped */ }
            await app.DisposeAsync();
        }
        foreach (var d in disposables) d.Dispose();
        Clients.Dispose();
        await Runtime.DisposeAsync();
    }

    // ---- synthetic data: hosts under .example/.test, random hashes ----

    public static readonly DateTime T0 = new(2026, 1, 5, 9, 30, 0, DateTimeKind.Utc);

    public static string RandomHex(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));

    public static ReportSubmitted Submitted(string reportId, string url, string? sha256 = null, string hotline = Hotline) => new()
    {
        eventId = EventIds.Derive("submitted", reportId),
        caseKey = null,
        submittedAt = T0,
        report = new Report
        {
            reportId = reportId,
            sourceHotline = hotline,
            sourceReference = "ref-" + reportId,
            externalIds = new Dictionary<string, string>(),
            receivedAt = T0,
            reportedAt = null,
            url = url,
            parentUrl = null,
            isSourceUrl = true,
            contentType = ContentType.IMAGE,
            siteType = SiteType.WEBSITE,
            commercial = false,
            hashes = new ContentHashes { sha256 = sha256 ?? RandomHex(32) },
            reporterType = ReporterType.CRAWLER,
            reporterContact = null,
            assessment = null,
            hops = [],
        },
    };

    public static Task Eventually(Func<bool> condition, TimeSpan timeout, Func<string> describe) => Polling.Until(condition, timeout, describe);
}

/// <summary>Reads a topic from the beginning (all partitions assigned, no group).</summary>
internal sealed class TopicReader<T> : IDisposable where T : class, ISpecificRecord
{
    private readonly IntakeHarness harness;
    private readonly string topic;
    private readonly IConsumer<byte[]?, byte[]?> consumer;

    public TopicReader(IntakeHarness harness, string topic)
    {
        this.harness = harness;
        this.topic = topic;
        consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = harness.Kafka.BootstrapServers, GroupId = "test-reader-" + Guid.NewGuid(),
            AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false,
        }).Build();
        consumer.Assign(Enumerable.Range(0, TopicCatalog.Get(topic).Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
    }

    public List<(string? Key, T Value)> Records { get; } = [];

    /// <summary>The Kafka headers of each record, in the order of <see cref="Records"/>.</summary>
    public List<Headers> Headers { get; } = [];

    public async Task PollAsync(TimeSpan duration)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(50));
            if (r?.Message is null || r.IsPartitionEOF || r.Message.Value is null) continue;
            Records.Add((r.Message.Key is null ? null : Encoding.UTF8.GetString(r.Message.Key), await harness.Serdes.DeserializeAsync<T>(r.Message.Value, topic)));
            Headers.Add(r.Message.Headers ?? []);
        }
    }

    public async Task<List<(string? Key, T Value)>> ReadUntilAsync(Func<List<(string? Key, T Value)>, bool> condition, TimeSpan timeout, TimeSpan? settle = null)
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

    public void Dispose()
    {
        consumer.Close();
        consumer.Dispose();
    }
}

/// <summary>Keeps every log entry at Warning or above, to prove what was (not) logged.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    public System.Collections.Concurrent.ConcurrentQueue<(string Category, LogLevel Level, string Message, Exception? Error)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) owner.Entries.Enqueue((category, logLevel, formatter(state, exception), exception));
        }
    }
}
