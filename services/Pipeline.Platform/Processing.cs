using Avro.Specific;

namespace Pipeline.Platform;

/// <summary>One consumed message, typed.</summary>
public sealed record Incoming<T>(string? Key, T Value, string Topic, int Partition, long Offset, DateTime Timestamp, byte[]? RawValue)
    where T : class, ISpecificRecord
{
    /// <summary>"topic:partition:offset" — where this message came from, for headers and logs.</summary>
    public string Origin => $"{Topic}:{Partition}:{Offset}";

    /// <summary>The record's Kafka headers (e.g. <c>pipeline.stage</c>, the stage that wrote it), if any.</summary>
    public Confluent.Kafka.Headers? Headers { get; init; }

    /// <summary>The stage that wrote the record (its <c>pipeline.stage</c> header); null for records from outside the
    /// stages (an analyst's verdict, a police release, a test).</summary>
    public string? WrittenBy => Headers?.TryGetLastBytes("pipeline.stage", out var stage) == true ? StageNames.Of(stage) : null;
}

/// <summary>The <c>pipeline.stage</c> header's few values, decoded once each (the audit stage reads it for every record).</summary>
internal static class StageNames
{
    private const int Kept = 64;
    private static (byte[] Bytes, string Name)[] known = [];

    public static string Of(byte[] bytes)
    {
        var current = Volatile.Read(ref known);
        foreach (var (b, name) in current)
            if (b.AsSpan().SequenceEqual(bytes)) return name;
        var decoded = System.Text.Encoding.UTF8.GetString(bytes);
        // A lost race only loses a cache entry; past Kept distinct values (not a stage name any more) nothing is kept.
        if (current.Length < Kept) Volatile.Write(ref known, [.. current, ((byte[])bytes.Clone(), decoded)]);
        return decoded;
    }
}

/// <summary>
/// A stage's domain logic for one input type: read one record, send zero or more records. Everything else
/// (the loop, offsets, retries, dead letters, metrics) belongs to the processor host.
/// </summary>
public interface IProcessor<T> where T : class, ISpecificRecord
{
    ValueTask ProcessAsync(Incoming<T> message, IOutput output, CancellationToken cancellationToken);
}

/// <summary>
/// What a processor sends. Nothing leaves until the processing call returns: a failing call sends nothing, and the
/// input's offset is stored only after every output is acknowledged by Kafka.
/// </summary>
public interface IOutput
{
    void Send<T>(string topic, string key, T value) where T : class, ISpecificRecord;

    /// <summary>Sends to an explicit partition (co-partitioned state topics).</summary>
    void Send<T>(string topic, int partition, string key, T value) where T : class, ISpecificRecord;

    /// <summary>A null value: deletes <paramref name="key"/> from a compacted topic.</summary>
    void Tombstone(string topic, string key, int? partition = null);

    /// <summary>State changes that belong with these outputs (<see cref="PartitionedState{T}.Put"/>). The host applies
    /// them once every output is handed to the producer and discards them when the call fails; an output outside a
    /// host (a test's recorder) applies them at once.</summary>
    void Enlist(IStateChanges changes) => changes.Commit();
}

public static class OutputExtensions
{
    /// <summary>Runs <paramref name="action"/> (a metric, an in-memory index) only if the call's outputs go out; nothing
    /// happens when the call fails and is retried.</summary>
    public static void AfterCommit(this IOutput output, Action action) => output.Enlist(new Deferred(action));

    private sealed class Deferred(Action action) : IStateChanges
    {
        public void Commit() => action();

        public void Rollback()
        {
        }
    }
}

/// <summary>Optional: a processor that must load state before it may process (e.g. a hash bank).</summary>
public interface IWarmUp
{
    Task WarmUpAsync(CancellationToken cancellationToken);
}

/// <summary>Work running beside a stage's loop (a reader following a compacted topic, a timer loop). A faulted
/// <paramref name="Completion"/> means it died: the stage is then neither ready nor live, and
/// <c>pipeline_background_failures_total{stage,component}</c> counts it. <paramref name="Component"/> is a metric label:
/// keep it bounded (e.g. reader:&lt;topic&gt;).</summary>
public sealed record BackgroundWork(string Component, Task Completion);

/// <summary>Optional: a processor whose stage needs background work; read by the host once warm-up is done.</summary>
public interface IBackgroundDependent
{
    IEnumerable<BackgroundWork> BackgroundWork { get; }
}

/// <summary>Optional: a processor that keeps per-partition state and must restore or drop it on rebalance.</summary>
public interface IPartitionAware
{
    void OnAssigned(IReadOnlyCollection<Confluent.Kafka.TopicPartition> partitions);
    void OnRevoked(IReadOnlyCollection<Confluent.Kafka.TopicPartition> partitions);
}

/// <summary>
/// Thrown by a processor when a message cannot be handled now but will be later (a partner's cluster is down):
/// the host neither retries in place nor dead-letters it, but re-reads it after <see cref="After"/>, pausing only
/// that partition, so the stage keeps polling and other partitions keep flowing. Offsets never pass it.
/// </summary>
public sealed class DeferException(string message, TimeSpan after, Exception? inner = null) : Exception(message, inner)
{
    public TimeSpan After { get; } = after;
}
