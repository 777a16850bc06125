using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Classification;

/// <summary>
/// The classification stage's state: the hash bank (rebuilt from hashes.known), reports waiting for an analyst
/// (classification.waiting.v1) and which cases were classified on which bank entry (classification.matches.v1).
/// Both state topics are co-partitioned with reports.located and reports.assessed (same partition number, same case key).
/// </summary>
public sealed class ClassificationState(IOptions<KafkaOptions> kafka, AvroSerdes serdes, ILogger<ClassificationState> log) : IDisposable
{
    private readonly SemaphoreSlim sweep = new(0, 1);
    private readonly Lock assignmentGate = new();
    private readonly HashSet<TopicPartition> assigned = [];
    private volatile bool bankLoaded;

    public HashBank Bank { get; } = new();

    public PartitionedState<WaitingReport> Waiting { get; } = new(Topics.ClassificationWaiting, kafka.Value, serdes, log);

    public PartitionedState<CaseMatch> Matches { get; } = new(Topics.ClassificationMatches, kafka.Value, serdes, log);

    /// <summary>True once the bank holds everything that was in hashes.known at start: before that, an entry that is
    /// merely not loaded yet must not count as retracted.</summary>
    public bool BankLoaded
    {
        get => bankLoaded;
        set => bankLoaded = value;
    }

    public static string WaitingKey(string caseKey, string reportId) => caseKey + " " + reportId;

    public static string MatchKey(string bankKey, string caseKey) => bankKey + " " + caseKey;

    /// <summary>Asks the <see cref="RetractionWatch"/> to look for cases classified on entries no longer in the bank.</summary>
    public void RequestSweep()
    {
        try
        {
            sweep.Release();
        }
        catch (SemaphoreFullException)
        {
            // a sweep is already requested: it will see this change too
        }
    }

    public Task<bool> SweepRequestedAsync(TimeSpan timeout, CancellationToken ct) => sweep.WaitAsync(timeout, ct);

    /// <summary>Restores the state of the partition numbers newly assigned (of either input topic).</summary>
    public void Assign(IReadOnlyCollection<TopicPartition> partitions)
    {
        List<int> numbers;
        lock (assignmentGate)
        {
            foreach (var tp in partitions) assigned.Add(tp);
            numbers = partitions.Select(p => p.Partition.Value).Distinct().ToList();
        }
        Waiting.Restore(numbers.Select(n => new TopicPartition(Topics.ClassificationWaiting, n)));
        Matches.Restore(numbers.Select(n => new TopicPartition(Topics.ClassificationMatches, n)));
        RequestSweep(); // retractions that happened while nobody held these partitions
    }

    /// <summary>Drops the state of partition numbers no input topic of this instance holds any more (with cooperative
    /// rebalancing, reports.located p may go while reports.assessed p stays: then the state stays too).</summary>
    public void Revoke(IReadOnlyCollection<TopicPartition> partitions)
    {
        List<TopicPartition> gone;
        lock (assignmentGate)
        {
            foreach (var tp in partitions) assigned.Remove(tp);
            var still = assigned.Select(tp => tp.Partition.Value).ToHashSet();
            gone = partitions.Select(p => p.Partition.Value).Distinct().Where(n => !still.Contains(n)).Select(n => new TopicPartition("", n)).ToList();
        }
        Waiting.Drop(gone);
        Matches.Drop(gone);
    }

    public void Dispose() => sweep.Dispose();
}
