using Confluent.Kafka;
using Pipeline.Platform.Embedded;

namespace Pipeline.Platform.Tests;

public sealed class EmbeddedKafkaClusterTests
{
    [Fact]
    public void Produces_and_consumes_through_a_consumer_group_over_loopback()
    {
        using var cluster = EmbeddedKafkaCluster.Start(brokers: 3);
        Assert.StartsWith("127.0.0.1:", cluster.BootstrapServers.Split(',')[0]);
        cluster.CreateTopic("probe.v1", partitions: 4, replicationFactor: 3);

        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig
               { BootstrapServers = cluster.BootstrapServers, EnableIdempotence = true, Acks = Acks.All }).Build())
        {
            for (var i = 0; i < 1000; i++) producer.Produce("probe.v1", new Message<string, string> { Key = $"k{i % 37}", Value = $"v{i}" });
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = cluster.BootstrapServers, GroupId = "probe", AutoOffsetReset = AutoOffsetReset.Earliest,
            SessionTimeoutMs = 3000, PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
        }).Build();
        consumer.Subscribe("probe.v1");
        var seen = new HashSet<string>();
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (seen.Count < 1000 && DateTime.UtcNow < deadline)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (r?.Message is not null) seen.Add(r.Message.Value);
        }
        consumer.Close();
        Assert.Equal(1000, seen.Count);
    }

    /// <summary>A partition leader that moves must not send a consumer back to the partition's beginning. After a move,
    /// librdkafka validates the consumer's position (offset and the leader epoch it was read or committed in) with
    /// OffsetForLeaderEpoch. A real broker answers with the end of the largest epoch at or below the one asked;
    /// librdkafka's mock broker answers only for an epoch that still has record batches, so a position from an epoch in
    /// which nothing was written (a commit after an idle leader move) read as a log truncation ("No epoch found") and
    /// every kept record was read again. The cluster does not offer that API
    /// (<see cref="EmbeddedKafkaCluster.OffsetForLeaderEpoch"/>).</summary>
    [Fact]
    public void A_leader_move_does_not_send_a_consumer_back_to_the_beginning()
    {
        using var cluster = EmbeddedKafkaCluster.Start(brokers: 3);
        cluster.CreateTopic("moves.v1", partitions: 1, replicationFactor: 3);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig
            { BootstrapServers = cluster.BootstrapServers, EnableIdempotence = true, Acks = Acks.All }).Build();
        void Write(int from, int count)
        {
            for (var i = from; i < from + count; i++) producer.Produce("moves.v1", new Message<Null, string> { Value = $"v{i}" });
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }
        Write(0, 100); // leader epoch 0
        cluster.SetPartitionLeader("moves.v1", 0, 3); // epoch 1: nothing is written in it

        var leader = -1; // the partition's leader as the consumer knows it (its statistics)
        static int LeaderIn(string json) => System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("topics")
            .TryGetProperty("moves.v1", out var t) && t.GetProperty("partitions").TryGetProperty("0", out var p) ? p.GetProperty("leader").GetInt32() : -1;
        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig
        {
            BootstrapServers = cluster.BootstrapServers, GroupId = "moves", AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false, TopicMetadataRefreshIntervalMs = 500, StatisticsIntervalMs = 100,
        }).SetStatisticsHandler((_, json) => Volatile.Write(ref leader, LeaderIn(json))).Build();
        // Goes on from where the group committed in epoch 1, after everything written so far (a consumer commits its
        // position with the leader epoch it knows).
        var partition = new TopicPartition("moves.v1", 0);
        consumer.Commit([new TopicPartitionOffset(partition, new Offset(100), leaderEpoch: 1)]);
        consumer.Assign(new TopicPartitionOffset(partition, Offset.Stored));
        var reads = new List<string>();
        bool ReadUntil(Func<bool> done)
        {
            var end = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < end)
            {
                var r = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (r?.Message is not null) reads.Add(r.Message.Value);
                else if (done()) return true;
            }
            return false;
        }
        Assert.True(ReadUntil(() => Volatile.Read(ref leader) == 3), "the consumer never learnt its partition's leader");

        cluster.SetPartitionLeader("moves.v1", 0, 1); // epoch 2: the consumer validates its position (100, epoch 1) there
        Assert.True(ReadUntil(() => Volatile.Read(ref leader) == 1), $"the consumer still knows broker {Volatile.Read(ref leader)} as the leader, not 1");
        Write(100, 10);
        Assert.True(ReadUntil(() => reads.Count >= 10), $"{reads.Count} of 10 read");
        consumer.Close();

        Assert.Equal(Enumerable.Range(100, 10).Select(i => $"v{i}"), reads);
    }

    /// <summary>The coordinator the cluster gives a group is the one <see cref="EmbeddedKafkaCluster.GroupCoordinator"/>
    /// names: checked against what each consumer reports in its statistics (the address of its GroupCoordinator broker;
    /// the bootstrap list names brokers 1…N in order).</summary>
    [Fact]
    public void The_group_coordinator_is_the_broker_the_cluster_is_said_to_pick()
    {
        using var cluster = EmbeddedKafkaCluster.Start(brokers: 3);
        cluster.CreateTopic("coordinated.v1", partitions: 3, replicationFactor: 3);
        var addresses = cluster.BootstrapServers.Split(',');
        var groups = new[] { "takedown", "takedown-batching", "classification", "routing", "sla", "recheck" };
        foreach (var group in groups)
        {
            string? coordinator = null;
            using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
            {
                BootstrapServers = cluster.BootstrapServers, GroupId = group, SessionTimeoutMs = 3000, StatisticsIntervalMs = 100,
            }).SetStatisticsHandler((_, json) =>
            {
                foreach (var b in System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("brokers").EnumerateObject())
                    if (b.Name.StartsWith("GroupCoordinator", StringComparison.Ordinal) && b.Value.GetProperty("state").GetString() == "UP")
                        Volatile.Write(ref coordinator, b.Value.GetProperty("nodename").GetString());
            }).Build();
            consumer.Subscribe("coordinated.v1");
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Volatile.Read(ref coordinator) is null && DateTime.UtcNow < deadline) consumer.Consume(TimeSpan.FromMilliseconds(100));
            consumer.Close();
            Assert.True(coordinator is not null, $"{group}: no coordinator in the consumer's statistics");
            Assert.Equal(cluster.GroupCoordinator(group), Array.IndexOf(addresses, coordinator) + 1);
        }
        Assert.True(groups.Select(cluster.GroupCoordinator).Distinct().Count() > 1, "every group on one broker: the test would not tell brokers apart");
    }

    [Fact]
    public async Task The_health_probe_sees_a_broker_that_was_set_down_and_up_again()
    {
        using var cluster = EmbeddedKafkaCluster.Start(brokers: 3);
        var brokers = cluster.BootstrapServers.Split(',').Select(b => (Host: b[..b.LastIndexOf(':')], Port: int.Parse(b[(b.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture))).ToList();
        async Task<bool[]> Answers() => await Task.WhenAll(brokers.Select(b => EmbeddedClusterHealth.AnswersAsync(b.Host, b.Port, CancellationToken.None)));

        Assert.Equal(new[] { true, true, true }, await Answers());
        cluster.SetBrokerDown(2); // bootstraps list brokers 1…N in order: broker 2 is the second address
        Assert.Equal(new[] { true, false, true }, await Answers());
        cluster.SetBrokerUp(2);
        Assert.Equal(new[] { true, true, true }, await Answers());
        var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        Assert.False(await EmbeddedClusterHealth.AnswersAsync("127.0.0.1", port, CancellationToken.None)); // nobody listens
    }

    [Fact]
    public async Task Injected_produce_errors_are_retried_by_an_idempotent_producer_without_loss()
    {
        using var cluster = EmbeddedKafkaCluster.Start(brokers: 1);
        cluster.CreateTopic("faults.v1", partitions: 1);
        cluster.PushRequestErrors(0, ErrorCode.NotEnoughReplicas, ErrorCode.NotEnoughReplicas);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig
            { BootstrapServers = cluster.BootstrapServers, EnableIdempotence = true }).Build();
        var result = await producer.ProduceAsync("faults.v1", new Message<Null, string> { Value = "x" });
        Assert.Equal(PersistenceStatus.Persisted, result.Status);
        cluster.ClearRequestErrors(0);
    }
}
