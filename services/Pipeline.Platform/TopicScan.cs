using System.Collections.Concurrent;
using Confluent.Kafka;

namespace Pipeline.Platform;

/// <summary>
/// Reads topics once from the beginning up to where each partition ended when the scan started, with one consumer that is
/// assigned the partitions (no group membership, nothing committed). A partition read to its end is paused, so a topic
/// still being written does not keep the scan busy. If the scan does not finish within its deadline (on the embedded
/// cluster a partition written faster than it is read is evicted under the reader, which is reset again and again), the
/// error names each open partition's position, its watermarks now and the offset resets the client logged.
/// Used by <c>pipeline trace</c> and the report's readers, and by tests that read topics byte for byte.
/// </summary>
public static class TopicScan
{
    /// <param name="record">Called for every record before each partition's end (tombstones included, not partition ends).</param>
    public static void Read(KafkaOptions kafka, IReadOnlyCollection<string> topics, Action<ConsumeResult<byte[]?, byte[]?>> record, TimeSpan deadline,
        CancellationToken ct)
    {
        var resets = new ConcurrentQueue<string>();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(KafkaClients.ConsumerConfig(kafka))
        {
            GroupId = "scan-" + Guid.NewGuid().ToString("N"), // required by the client; never joined or committed (assign only)
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnablePartitionEof = true, // a compacted partition may end in a gap: its end offset is never a record's
        }).SetLogHandler((_, m) => { if (m.Message.Contains("offset reset", StringComparison.OrdinalIgnoreCase)) resets.Enqueue(m.Message); }).Build();

        // The partitions as the cluster has them (a run may use other counts than the catalog's).
        using var admin = new AdminClientBuilder(new AdminClientConfig(KafkaClients.Config(kafka))).Build();
        var ends = new Dictionary<TopicPartition, long>();
        foreach (var topic in admin.GetMetadata(TimeSpan.FromSeconds(30)).Topics.Where(t => topics.Contains(t.Topic)))
            foreach (var p in topic.Partitions)
            {
                var tp = new TopicPartition(topic.Topic, p.PartitionId);
                var w = consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(30));
                if (w.High.Value > w.Low.Value) ends[tp] = w.High.Value;
            }
        consumer.Assign(ends.Keys.Select(tp => new TopicPartitionOffset(tp, Offset.Beginning)));
        var open = ends.Keys.ToHashSet();
        var reading = System.Diagnostics.Stopwatch.StartNew();
        while (open.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            if (reading.Elapsed > deadline)
                throw new TimeoutException($"not read to the end within {deadline.TotalSeconds:0} s: " + string.Join("; ", open.Take(10).Select(tp =>
                {
                    var now = consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(10));
                    return $"{tp}: at {consumer.Position(tp)}, end when looked {ends[tp]}, watermarks now {now.Low}..{now.High}";
                })) + (resets.IsEmpty ? "" : "; offset resets logged: " + string.Join(" | ", resets.Take(5))));
            var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (r is null || !open.Contains(r.TopicPartition)) continue; // read up to where it ended at start, no further
            if (r.IsPartitionEOF || r.Offset.Value + 1 >= ends[r.TopicPartition])
            {
                open.Remove(r.TopicPartition);
                consumer.Pause([r.TopicPartition]);
            }
            if (!r.IsPartitionEOF) record(r);
        }
        consumer.Close();
    }
}
