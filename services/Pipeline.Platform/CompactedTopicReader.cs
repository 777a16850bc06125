using System.Text;
using Avro.Specific;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Pipeline.Platform;

/// <summary>
/// Follows a compacted topic from the beginning, without a consumer group, and applies every record (a null value
/// deletes the key). <see cref="CaughtUp"/> completes once everything that was in the topic at start has been
/// applied; later records keep being applied live. Used for hash banks and restored timers.
/// </summary>
public sealed class CompactedTopicReader<T> : IDisposable where T : class, ISpecificRecord
{
    private readonly KafkaOptions kafka;
    private readonly AvroSerdes serdes;
    private readonly string topic;
    private readonly Action<string, T?, int> apply;
    private readonly ILogger log;
    private readonly Func<int, bool> partitionFilter;
    private readonly TaskCompletionSource caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource stop = new();
    private Thread? thread;

    public CompactedTopicReader(KafkaOptions kafka, AvroSerdes serdes, string topic, Action<string, T?, int> apply, ILogger log, Func<int, bool>? partitionFilter = null)
    {
        this.kafka = kafka;
        this.serdes = serdes;
        this.topic = topic;
        this.apply = apply;
        this.log = log;
        this.partitionFilter = partitionFilter ?? (_ => true);
    }

    public Task CaughtUp => caughtUp.Task;

    public long Applied { get; private set; }

    public long Skipped { get; private set; }

    public void Start()
    {
        thread = new Thread(Run) { IsBackground = true, Name = $"reader-{topic}" };
        thread.Start();
    }

    private void Run()
    {
        try
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(KafkaClients.Config(kafka))
            {
                GroupId = $"reader-{topic}-{Guid.NewGuid():N}", // never committed: assign() reads from the beginning
                EnableAutoCommit = false,
                AutoOffsetReset = AutoOffsetReset.Earliest,
                EnablePartitionEof = true,
            }).Build();
            using var admin = new AdminClientBuilder(new AdminClientConfig(KafkaClients.Config(kafka))).Build();
            var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(30));
            var partitions = metadata.Topics.Single().Partitions.Select(p => p.PartitionId).Where(partitionFilter)
                .Select(p => new TopicPartition(topic, p)).ToList();
            var ends = partitions.ToDictionary(tp => tp.Partition.Value, tp => consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(30)).High.Value);
            consumer.Assign(partitions.Select(tp => new TopicPartitionOffset(tp, Offset.Beginning)));
            var pending = ends.Where(e => e.Value > 0).Select(e => e.Key).ToHashSet();
            if (pending.Count == 0) caughtUp.TrySetResult();
            while (!stop.IsCancellationRequested)
            {
                var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (r is null) continue;
                if (!r.IsPartitionEOF)
                {
                    var key = r.Message.Key is null ? "" : Encoding.UTF8.GetString(r.Message.Key);
                    try
                    {
                        var value = r.Message.Value is null ? null : serdes.DeserializeAsync<T>(r.Message.Value, topic).GetAwaiter().GetResult();
                        apply(key, value, r.Partition.Value);
                        Applied++;
                    }
                    catch (UndeserialisableException e)
                    {
                        Skipped++;
                        log.LogError("{Topic}: record {Origin} is unreadable and was skipped (it stays in the topic for inspection): {Error}", topic, r.TopicPartitionOffset, e.Message);
                    }
                }
                if (pending.Count > 0 && (r.IsPartitionEOF || r.Offset.Value + 1 >= ends[r.Partition.Value]))
                {
                    pending.Remove(r.Partition.Value);
                    if (pending.Count == 0) caughtUp.TrySetResult();
                }
            }
            consumer.Close();
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            log.LogCritical(e, "Reader of {Topic} failed", topic);
            caughtUp.TrySetException(e);
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        thread?.Join(TimeSpan.FromSeconds(10));
        stop.Dispose();
    }
}
