using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Pipeline.Platform.Embedded;

namespace Pipeline.Cli.Demo;

/// <summary>The embedded cluster's raw speed on this machine: idempotent acks=all produce and one consumer, 300-byte
/// messages, measured in the same run as the pipeline so the two figures can be compared. Both are steady-state rates,
/// as the pipeline's are (it is measured after its warm-up): the producer's connections and producer id are set up by a
/// warm-up batch before the clock starts, and the consumer is timed from its first record, after the group join and
/// assignment (100–170 ms on the embedded cluster: counted in, it was 60–70% of a 100,000-record measurement and held
/// the rate to a third; <see cref="Result.JoinMilliseconds"/> and <see cref="Result.ConsumeRateWithJoin"/> keep it visible).</summary>
public static class RawKafkaBench
{
    /// <param name="ConsumeRate">Records per second from the first record received to the last.</param>
    /// <param name="JoinMilliseconds">From the subscription to the first record: the group join, the assignment and the first fetch.</param>
    /// <param name="ConsumeRateWithJoin">Records per second from the subscription (the rate this bench printed before stop 31).</param>
    /// <param name="ProduceCpuMicros">The process's CPU per produced record while the producer was timed (the client's
    /// threads, the delivery reports and the embedded broker; nothing else runs then).</param>
    /// <param name="ConsumeCpuMicros">The same per consumed record, from the first record to the last.</param>
    public sealed record Result(int Messages, double ProduceRate, double ConsumeRate, double JoinMilliseconds = 0, double ConsumeRateWithJoin = 0,
        double ProduceCpuMicros = 0, double ConsumeCpuMicros = 0);

    /// <summary>The most records a measurement may use: with the warm-up, 12 partitions of them stay below the embedded
    /// cluster's ~5 MiB per partition, so none is lost before the consumer reads it.</summary>
    public const int MaxMessages = 150_000;

    /// <summary>Records produced and flushed before the produce clock starts.</summary>
    private const int WarmUp = 1_000;

    /// <summary>Measurements made by <see cref="MeasureWarm"/>; the first of them is left out.</summary>
    public const int WarmRuns = 3;

    /// <summary>The raw rates as the benches divide by them, printed: one measurement left out and the median of the next
    /// <see cref="WarmRuns"/>. A bench measures its stages warm (after its warm-up), so the raw rates are too: the first
    /// measurement in a process was below the next ones in 44 of 46 runs, by 17% at the median (JIT, the first clients and
    /// connections); the median keeps one lucky or unlucky measurement on a shared machine from moving the ratio.</summary>
    public static Result MeasureWarm(EmbeddedKafkaCluster cluster, int messages)
    {
        var c = CultureInfo.InvariantCulture;
        var cold = Run(cluster, messages);
        var runs = Enumerable.Range(0, WarmRuns).Select(_ => Run(cluster, messages)).ToList();
        var raw = new Result(messages, Median(runs.Select(r => r.ProduceRate)), Median(runs.Select(r => r.ConsumeRate)),
            Median(runs.Select(r => r.JoinMilliseconds)), Median(runs.Select(r => r.ConsumeRateWithJoin)),
            Median(runs.Select(r => r.ProduceCpuMicros)), Median(runs.Select(r => r.ConsumeCpuMicros)));
        Console.WriteLine(string.Create(c, $"embedded cluster raw ({raw.Messages:N0} × 300 B, same run, median of {WarmRuns} after one left out, steady state): produce {raw.ProduceRate:N0} msg/s, consume {raw.ConsumeRate:N0} msg/s (consume {string.Join(", ", runs.Select(r => r.ConsumeRate.ToString("N0", c)))}; the first, left out: {cold.ConsumeRate:N0})"));
        // Before stop 31 the consumer was timed from its subscription, and the group join was most of that time.
        Console.WriteLine(string.Create(c, $"  the consumer's group join and first fetch, not counted above: {raw.JoinMilliseconds:0} ms (median); timed from the subscription, as before stop 31, consume was {raw.ConsumeRateWithJoin:N0} msg/s"));
        Console.WriteLine(string.Create(c, $"  CPU of the process per raw record (client threads, delivery reports, embedded broker): produce {raw.ProduceCpuMicros:0.00} µs, consume {raw.ConsumeCpuMicros:0.00} µs"));
        return raw;
    }

    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    public static Result Run(EmbeddedKafkaCluster cluster, int messages = 100_000, int size = 300)
    {
        var topic = $"bench.raw.{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, partitions: 12, replicationFactor: 3); // ≤ 2.5 MiB per partition: below the mock cluster's ~5 MiB retention
        var payload = new byte[size];
        Random.Shared.NextBytes(payload);
        Stopwatch produce;
        TimeSpan produceCpu;
        using (var producer = new ProducerBuilder<byte[]?, byte[]>(new ProducerConfig
               { BootstrapServers = cluster.BootstrapServers, Acks = Acks.All, EnableIdempotence = true, LingerMs = 5 }).Build())
        {
            ProduceAll(producer, topic, payload, 0, WarmUp);
            producer.Flush(TimeSpan.FromSeconds(60));
            produce = Stopwatch.StartNew();
            produceCpu = Cpu();
            ProduceAll(producer, topic, payload, WarmUp, messages);
            producer.Flush(TimeSpan.FromSeconds(60));
            produce.Stop();
            produceCpu = Cpu() - produceCpu;
        }
        var total = WarmUp + messages;
        var seen = 0;
        var clock = Stopwatch.StartNew();
        var first = TimeSpan.Zero;
        var consumeCpu = TimeSpan.Zero;
        using (var consumer = new ConsumerBuilder<byte[]?, byte[]>(new ConsumerConfig
               { BootstrapServers = cluster.BootstrapServers, GroupId = topic, AutoOffsetReset = AutoOffsetReset.Earliest, SessionTimeoutMs = 3000, HeartbeatIntervalMs = 750 }).Build())
        {
            consumer.Subscribe(topic);
            while (seen < total && clock.Elapsed < TimeSpan.FromSeconds(60))
                if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false } && seen++ == 0)
                {
                    first = clock.Elapsed;
                    consumeCpu = Cpu();
                }
            clock.Stop();
            consumeCpu = Cpu() - consumeCpu;
            consumer.Close();
        }
        if (seen < total)
            throw new InvalidOperationException($"The raw consumer read {seen:N0} of the {total:N0} records on {topic} within 60 s; the embedded cluster keeps about 5 MiB per partition, so a larger --raw-bench loses its oldest records. Fix: use at most {MaxMessages:N0}.");
        var steady = clock.Elapsed - first;
        return new Result(messages, messages / produce.Elapsed.TotalSeconds, steady > TimeSpan.Zero ? (seen - 1) / steady.TotalSeconds : 0,
            first.TotalMilliseconds, seen / clock.Elapsed.TotalSeconds,
            produceCpu.TotalMicroseconds / messages, seen > 1 ? consumeCpu.TotalMicroseconds / (seen - 1) : 0);
    }

    private static TimeSpan Cpu() => Process.GetCurrentProcess().TotalProcessorTime;

    private static void ProduceAll(IProducer<byte[]?, byte[]> producer, string topic, byte[] payload, int from, int count)
    {
        for (var i = from; i < from + count; i++)
            ProduceWhenRoom(producer, topic, new Message<byte[]?, byte[]> { Key = BitConverter.GetBytes(i), Value = payload });
    }

    /// <summary>Produces, serving delivery reports for 5 ms at a time while the producer's queue is full: a bench feeds
    /// faster than the cluster takes, and waits for room instead of failing.</summary>
    internal static void ProduceWhenRoom<TKey, TValue>(IProducer<TKey, TValue> producer, string topic, Message<TKey, TValue> message,
        Action<DeliveryReport<TKey, TValue>>? delivered = null)
    {
        while (true)
        {
            try
            {
                producer.Produce(topic, message, delivered);
                return;
            }
            catch (ProduceException<TKey, TValue> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(5));
            }
        }
    }
}
