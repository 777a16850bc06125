using System.Text;
using Avro.Specific;
using Confluent.Kafka;
using Pipeline.Platform;

namespace Pipeline.Cli.Trace;

/// <summary>One record as read from a topic: where it is, when Kafka stored it, which stage wrote it (the
/// <c>pipeline.stage</c> header; absent for events from outside the stages, e.g. the police's releases) and its value.</summary>
public sealed record TopicRecord(string Topic, int Partition, long Offset, DateTime Timestamp, string? Key, string? Stage, ISpecificRecord Value);

/// <summary>
/// Reads topics once from the beginning up to where each partition ended when reading started, with one consumer that
/// is assigned the partitions (no group membership, nothing committed: a trace leaves no trace). Tombstones, fences and
/// records that are not readable Avro are passed over.
/// </summary>
public static class TopicHistory
{
    /// <param name="select">What to keep of a record; null keeps nothing (only what is kept stays in memory).</param>
    public static List<T> Read<T>(KafkaOptions kafka, AvroSerdes serdes, IReadOnlyCollection<string> topics, Func<TopicRecord, T?> select, CancellationToken ct) where T : class
    {
        var readers = topics.ToDictionary(t => t, t => Reader(SchemaRegistration.ValueType(TopicCatalog.Get(t))));
        using var admin = new AdminClientBuilder(new AdminClientConfig(KafkaClients.Config(kafka))).Build();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(KafkaClients.ConsumerConfig(kafka))
        {
            GroupId = "trace-" + Guid.NewGuid().ToString("N"), // required by the client; never joined or committed (assign only)
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnablePartitionEof = true, // a compacted partition may end in a gap: its end offset is never a record's
        }).SetLogHandler((_, _) => { }).Build();

        var ends = new Dictionary<TopicPartition, long>();
        foreach (var topic in admin.GetMetadata(TimeSpan.FromSeconds(30)).Topics.Where(t => readers.ContainsKey(t.Topic)))
            foreach (var p in topic.Partitions)
            {
                var tp = new TopicPartition(topic.Topic, p.PartitionId);
                var w = consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(30));
                if (w.High.Value > w.Low.Value) ends[tp] = w.High.Value;
            }
        consumer.Assign(ends.Keys.Select(tp => new TopicPartitionOffset(tp, Offset.Beginning)));

        var kept = new List<T>();
        var open = ends.Keys.ToHashSet();
        while (open.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (r is null || !open.Contains(r.TopicPartition)) continue; // read up to where it ended at start, no further
            if (r.IsPartitionEOF || r.Offset.Value + 1 >= ends[r.TopicPartition]) open.Remove(r.TopicPartition);
            if (r.IsPartitionEOF || r.Message.Value is null) continue; // tombstones and state-store fences
            ISpecificRecord value;
            try
            {
                value = readers[r.Topic](serdes, r.Message.Value, r.Topic);
            }
            catch (UndeserialisableException)
            {
                continue; // unreadable bytes are the dead-letter topics' business, not a report's path
            }
            var stage = r.Message.Headers?.TryGetLastBytes("pipeline.stage", out var s) == true ? Encoding.UTF8.GetString(s) : null;
            var record = new TopicRecord(r.Topic, r.Partition.Value, r.Offset.Value, r.Message.Timestamp.UtcDateTime,
                r.Message.Key is null ? null : Encoding.UTF8.GetString(r.Message.Key), stage, value);
            if (select(record) is { } selected) kept.Add(selected);
        }
        consumer.Close();
        return kept;
    }

    private static Func<AvroSerdes, byte[], string, ISpecificRecord> Reader(Type type) =>
        typeof(TopicHistory).GetMethod(nameof(Deserialize), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(type).CreateDelegate<Func<AvroSerdes, byte[], string, ISpecificRecord>>();

    private static ISpecificRecord Deserialize<T>(AvroSerdes serdes, byte[] value, string topic) where T : class, ISpecificRecord => serdes.Deserialize<T>(value, topic);
}
