using Confluent.SchemaRegistry;
using Pipeline.Loopback;
using Pipeline.Platform;

namespace Pipeline.IntegrationTests.Infrastructure;

/// <summary>Every stage as its own process against the test backend, plus the hosters' web server.</summary>
public sealed class RunningPipeline : IAsyncDisposable
{
    public static readonly string[] Services =
    [
        "Pipeline.Intake", "Pipeline.Geolocation", "Pipeline.Classification", "Pipeline.Routing",
        "Pipeline.Takedown", "Pipeline.Recheck", "Pipeline.Sla",
    ];

    private readonly Dictionary<string, ServiceProcess> processes = [];
    private readonly List<ServiceProcess> replicas = [];
    private readonly List<ServiceProcess> retired = [];
    private readonly CachedSchemaRegistryClient registry;

    private RunningPipeline(KafkaBackend backend, HosterWeb web, string config, IReadOnlyDictionary<string, string>? environment)
    {
        Backend = backend;
        Environment = environment is null ? backend.Environment : backend.Environment.Concat(environment).ToDictionary();
        Web = web;
        ConfigFile = config;
        registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = backend.SchemaRegistryUrl });
        Serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        Publisher = new EventPublisher(Microsoft.Extensions.Options.Options.Create(new KafkaOptions
        {
            BootstrapServers = backend.BootstrapServers, SchemaRegistryUrl = backend.SchemaRegistryUrl,
            SocketTimeoutMs = backend.Cluster is null ? null : Pipeline.Platform.Embedded.EmbeddedRuntime.SocketTimeoutMs,
        }), Serdes, "integration-test");
    }

    public KafkaBackend Backend { get; }

    /// <summary>The services' environment: the backend's settings and the test's own (secrets, which never go in a file).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; }
    public HosterWeb Web { get; }
    public string ConfigFile { get; }
    public AvroSerdes Serdes { get; }
    public EventPublisher Publisher { get; }

    public ServiceProcess this[string service] => processes[service];

    public static async Task<RunningPipeline> StartAsync(KafkaBackend backend, Func<RunningPipeline, Task>? beforeServices = null,
        Action<System.Text.Json.Nodes.JsonObject>? config = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var web = await HosterWeb.StartAsync();
        var pipeline = new RunningPipeline(backend, web, TestWorld.WriteConfig(web, config), environment);
        if (beforeServices is not null) await beforeServices(pipeline);
        try
        {
            foreach (var s in Services) pipeline.processes[s] = ServiceProcess.Start(s, pipeline.Environment, pipeline.ConfigFile);
            await Task.WhenAll(pipeline.processes.Values.Select(p => p.WaitReadyAsync(TimeSpan.FromSeconds(60))));
            return pipeline;
        }
        catch
        {
            // The caller never gets the pipeline to dispose: stop what was started here, or its processes outlive the test.
            await pipeline.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts another member of the service's consumer groups, as its own process.</summary>
    public async Task<ServiceProcess> StartReplicaAsync(string service)
    {
        var replica = ServiceProcess.Start(service, Environment, ConfigFile);
        lock (replicas) replicas.Add(replica);
        await replica.WaitReadyAsync(TimeSpan.FromSeconds(60));
        return replica;
    }

    public async Task RestartAsync(string service, TimeSpan? timeout = null)
    {
        retired.Add(processes[service]);
        processes[service] = ServiceProcess.Start(service, Environment, ConfigFile);
        await processes[service].WaitReadyAsync(timeout ?? TimeSpan.FromSeconds(60));
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(processes.Values.Concat(replicas).Concat(retired).Select(p => p.DisposeAsync().AsTask()));
        // Keep each service's output for diagnosis (CI prints the folder on failure).
        var logs = Path.Combine(Path.GetTempPath(), "pipeline-it-logs");
        Directory.CreateDirectory(logs);
        foreach (var (name, p) in processes) await File.WriteAllTextAsync(Path.Combine(logs, name + ".log"), p.Log);
        for (var i = 0; i < replicas.Count; i++) await File.WriteAllTextAsync(Path.Combine(logs, $"{replicas[i].Name}.replica-{i + 1}.log"), replicas[i].Log);
        for (var i = 0; i < retired.Count; i++) await File.WriteAllTextAsync(Path.Combine(logs, $"{retired[i].Name}.before-restart-{i + 1}.log"), retired[i].Log);
        Publisher.Dispose();
        registry.Dispose();
        await Web.DisposeAsync();
        File.Delete(ConfigFile);
    }
}
