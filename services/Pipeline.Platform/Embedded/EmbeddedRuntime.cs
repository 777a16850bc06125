using Confluent.SchemaRegistry;
using Pipeline.Registry;

namespace Pipeline.Platform.Embedded;

/// <summary>
/// Kafka and a Schema Registry in this process: the embedded cluster (librdkafka's mock cluster) with every topic of
/// infra/kafka/topics.json created, and the embedded registry on 127.0.0.1 with every value schema registered.
/// Services connect to it like to any other cluster: bootstrap servers and registry URL are configuration.
/// </summary>
public sealed class EmbeddedRuntime : IAsyncDisposable
{
    private readonly EmbeddedClusterHealth health;

    private EmbeddedRuntime(EmbeddedKafkaCluster cluster, EmbeddedSchemaRegistry registry, TimeSpan healthInterval)
    {
        Cluster = cluster;
        Registry = registry;
        health = new EmbeddedClusterHealth(cluster.BootstrapServers, healthInterval);
    }

    public EmbeddedKafkaCluster Cluster { get; }

    public EmbeddedSchemaRegistry Registry { get; }

    public string BootstrapServers => Cluster.BootstrapServers;

    public string SchemaRegistryUrl => Registry.Url;

    /// <summary>The fetch wait for consumers of this cluster. Lower costs idle CPU in ~25 polling clients.</summary>
    public const int FetchWaitMaxMs = 10;

    /// <summary>linger.ms for producers on this cluster. The mock broker's cost grows with every request and every record
    /// batch it keeps (each fetch scans the partition's batches from the start: <c>rd_kafka_mock_msgset_find</c>, 6% of
    /// all CPU in a profile of `pipeline bench pipeline`), and the stages' records are spread over many partitions, so
    /// at 5 ms most batches held one record. 10 ms: closed loop 732–1,026 → 1,551 reports/s, p99 at 50 reports/s
    /// 101 → 214 ms (8 hops each wait up to one linger more); 20 ms was faster again but took that p99 to 303 ms.
    /// Real clusters keep the default (Kafka:LingerMs, 5).</summary>
    public const int LingerMs = 10;

    /// <summary>The socket timeout for clients of this cluster: a mock broker taken down leaves requests in flight to it
    /// unanswered until this timeout (librdkafka's default is 60 s).</summary>
    public const int SocketTimeoutMs = 10_000;

    /// <summary>Configuration for services that should use this runtime (Kafka:BootstrapServers, Kafka:SchemaRegistryUrl,
    /// a session timeout small enough for the mock cluster's rebalances, a short fetch wait: the mock broker holds
    /// an empty fetch for the whole fetch.wait.max.ms even when data arrives meanwhile, which cost up to 500 ms per
    /// consume hop, and a short socket timeout, see <see cref="SocketTimeoutMs"/>). Real clusters keep the defaults.</summary>
    public IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
    {
        ["Kafka:BootstrapServers"] = BootstrapServers,
        ["Kafka:SchemaRegistryUrl"] = SchemaRegistryUrl,
        ["Kafka:SessionTimeoutMs"] = "3000",
        ["Kafka:StatisticsIntervalMs"] = "2000",
        ["Kafka:FetchWaitMaxMs"] = FetchWaitMaxMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Kafka:LingerMs"] = LingerMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Kafka:SocketTimeoutMs"] = SocketTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        // The audit's case-token key for this throw-away cluster (its data is gone at exit); a real deployment sets its
        // own secret (Audit__TokenKey, docs/configuration.md).
        ["Audit:TokenKey"] = DevelopmentTokenKey,
    };

    /// <summary>A published, synthetic key for case tokens: only for the embedded runtime, tests and compose.</summary>
    public const string DevelopmentTokenKey = "AlAs32mlNsPV7vWsBL9YLnW8GwaeNIEkwTlzYU2AgvA=";

    public static Task<EmbeddedRuntime> StartAsync(int brokers = 3, CancellationToken ct = default) => StartAsync(brokers, TimeSpan.FromSeconds(5), null, ct);

    public static Task<EmbeddedRuntime> StartAsync(int brokers, TimeSpan healthInterval, CancellationToken ct = default) => StartAsync(brokers, healthInterval, null, ct);

    /// <summary>Starts the cluster and the registry; every <paramref name="healthInterval"/> each broker is asked whether
    /// it answers (<c>pipeline_embedded_broker_up</c>, served by the /metrics of the process that runs it).
    /// <paramref name="partitions"/>, when given, replaces every topic's partition count: the embedded cluster keeps only
    /// about 5 MiB per partition and never compacts, so a long run (the 100,000-report fault run) needs more partitions
    /// than the catalog's to keep what its stages still restore. Every topic gets the same count, so co-partitioned
    /// topics stay co-partitioned.</summary>
    public static async Task<EmbeddedRuntime> StartAsync(int brokers, TimeSpan healthInterval, int? partitions, CancellationToken ct = default)
    {
        var cluster = EmbeddedKafkaCluster.Start(brokers);
        try
        {
            cluster.CreateTopics(partitions is { } n ? TopicCatalog.All.Select(t => t with { Partitions = n }) : TopicCatalog.All);
            var registry = await EmbeddedSchemaRegistry.StartAsync(0, ct);
            using var client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = registry.Url });
            await SchemaRegistration.RegisterAllAsync(client);
            return new EmbeddedRuntime(cluster, registry, healthInterval);
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        health.Dispose();
        await Registry.DisposeAsync();
        Cluster.Dispose();
    }
}
