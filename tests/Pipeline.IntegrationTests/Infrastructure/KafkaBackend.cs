using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Confluent.SchemaRegistry;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Networks;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Testcontainers.Kafka;

namespace Pipeline.IntegrationTests.Infrastructure;

/// <summary>
/// The one fixture that gives tests a Kafka endpoint and a Schema Registry:
/// an external cluster when PIPELINE_TEST_BOOTSTRAP_SERVERS (and PIPELINE_TEST_SCHEMA_REGISTRY_URL) are set;
/// otherwise Kafka + Schema Registry containers through Testcontainers when a Docker engine is reachable;
/// otherwise the embedded runtime (librdkafka's mock cluster + the embedded registry). PIPELINE_TEST_BACKEND
/// (external | testcontainers | embedded) forces one. Every topic of infra/kafka/topics.json is created and every
/// schema registered, whichever backend it is. The same tests run on all three; none is skipped.
/// </summary>
public sealed class KafkaBackend : IAsyncLifetime
{
    private EmbeddedRuntime? embedded;
    private INetwork? network;
    private KafkaContainer? kafka;
    private IContainer? registry;

    public string Kind { get; private set; } = "";
    public string BootstrapServers { get; private set; } = "";
    public string SchemaRegistryUrl { get; private set; } = "";

    /// <summary>Fault injection, only on the embedded backend.</summary>
    public EmbeddedKafkaCluster? Cluster => embedded?.Cluster;

    /// <summary>Settings a service needs to use this backend.</summary>
    public IReadOnlyDictionary<string, string> Environment
    {
        get
        {
            var environment = new Dictionary<string, string>
            {
                ["Kafka__BootstrapServers"] = BootstrapServers,
                ["Kafka__SchemaRegistryUrl"] = SchemaRegistryUrl,
                ["Kafka__SessionTimeoutMs"] = "3000",
                ["Kafka__StatisticsIntervalMs"] = "1000",
                ["Audit__TokenKey"] = EmbeddedRuntime.DevelopmentTokenKey,
            };
            // The embedded cluster's own client settings (a mock broker taken down answers no request in flight).
            if (embedded is not null) environment["Kafka__SocketTimeoutMs"] = EmbeddedRuntime.SocketTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return environment;
        }
    }

    public async Task InitializeAsync()
    {
        var forced = System.Environment.GetEnvironmentVariable("PIPELINE_TEST_BACKEND");
        var external = System.Environment.GetEnvironmentVariable("PIPELINE_TEST_BOOTSTRAP_SERVERS");
        if (forced == "external" || (forced is null && !string.IsNullOrEmpty(external)))
        {
            Kind = "external";
            BootstrapServers = external ?? throw new InvalidOperationException("PIPELINE_TEST_BACKEND=external needs PIPELINE_TEST_BOOTSTRAP_SERVERS.");
            SchemaRegistryUrl = System.Environment.GetEnvironmentVariable("PIPELINE_TEST_SCHEMA_REGISTRY_URL")
                ?? throw new InvalidOperationException("PIPELINE_TEST_BOOTSTRAP_SERVERS is set but PIPELINE_TEST_SCHEMA_REGISTRY_URL is not. Fix: set both.");
            await ProvisionAsync();
            return;
        }
        if (forced is null or "testcontainers" && await TryStartContainersAsync(required: forced == "testcontainers")) return;
        Kind = "embedded";
        // PIPELINE_TEST_PARTITIONS: every topic's partition count on the embedded cluster, for runs too long for its
        // ~5 MiB kept per partition (the full-size fault run); the catalog's counts otherwise.
        embedded = await EmbeddedRuntime.StartAsync(3, TimeSpan.FromSeconds(5), TestWorld.Setting("PIPELINE_TEST_PARTITIONS", null, max: 1000));
        BootstrapServers = embedded.BootstrapServers;
        SchemaRegistryUrl = embedded.SchemaRegistryUrl;
    }

    private async Task<bool> TryStartContainersAsync(bool required)
    {
        try
        {
            network = new NetworkBuilder().Build();
            kafka = new KafkaBuilder("confluentinc/cp-kafka:7.6.1").WithNetwork(network).WithNetworkAliases("kafka").Build();
        }
        catch (DockerUnavailableException) when (!required)
        {
            return false;
        }
        await network.CreateAsync();
        await kafka.StartAsync();
        registry = new ContainerBuilder("confluentinc/cp-schema-registry:7.6.1")
            .WithNetwork(network)
            .WithPortBinding(8081, true)
            .WithEnvironment("SCHEMA_REGISTRY_HOST_NAME", "schema-registry")
            .WithEnvironment("SCHEMA_REGISTRY_LISTENERS", "http://0.0.0.0:8081")
            .WithEnvironment("SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS", "PLAINTEXT://kafka:9092")
            .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(r => r.ForPort(8081).ForPath("/subjects")))
            .Build();
        await registry.StartAsync();
        Kind = "testcontainers";
        BootstrapServers = kafka.GetBootstrapAddress();
        SchemaRegistryUrl = $"http://{registry.Hostname}:{registry.GetMappedPublicPort(8081)}";
        await ProvisionAsync();
        return true;
    }

    /// <summary>Creates the catalog's topics (if missing) and registers every schema on a real cluster.</summary>
    private async Task ProvisionAsync()
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).Build();
        var brokers = admin.GetMetadata(TimeSpan.FromSeconds(30)).Brokers.Count;
        var specs = TopicCatalog.All.Select(t => new TopicSpecification
        {
            Name = t.Name,
            NumPartitions = t.Partitions,
            ReplicationFactor = (short)Math.Min(t.ReplicationFactor, brokers),
            Configs = new Dictionary<string, string> { ["cleanup.policy"] = t.CleanupPolicy, ["retention.ms"] = t.RetentionMs.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        }).ToList();
        try
        {
            await admin.CreateTopicsAsync(specs);
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
        }
        using var client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = SchemaRegistryUrl });
        await SchemaRegistration.RegisterAllAsync(client);
    }

    public async Task DisposeAsync()
    {
        if (embedded is not null) await embedded.DisposeAsync();
        if (registry is not null) await registry.DisposeAsync();
        if (kafka is not null) await kafka.DisposeAsync();
        if (network is not null) await network.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class KafkaCollection : ICollectionFixture<KafkaBackend>
{
    public const string Name = "kafka";
}

public static class KafkaBackendWatch
{
    /// <summary>A watcher of <paramref name="topics"/> on this backend.</summary>
    public static Pipeline.TestSupport.TopicWatcher Watch(this KafkaBackend backend, params string[] topics) =>
        new(backend.BootstrapServers, backend.SchemaRegistryUrl, topics);
}
