using Confluent.Kafka;
using Pipeline.Cli.Commands;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;

namespace Pipeline.Operations.Tests;

/// <summary>
/// `pipeline topics apply`. The embedded cluster (librdkafka's mock) cannot create topics, partitions or configs
/// through the admin API, so: the plan and diff are tested as pure functions, the apply path through
/// <see cref="ITopicAdmin"/> against an in-memory cluster that behaves like Kafka, and the real AdminClient
/// (<see cref="KafkaTopicAdmin"/>) only on the read side (metadata, dry run) against the embedded cluster.
/// </summary>
public sealed class TopicsApplyTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public void Desired_topics_cap_replication_at_the_broker_count_and_carry_retention_and_compaction()
    {
        var one = TopicPlan.Desired(TopicCatalog.All, brokers: 1);
        var three = TopicPlan.Desired(TopicCatalog.All, brokers: 3);

        Assert.Equal(TopicCatalog.All.Count, three.Count);
        Assert.All(one, t => Assert.Equal(1, t.ReplicationFactor));
        Assert.All(one, t => Assert.Equal("1", t.Configs["min.insync.replicas"]));
        var held = three.Single(t => t.Name == Topics.RoutingHeld);
        Assert.Equal(3, held.ReplicationFactor);
        Assert.Equal("compact", held.Configs["cleanup.policy"]);
        Assert.Equal("-1", held.Configs["retention.ms"]);
        Assert.Equal("2", held.Configs["min.insync.replicas"]);
        // Retention's tombstones must really remove a key's earlier records from disk: compaction within a week.
        Assert.All(three.Where(t => t.Configs["cleanup.policy"] == "compact"), t => Assert.Equal("604800000", t.Configs["max.compaction.lag.ms"]));
        var rejected = three.Single(t => t.Name == Topics.ReportsRejected);
        Assert.Equal("delete", rejected.Configs["cleanup.policy"]);
        Assert.Equal("2592000000", rejected.Configs["retention.ms"]);
        Assert.False(rejected.Configs.ContainsKey("max.compaction.lag.ms"));
        Assert.Equal(TopicCatalog.Get(Topics.ReportsRejected).Partitions, rejected.Partitions);
    }

    [Fact]
    public void Partners_get_an_inbound_topic_with_the_settings_of_the_outbound_topic()
    {
        var topics = TopicPlan.WithPartners(TopicCatalog.All, ["de-hotline", "gb-hotline", "de-hotline"]);

        var outbound = TopicCatalog.Get(Topics.ExchangeOutbound);
        var inbound = topics.Where(t => t.Name.StartsWith("exchange.inbound.", StringComparison.Ordinal)).ToList();
        Assert.Equal(["exchange.inbound.de-hotline.v1", "exchange.inbound.gb-hotline.v1"], inbound.Select(t => t.Name));
        Assert.All(inbound, t => Assert.Equal((outbound.Partitions, outbound.RetentionMs, outbound.CleanupPolicy, "ReportForwarded"),
            (t.Partitions, t.RetentionMs, t.CleanupPolicy, t.ValueType)));
        Assert.Equal(TopicCatalog.All.Count + 2, topics.Count);
        var error = Assert.Throws<ArgumentException>(() => TopicPlan.WithPartners(TopicCatalog.All, ["DE hotline"]));
        Assert.Contains("--partners", error.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Diff_creates_missing_topics_adds_partitions_alters_configs_and_warns_about_what_it_cannot_change()
    {
        var desired = new[]
        {
            Topic("a.v1", 6, 3, "delete", "604800000"),
            Topic("b.v1", 6, 3, "delete", "604800000"),
            Topic("c.v1", 6, 3, "compact", "-1"),
            Topic("d.v1", 6, 3, "delete", "604800000"),
            Topic("e.v1", 6, 3, "delete", "604800000"),
        };
        var existing = new Dictionary<string, ExistingTopic>
        {
            ["b.v1"] = new("b.v1", 3, 3, desired[1].Configs),
            ["c.v1"] = new("c.v1", 6, 3, new Dictionary<string, string> { ["cleanup.policy"] = "delete", ["retention.ms"] = "604800000", ["segment.ms"] = "1" }),
            ["d.v1"] = new("d.v1", 12, 1, desired[3].Configs),
            ["e.v1"] = new("e.v1", 6, 3, desired[4].Configs),
        };

        var changes = TopicPlan.Diff(desired, existing);

        Assert.Equal(new TopicChange.Create("a.v1", 6, 3, desired[0].Configs), changes[0]);
        Assert.Equal(new TopicChange.AddPartitions("b.v1", 3, 6), changes[1]);
        var alter = Assert.IsType<TopicChange.AlterConfigs>(changes[2]);
        Assert.Equal("c.v1", alter.Topic);
        Assert.Equal([new ConfigDifference("cleanup.policy", "delete", "compact"), new ConfigDifference("min.insync.replicas", null, "2"), new ConfigDifference("retention.ms", "604800000", "-1")],
            alter.Differences);
        Assert.Contains("cannot remove partitions", Assert.IsType<TopicChange.Warning>(changes[3]).Text, StringComparison.Ordinal);
        Assert.Contains("replication factor 1", Assert.IsType<TopicChange.Warning>(changes[4]).Text, StringComparison.Ordinal);
        Assert.Equal(5, changes.Count); // e.v1 is as defined
        Assert.Equal("~ config     c.v1: cleanup.policy delete -> compact, min.insync.replicas (unset) -> 2, retention.ms 604800000 -> -1",
            TopicPlan.Describe(alter));
    }

    [Fact]
    public async Task Apply_provisions_an_empty_cluster_and_a_second_run_changes_nothing()
    {
        var cluster = new InMemoryCluster(brokers: 3);
        var definitions = TopicPlan.WithPartners(TopicCatalog.All, ["de-hotline"]);

        var first = await TopicsCommand.ApplyAsync(cluster, definitions, dryRun: false, minBrokers: 3, Wait, TextWriter.Null, CancellationToken.None);
        var output = new StringWriter();
        var second = await TopicsCommand.ApplyAsync(cluster, definitions, dryRun: false, minBrokers: 3, Wait, output, CancellationToken.None);

        Assert.Equal(definitions.Count, first.Changes.OfType<TopicChange.Create>().Count());
        Assert.Equal(definitions.Count, cluster.Topics.Count);
        var inbound = cluster.Topics["exchange.inbound.de-hotline.v1"];
        Assert.Equal((6, (short)3), (inbound.Partitions, inbound.ReplicationFactor));
        Assert.Equal("compact", cluster.Topics[Topics.SlaOpen].Configs!["cleanup.policy"]);
        Assert.Empty(second.Changes);
        Assert.Equal(definitions.Count, second.Unchanged);
        Assert.Contains($"0 change(s) to 0 topic(s), {definitions.Count} topic(s) already as defined", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, cluster.CreateCalls); // the second run made no mutating call at all
        Assert.Equal(0, cluster.AlterCalls + cluster.PartitionCalls);
    }

    [Fact]
    public async Task Apply_repairs_drift_and_dry_run_prints_the_same_difference_without_changing_anything()
    {
        var cluster = new InMemoryCluster(brokers: 3);
        await TopicsCommand.ApplyAsync(cluster, TopicCatalog.All, dryRun: false, minBrokers: 1, Wait, TextWriter.Null, CancellationToken.None);
        cluster.Topics.Remove(Topics.ReportsReview);
        cluster.Topics[Topics.ReportsAccepted] = cluster.Topics[Topics.ReportsAccepted] with { Partitions = 2 };
        ((Dictionary<string, string>)cluster.Topics[Topics.NoticeOutcomes].Configs!)["retention.ms"] = "86400000";
        var before = cluster.Snapshot();

        var dry = new StringWriter();
        var planned = await TopicsCommand.ApplyAsync(cluster, TopicCatalog.All, dryRun: true, minBrokers: 1, Wait, dry, CancellationToken.None);

        Assert.Equal(before, cluster.Snapshot());
        Assert.False(planned.Applied);
        var lines = dry.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            $"~ partitions {Topics.ReportsAccepted}: 2 -> 6",
            $"+ create     {Topics.ReportsReview}: 6 partitions, rf 3, cleanup.policy=delete, min.insync.replicas=2, retention.ms=2592000000",
            $"~ config     {Topics.NoticeOutcomes}: retention.ms 86400000 -> 15552000000",
            $"dry run on 3 broker(s): 3 change(s) to 3 topic(s), {TopicCatalog.All.Count - 3} topic(s) as defined; nothing changed",
        ], lines);

        var applied = await TopicsCommand.ApplyAsync(cluster, TopicCatalog.All, dryRun: false, minBrokers: 1, Wait, TextWriter.Null, CancellationToken.None);
        Assert.Equal(planned.Changes.Select(TopicPlan.Describe), applied.Changes.Select(TopicPlan.Describe));
        Assert.Equal(6, cluster.Topics[Topics.ReportsAccepted].Partitions);
        Assert.Equal("15552000000", cluster.Topics[Topics.NoticeOutcomes].Configs!["retention.ms"]);
        Assert.True(cluster.Topics.ContainsKey(Topics.ReportsReview));
        Assert.Empty((await TopicsCommand.ApplyAsync(cluster, TopicCatalog.All, dryRun: true, minBrokers: 1, Wait, TextWriter.Null, CancellationToken.None)).Changes);
    }

    [Fact]
    public async Task Apply_waits_for_the_brokers_it_was_told_to_expect_and_names_the_fix_when_they_do_not_come()
    {
        var cluster = new InMemoryCluster(brokers: 1);

        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            TopicsCommand.ApplyAsync(cluster, TopicCatalog.All, dryRun: false, minBrokers: 3, TimeSpan.FromMilliseconds(200), TextWriter.Null, CancellationToken.None));

        Assert.Contains("1 broker(s) (need 3)", error.Message, StringComparison.Ordinal);
        Assert.Contains("--min-brokers", error.Message, StringComparison.Ordinal);
        Assert.Empty(cluster.Topics); // never provisioned with rf 1 because one broker answered first
    }

    [Fact]
    public async Task Dry_run_through_the_real_admin_client_against_the_embedded_cluster_reads_partitions_and_changes_nothing()
    {
        using var kafka = EmbeddedKafkaCluster.Start(3);
        kafka.CreateTopic(Topics.ReportsSubmitted, 2, 3);
        kafka.CreateTopic(Topics.ReportsAccepted, 6, 3);
        using var admin = KafkaTopicAdmin.Connect(new KafkaOptions { BootstrapServers = kafka.BootstrapServers }, TimeSpan.FromSeconds(2));
        var definitions = TopicCatalog.All.Where(t => t.Name is Topics.ReportsSubmitted or Topics.ReportsAccepted or Topics.ReportsRejected).ToList();

        var output = new StringWriter();
        var outcome = await TopicsCommand.ApplyAsync(admin, definitions, dryRun: true, minBrokers: 3, Wait, output, CancellationToken.None);

        Assert.Contains(new TopicChange.AddPartitions(Topics.ReportsSubmitted, 2, 6), outcome.Changes);
        Assert.Contains(outcome.Changes, c => c is TopicChange.Create { Topic: Topics.ReportsRejected, Partitions: 6, ReplicationFactor: 3 });
        Assert.DoesNotContain(outcome.Changes, c => c is TopicChange.Create or TopicChange.AddPartitions && c.Topic == Topics.ReportsAccepted);
        Assert.Contains("nothing changed", output.ToString(), StringComparison.Ordinal);
        // The mock cluster answers DescribeConfigs with a timeout: said, not hidden.
        Assert.Contains(new TopicChange.Warning(Topics.ReportsAccepted, TopicPlan.ConfigsUnreadable), outcome.Changes);
        using var probe = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        var metadata = probe.GetMetadata(Wait);
        Assert.Equal(2, metadata.Topics.Single(t => t.Topic == Topics.ReportsSubmitted).Partitions.Count);
        Assert.DoesNotContain(metadata.Topics, t => t.Topic == Topics.ReportsRejected && t.Error.Code == ErrorCode.NoError);
    }

    private static DesiredTopic Topic(string name, int partitions, short rf, string cleanup, string retention) =>
        new(name, partitions, rf, new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["cleanup.policy"] = cleanup, ["retention.ms"] = retention, ["min.insync.replicas"] = rf >= 3 ? "2" : "1",
        });

    /// <summary>A cluster that keeps topics like Kafka does: partitions only grow, configs are set key by key,
    /// creating an existing topic fails.</summary>
    private sealed class InMemoryCluster(int brokers) : ITopicAdmin
    {
        public Dictionary<string, ExistingTopic> Topics { get; } = [];

        public int CreateCalls { get; private set; }

        public int PartitionCalls { get; private set; }

        public int AlterCalls { get; private set; }

        public string Snapshot() => string.Join("\n", Topics.OrderBy(t => t.Key, StringComparer.Ordinal)
            .Select(t => $"{t.Key} {t.Value.Partitions} {t.Value.ReplicationFactor} " + string.Join(",", t.Value.Configs!.OrderBy(c => c.Key, StringComparer.Ordinal))));

        public Task<int> BrokerCountAsync(CancellationToken ct) => Task.FromResult(brokers);

        public Task<IReadOnlyDictionary<string, ExistingTopic>> DescribeAsync(IReadOnlyCollection<string> names, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, ExistingTopic>>(Topics.Where(t => names.Contains(t.Key))
                .ToDictionary(t => t.Key, t => t.Value with { Configs = new Dictionary<string, string>(t.Value.Configs!) }));

        public Task CreateAsync(IReadOnlyList<TopicChange.Create> topics, CancellationToken ct)
        {
            if (topics.Count == 0) return Task.CompletedTask;
            CreateCalls++;
            foreach (var t in topics)
            {
                if (Topics.ContainsKey(t.Topic)) throw new InvalidOperationException($"{t.Topic} already exists");
                if (t.ReplicationFactor > brokers) throw new InvalidOperationException($"rf {t.ReplicationFactor} > {brokers} brokers");
                Topics[t.Topic] = new ExistingTopic(t.Topic, t.Partitions, t.ReplicationFactor, new Dictionary<string, string>(t.Configs));
            }
            return Task.CompletedTask;
        }

        public Task AddPartitionsAsync(IReadOnlyList<TopicChange.AddPartitions> topics, CancellationToken ct)
        {
            if (topics.Count == 0) return Task.CompletedTask;
            PartitionCalls++;
            foreach (var t in topics)
            {
                if (t.To <= Topics[t.Topic].Partitions) throw new InvalidOperationException("partitions can only grow");
                Topics[t.Topic] = Topics[t.Topic] with { Partitions = t.To };
            }
            return Task.CompletedTask;
        }

        public Task AlterConfigsAsync(IReadOnlyList<TopicChange.AlterConfigs> topics, CancellationToken ct)
        {
            if (topics.Count == 0) return Task.CompletedTask;
            AlterCalls++;
            foreach (var t in topics)
                foreach (var d in t.Differences)
                    ((Dictionary<string, string>)Topics[t.Topic].Configs!)[d.Key] = d.Desired;
            return Task.CompletedTask;
        }
    }
}
