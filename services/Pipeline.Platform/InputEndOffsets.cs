using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Pipeline.Platform;

/// <summary>
/// Measures how far a stage's input topics have been written (the sum of their partitions' end offsets) on its own
/// thread and Kafka client, beside the consume loop. librdkafka's statistics are served by the consume loop's poll, so
/// when that loop is stuck (a dependency down, a processor that hangs) the lag gauges freeze too; this gauge keeps
/// moving, and "input end offset grows while consumed does not" is how the PipelineStageStalled alert sees a stall.
/// </summary>
internal sealed class InputEndOffsets : IDisposable
{
    private readonly string stage;
    private readonly IReadOnlyList<string> topics;
    private readonly TimeSpan interval;
    private readonly ILogger log;
    private readonly IConsumer<byte[]?, byte[]?> probe;
    private readonly IAdminClient metadata;
    private readonly CancellationTokenSource stop = new();
    private readonly Thread thread;

    public InputEndOffsets(string stage, IReadOnlyList<string> topics, ClientConfig client, TimeSpan interval, ILogger log)
    {
        this.stage = stage;
        this.topics = topics;
        this.interval = interval;
        this.log = log;
        // A consumer that never subscribes: it only asks for watermarks and never joins the group it names.
        probe = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(client) { GroupId = $"{stage}.end-offsets", ClientId = $"{stage}-end-offsets" })
            .SetLogHandler((_, _) => { })
            .SetErrorHandler((_, _) => { })
            .Build();
        metadata = new DependentAdminClientBuilder(probe.Handle).Build();
        thread = new Thread(Run) { IsBackground = true, Name = $"end-offsets-{stage}" };
        thread.Start();
    }

    private void Run()
    {
        var timeout = TimeSpan.FromSeconds(Math.Clamp(interval.TotalSeconds, 1, 10));
        while (!stop.IsCancellationRequested)
        {
            foreach (var topic in topics)
            {
                if (stop.IsCancellationRequested) return;
                try
                {
                    var partitions = metadata.GetMetadata(topic, timeout).Topics.SingleOrDefault(t => t.Topic == topic)?.Partitions;
                    if (partitions is null || partitions.Count == 0) continue;
                    var end = partitions.Sum(p => probe.QueryWatermarkOffsets(new TopicPartition(topic, p.PartitionId), timeout).High.Value);
                    ProcessorMetrics.InputEndOffset.WithLabels(stage, topic).Set(end);
                }
                catch (KafkaException e)
                {
                    // Brokers unreachable: keep the last value (other alerts say Kafka is down), try again next round.
                    log.LogDebug("{Stage}: end offsets of {Topic} unavailable: {Reason}", stage, topic, e.Error.Reason);
                }
            }
            stop.Token.WaitHandle.WaitOne(interval);
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        // Never destroy a client another thread is still inside (a native use after free): if the probe is stuck in a
        // request past its timeout, leave its clients to the end of the process.
        if (!thread.Join(TimeSpan.FromSeconds(15)))
        {
            log.LogWarning("{Stage}: the end-offset probe did not stop within 15 s; its clients are left to the end of the process", stage);
            return;
        }
        metadata.Dispose();
        probe.Dispose();
        stop.Dispose();
    }
}
