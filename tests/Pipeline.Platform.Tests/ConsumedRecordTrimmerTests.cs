using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Platform.Embedded;

namespace Pipeline.Platform.Tests;

/// <summary>The bench's trimmer of the embedded cluster (<see cref="ConsumedRecordTrimmer"/>): it deletes only what every
/// group reading a topic has committed, and nothing of a partition a group has committed nothing on.</summary>
public sealed class ConsumedRecordTrimmerTests
{
    private const string Topic = "trim.v1";

    [Fact]
    public async Task Deletes_only_what_every_group_reading_the_topic_has_committed()
    {
        using var cluster = Seeded(partitions: 3, records: 100, out var config);
        // Group a has read 60 records of partition 0 and 80 of partition 1; group b 40 of partition 0 and 90 of partition 1.
        // Neither has committed anything on partition 2.
        Commit(config, "a", (0, 60), (1, 80));
        Commit(config, "b", (0, 40), (1, 90));

        using var trimmer = new ConsumedRecordTrimmer(cluster, new Dictionary<string, IReadOnlyList<string>> { ["a"] = [Topic], ["b"] = [Topic] },
            TimeSpan.FromSeconds(1), TimeSpan.Zero, NullLogger.Instance);
        await trimmer.TrimOnceAsync(CancellationToken.None);

        using var probe = new ConsumerBuilder<Ignore, string>(new ConsumerConfig(config) { GroupId = "probe" }).Build();
        long Low(int p) => probe.QueryWatermarkOffsets(new TopicPartition(Topic, p), TimeSpan.FromSeconds(10)).Low.Value;
        Assert.Equal(40, Low(0)); // the lower of the two groups' commits
        Assert.Equal(80, Low(1));
        Assert.Equal(0, Low(2)); // a group that committed nothing there holds the whole partition
        Assert.Equal(120, trimmer.Records);

        // What was kept is still read, from the group's own position on.
        using var reader = new ConsumerBuilder<Ignore, string>(new ConsumerConfig(config) { GroupId = "b", EnableAutoCommit = false, AutoOffsetReset = AutoOffsetReset.Error }).Build();
        reader.Assign(new TopicPartitionOffset(Topic, 0, 40));
        Assert.Equal("v40", reader.Consume(TimeSpan.FromSeconds(10))?.Message.Value);

        // A round with nothing newly committed deletes nothing more.
        await trimmer.TrimOnceAsync(CancellationToken.None);
        Assert.Equal(120, trimmer.Records);
    }

    [Fact]
    public async Task Waits_until_a_commit_is_as_old_as_the_keep_window()
    {
        using var cluster = Seeded(partitions: 1, records: 10, out var config);
        Commit(config, "a", (0, 10));
        using var trimmer = new ConsumedRecordTrimmer(cluster, new Dictionary<string, IReadOnlyList<string>> { ["a"] = [Topic] },
            TimeSpan.FromSeconds(1), TimeSpan.FromHours(1), NullLogger.Instance);
        await trimmer.TrimOnceAsync(CancellationToken.None);
        Assert.Equal(0, trimmer.Records); // committed, but not an hour ago
    }

    /// <summary>A one-broker cluster with <paramref name="records"/> records v0, v1, … in every partition of the topic.</summary>
    private static EmbeddedKafkaCluster Seeded(int partitions, int records, out ClientConfig config)
    {
        var cluster = EmbeddedKafkaCluster.Start(brokers: 1);
        cluster.CreateTopic(Topic, partitions);
        config = new ClientConfig { BootstrapServers = cluster.BootstrapServers };
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig(config)).Build();
        for (var i = 0; i < records; i++)
            for (var p = 0; p < partitions; p++)
                producer.Produce(new TopicPartition(Topic, p), new Message<Null, string> { Value = $"v{i}" });
        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        return cluster;
    }

    private static void Commit(ClientConfig config, string group, params (int Partition, long Offset)[] offsets)
    {
        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig(config) { GroupId = group, EnableAutoCommit = false }).Build();
        consumer.Commit(offsets.Select(o => new TopicPartitionOffset(Topic, o.Partition, o.Offset)));
    }
}
