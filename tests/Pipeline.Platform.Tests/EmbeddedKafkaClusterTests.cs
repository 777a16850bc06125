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
