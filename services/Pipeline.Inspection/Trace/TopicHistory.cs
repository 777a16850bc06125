using System.Text;
using Avro.Specific;
using Confluent.Kafka;
using Pipeline.Platform;

namespace Pipeline.Inspection.Trace;

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
        var kept = new List<T>();
        TopicScan.Read(kafka, [.. readers.Keys], r =>
        {
            if (r.Message.Value is null) return; // tombstones and state-store fences
            ISpecificRecord value;
            try
            {
                value = readers[r.Topic](serdes, r.Message.Value, r.Topic);
            }
            catch (UndeserialisableException)
            {
                return; // unreadable bytes are the dead-letter topics' business, not a report's path
            }
            var stage = r.Message.Headers?.TryGetLastBytes("pipeline.stage", out var s) == true ? Encoding.UTF8.GetString(s) : null;
            var record = new TopicRecord(r.Topic, r.Partition.Value, r.Offset.Value, r.Message.Timestamp.UtcDateTime,
                r.Message.Key is null ? null : Encoding.UTF8.GetString(r.Message.Key), stage, value);
            if (select(record) is { } selected) kept.Add(selected);
        }, TimeSpan.FromMinutes(10), ct);
        return kept;
    }

    private static Func<AvroSerdes, byte[], string, ISpecificRecord> Reader(Type type) =>
        typeof(TopicHistory).GetMethod(nameof(Deserialize), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(type).CreateDelegate<Func<AvroSerdes, byte[], string, ISpecificRecord>>();

    private static ISpecificRecord Deserialize<T>(AvroSerdes serdes, byte[] value, string topic) where T : class, ISpecificRecord => serdes.Deserialize<T>(value, topic);
}
