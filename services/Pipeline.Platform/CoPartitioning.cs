using Confluent.Kafka;

namespace Pipeline.Platform;

/// <summary>
/// The start-time check of a stage's co-partitioned topics (<see cref="StageDefinition.CoPartitionedTopics"/>), as Kafka
/// Streams does it: every one must exist and have the same number of partitions, or the stage refuses to start.
/// Partition p of every input and of every state topic belongs together; with different counts a key would be read
/// from one partition number and its state written to or restored from another.
/// </summary>
public static class CoPartitioning
{
    private static readonly Backoff Retry = Backoff.FromMilliseconds(200, 2_000);

    /// <summary>Null when <paramref name="counts"/> (topic → partitions, null when the topic does not exist) agree;
    /// otherwise the error, naming the topics, their counts and the fix.</summary>
    public static string? Problem(string stage, IReadOnlyList<(string Topic, int? Partitions)> counts)
    {
        if (counts.Count < 2) return null;
        var missing = counts.Where(c => c.Partitions is null).Select(c => c.Topic).ToList();
        var distinct = counts.Where(c => c.Partitions is not null).Select(c => c.Partitions!.Value).Distinct().Count();
        if (missing.Count == 0 && distinct <= 1) return null;
        var listed = string.Join(", ", counts.Select(c => c.Partitions is { } n ? $"{c.Topic} has {n}" : $"{c.Topic} does not exist"));
        return $"Stage {stage} refuses to start: its co-partitioned topics must exist with the same number of partitions, but {listed}. " +
               "Partition p of each of them is handled together (the state of input partition p lives in state partition p), so a key would be " +
               "processed against the wrong state. Fix: create the missing topics and give all of them the partition count of infra/kafka/topics.json " +
               "(`pipeline topics apply` creates missing topics and adds partitions; a topic with too many partitions must be recreated, with the pipeline " +
               "drained, since Kafka cannot remove partitions). Adding partitions to one input also moves its keys: do it to all of them at once.";
    }

    /// <summary>Reads the partition counts from the cluster's metadata (retrying a broker that is down for a few seconds)
    /// and throws <see cref="InvalidOperationException"/> with <see cref="Problem"/> when they do not agree.</summary>
    public static void Verify(StageDefinition stage, ClientConfig config, TimeSpan timeout)
    {
        var topics = stage.CoPartitionedTopics;
        if (topics.Count < 2) return;
        using var admin = new AdminClientBuilder(new AdminClientConfig(config)).Build();
        var deadline = DateTime.UtcNow + timeout;
        var counts = Retry.Pipeline(int.MaxValue, e => e is KafkaException && DateTime.UtcNow < deadline, TimeProvider.System)
            .Execute(() => topics.Select(t => (t, Partitions(admin, t))).ToList());
        if (Problem(stage.Name, counts) is { } problem) throw new InvalidOperationException(problem);
    }

    private static int? Partitions(IAdminClient admin, string topic)
    {
        var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single();
        if (metadata.Error.Code == ErrorCode.UnknownTopicOrPart) return null;
        if (metadata.Error.IsError) throw new KafkaException(metadata.Error);
        return metadata.Partitions.Count;
    }
}
