using System.Collections.Concurrent;
using Avro.Specific;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Pipeline.Platform;

/// <summary>
/// Keyed state of a stage, kept in memory and backed by a compacted topic that the stage owns. The state topic is
/// co-partitioned with the input: an entry written while processing input partition p goes to state partition p, and
/// is restored when p is assigned again (on start and on rebalance). Writes go through the processor's output, so an
/// input offset is stored only after the state change is acknowledged.
/// </summary>
public sealed class PartitionedState<T>(string topic, KafkaOptions kafka, AvroSerdes serdes, ILogger log) where T : class, ISpecificRecord
{
    private readonly ConcurrentDictionary<int, ConcurrentDictionary<string, T>> partitions = new();

    public string Topic => topic;

    public IEnumerable<KeyValuePair<string, T>> Entries => partitions.Values.SelectMany(p => p);

    public int Count => partitions.Values.Sum(p => p.Count);

    public IEnumerable<KeyValuePair<string, T>> EntriesOf(int partition) =>
        partitions.TryGetValue(partition, out var p) ? p : [];

    public bool TryGet(int partition, string key, out T value)
    {
        value = null!;
        return partitions.TryGetValue(partition, out var p) && p.TryGetValue(key, out value!);
    }

    public bool TryFind(string key, out T value, out int partition)
    {
        foreach (var (id, p) in partitions)
            if (p.TryGetValue(key, out value!)) { partition = id; return true; }
        value = null!;
        partition = -1;
        return false;
    }

    public void Put(IOutput output, int partition, string key, T value)
    {
        output.Send(topic, partition, key, value);
        partitions.GetOrAdd(partition, _ => new())[key] = value;
    }

    public void Delete(IOutput output, int partition, string key)
    {
        output.Tombstone(topic, key, partition);
        if (partitions.TryGetValue(partition, out var p)) p.TryRemove(key, out _);
    }

    /// <summary>Applies a change made outside a consume loop (after it was acknowledged).</summary>
    public void Apply(int partition, string key, T? value)
    {
        var p = partitions.GetOrAdd(partition, _ => new());
        if (value is null) p.TryRemove(key, out _);
        else p[key] = value;
    }

    /// <summary>Restores the entries of the assigned input partitions from the state topic.</summary>
    public void Restore(IEnumerable<TopicPartition> assigned)
    {
        var wanted = assigned.Select(tp => tp.Partition.Value).Where(p => !partitions.ContainsKey(p)).ToHashSet();
        if (wanted.Count == 0) return;
        foreach (var p in wanted) partitions.TryAdd(p, new());
        using var reader = new CompactedTopicReader<T>(kafka, serdes, topic, (key, value, p) => Apply(p, key, value), log, wanted.Contains);
        reader.Start();
        if (!reader.CaughtUp.Wait(TimeSpan.FromSeconds(60)))
            throw new TimeoutException($"Restoring {topic} partitions {string.Join(",", wanted)} took longer than 60 s.");
        log.LogInformation("Restored {Count} entries of {Topic} for partitions {Partitions}", reader.Applied, topic, string.Join(",", wanted.Order()));
    }

    public void Drop(IEnumerable<TopicPartition> revoked)
    {
        foreach (var tp in revoked) partitions.TryRemove(tp.Partition.Value, out _);
    }
}
