using System.Diagnostics;
using Confluent.Kafka;
using Pipeline.Platform.Embedded;

namespace Pipeline.Cli.Demo;

/// <summary>The embedded cluster's raw speed on this machine: idempotent acks=all produce and one consumer, 300-byte
/// messages, measured in the same run as the pipeline so the two figures can be compared.</summary>
public static class RawKafkaBench
{
    public sealed record Result(int Messages, double ProduceRate, double ConsumeRate);

    public static Result Run(EmbeddedKafkaCluster cluster, int messages = 100_000, int size = 300)
    {
        var topic = $"bench.raw.{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, partitions: 12, replicationFactor: 3); // ≤ 2.5 MiB per partition: below the mock cluster's ~5 MiB retention
        var payload = new byte[size];
        Random.Shared.NextBytes(payload);
        var produce = Stopwatch.StartNew();
        using (var producer = new ProducerBuilder<byte[]?, byte[]>(new ProducerConfig
               { BootstrapServers = cluster.BootstrapServers, Acks = Acks.All, EnableIdempotence = true, LingerMs = 5 }).Build())
        {
            for (var i = 0; i < messages; i++)
            {
                while (true)
                {
                    try
                    {
                        producer.Produce(topic, new Message<byte[]?, byte[]> { Key = BitConverter.GetBytes(i), Value = payload });
                        break;
                    }
                    catch (ProduceException<byte[]?, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                    {
                        producer.Poll(TimeSpan.FromMilliseconds(5));
                    }
                }
            }
            producer.Flush(TimeSpan.FromSeconds(60));
        }
        produce.Stop();
        var consume = Stopwatch.StartNew();
        var seen = 0;
        using (var consumer = new ConsumerBuilder<byte[]?, byte[]>(new ConsumerConfig
               { BootstrapServers = cluster.BootstrapServers, GroupId = topic, AutoOffsetReset = AutoOffsetReset.Earliest, SessionTimeoutMs = 3000, HeartbeatIntervalMs = 750 }).Build())
        {
            consumer.Subscribe(topic);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (seen < messages && DateTime.UtcNow < deadline)
                if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false }) seen++;
            consumer.Close();
        }
        consume.Stop();
        return new Result(messages, messages / produce.Elapsed.TotalSeconds, seen / consume.Elapsed.TotalSeconds);
    }
}
