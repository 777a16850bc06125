using System.Diagnostics;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Logging;

namespace Pipeline.Platform.Embedded;

/// <summary>
/// Deletes from the embedded cluster the records that every consumer group reading a topic has committed, once the
/// commit is <c>keep</c> old. Real Kafka finds a fetch's position through an offset index; the mock broker walks the
/// partition's kept record batches from the first for every batch a consumer reads (<c>rd_kafka_mock_msgset_find</c>),
/// so in a long single-process run its cost per batch grows with everything ever written, until the 5 MiB / 100,000-batch
/// retention. Trimming what is consumed keeps that walk short, and leaves the retention to records not yet consumed.
/// <para>Only for a process that knows every reader of the topics it trims (<c>pipeline bench pipeline</c>): a reader it
/// was not told of would find its position deleted. Compacted topics and topics a stage restores state from are never
/// trimmed; a reader that tails a topic without a group (e.g. the sla stage's scorecard history) is covered by
/// <c>keep</c>, since it follows the topic's end. A position found deleted is counted by the clients as an offset reset
/// (<see cref="KafkaClients.OffsetResets"/>), which the bench prints.</para>
/// </summary>
public sealed class ConsumedRecordTrimmer : IDisposable
{
    private readonly EmbeddedKafkaCluster cluster;
    private readonly IReadOnlyDictionary<string, IReadOnlyList<string>> groups;
    private readonly TimeSpan interval;
    private readonly TimeSpan keep;
    private readonly ILogger log;
    private readonly IAdminClient admin;
    private readonly CancellationTokenSource stop = new();
    private readonly Queue<(long At, Dictionary<TopicPartition, long> Low)> seen = new();
    private readonly Dictionary<TopicPartition, long> trimmedTo = [];
    private Task? loop;
    private long deletions;
    private long records;

    /// <param name="groups">Every consumer group that reads the topics, with the topics it reads. A topic is trimmed
    /// only up to the lowest offset all its groups have committed, and not at all while one of them has committed none.</param>
    /// <param name="keep">How old a commit must be before the records under it go.</param>
    public ConsumedRecordTrimmer(EmbeddedKafkaCluster cluster, IReadOnlyDictionary<string, IReadOnlyList<string>> groups, TimeSpan interval, TimeSpan keep, ILogger log)
    {
        if (interval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(interval), "The trim interval must be positive.");
        this.cluster = cluster;
        this.groups = groups;
        this.interval = interval;
        this.keep = keep;
        this.log = log;
        admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers, ClientId = "embedded-trimmer" }).Build();
    }

    /// <summary>DeleteRecords calls made so far.</summary>
    public long Deletions => Interlocked.Read(ref deletions);

    /// <summary>Records deleted so far (offsets moved over; a compacted-away or already evicted record counts too).</summary>
    public long Records => Interlocked.Read(ref records);

    public void Start() => loop ??= Task.Run(RunAsync);

    private async Task RunAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await TrimOnceAsync(stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is KafkaException or InvalidOperationException)
            {
                // A broker down or a group coordinator moving: nothing is deleted this round.
                log.LogWarning("Embedded cluster trimmer: {Error}; nothing trimmed this round", e.Message);
            }
            try
            {
                await Task.Delay(interval, stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One round: reads every group's committed offsets and deletes what all groups had committed <c>keep</c> ago.</summary>
    public async Task TrimOnceAsync(CancellationToken ct)
    {
        var now = Stopwatch.GetTimestamp();
        var committed = new Dictionary<string, Dictionary<TopicPartition, long>>(StringComparer.Ordinal);
        foreach (var (group, topics) in groups)
        {
            var partitions = topics.SelectMany(t => Enumerable.Range(0, cluster.PartitionCount(t)).Select(p => new TopicPartition(t, p))).ToList();
            var answer = await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions(group, partitions)],
                new ListConsumerGroupOffsetsOptions { RequestTimeout = TimeSpan.FromSeconds(5) });
            ct.ThrowIfCancellationRequested();
            committed[group] = answer.SelectMany(g => g.Partitions).Where(p => p.Error.Code == ErrorCode.NoError && p.Offset.Value >= 0)
                .ToDictionary(p => p.TopicPartition, p => p.Offset.Value);
        }

        var low = new Dictionary<TopicPartition, long>();
        foreach (var topic in groups.Values.SelectMany(t => t).Distinct(StringComparer.Ordinal))
        {
            var readers = groups.Where(g => g.Value.Contains(topic)).Select(g => committed[g.Key]).ToList();
            for (var p = 0; p < cluster.PartitionCount(topic); p++)
            {
                var tp = new TopicPartition(topic, p);
                long min = long.MaxValue;
                foreach (var r in readers)
                    min = r.TryGetValue(tp, out var o) ? Math.Min(min, o) : -1;
                if (min > 0 && min != long.MaxValue) low[tp] = min;
            }
        }
        seen.Enqueue((now, low));

        // The newest round at least `keep` old decides.
        Dictionary<TopicPartition, long>? due = null;
        while (seen.Count > 0 && Stopwatch.GetElapsedTime(seen.Peek().At) >= keep) due = seen.Dequeue().Low;
        if (due is null) return;
        foreach (var (tp, offset) in due)
        {
            var from = trimmedTo.GetValueOrDefault(tp);
            if (offset <= from) continue;
            cluster.DeleteRecords(tp.Topic, tp.Partition.Value, offset);
            trimmedTo[tp] = offset;
            Interlocked.Increment(ref deletions);
            Interlocked.Add(ref records, offset - from);
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        try
        {
            loop?.Wait(TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // the loop's own errors were logged
        }
        admin.Dispose();
        stop.Dispose();
    }
}
