using Confluent.Kafka;

namespace Pipeline.Platform;

/// <summary>The connection settings every Kafka client of the pipeline shares.</summary>
public static class KafkaClients
{
    public static ClientConfig Config(KafkaOptions kafka)
    {
        var config = new ClientConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            SecurityProtocol = Enum.Parse<SecurityProtocol>(kafka.SecurityProtocol, ignoreCase: true),
        };
        if (!string.IsNullOrEmpty(kafka.SaslMechanism)) config.SaslMechanism = Enum.Parse<SaslMechanism>(kafka.SaslMechanism.Replace("-", "", StringComparison.Ordinal), ignoreCase: true);
        if (!string.IsNullOrEmpty(kafka.SaslUsername)) config.SaslUsername = kafka.SaslUsername;
        if (!string.IsNullOrEmpty(kafka.SaslPassword)) config.SaslPassword = kafka.SaslPassword;
        if (!string.IsNullOrEmpty(kafka.SslCaLocation)) config.SslCaLocation = kafka.SslCaLocation;
        if (kafka.SocketTimeoutMs is { } socketTimeout) config.SocketTimeoutMs = socketTimeout;
        return config;
    }

    /// <summary>
    /// A consumer's position that the broker no longer holds is reset by <c>auto.offset.reset</c> (earliest): forwards
    /// when retention deleted it (the embedded cluster evicts past about 5 MiB per partition), and the records in between
    /// are skipped unread; backwards to the beginning when the broker's log no longer matches it (a log truncation after
    /// an unclean leader election), and everything still kept is read again. (The embedded cluster used to do the latter
    /// after any leader move: see <see cref="Embedded.EmbeddedKafkaCluster.OffsetForLeaderEpoch"/>.)
    /// librdkafka says so only in a log line (facility OFFSET, level warning, "offset reset (at offset N, broker B) to …");
    /// this reads that line, counts it in <c>pipeline_consumer_offset_resets_total</c> (alert PipelineConsumerOffsetReset)
    /// and returns the warning to log, null for any other line.
    /// </summary>
    public static string? OffsetReset(LogMessage message, string client)
    {
        if (message.Level > SyslogLevel.Warning || !string.Equals(message.Facility, "OFFSET", StringComparison.Ordinal)
            || !message.Message.Contains("offset reset", StringComparison.OrdinalIgnoreCase)) return null;
        // "<topic> [<partition>]: offset reset (at offset …) to …"
        var text = message.Message;
        var bracket = text.IndexOf(" [", StringComparison.Ordinal);
        var topic = bracket > 0 ? text[..bracket].Trim() : "unknown";
        var space = topic.LastIndexOf(' ');
        if (space >= 0) topic = topic[(space + 1)..]; // some versions prefix the line with the client's own name
        OffsetResets.WithLabels(client, topic).Inc();
        return $"{client}: consumer position reset by the broker (records skipped unread, or read again from the beginning): {text}";
    }

    public static readonly Prometheus.Counter OffsetResets = Prometheus.Metrics.CreateCounter(
        "pipeline_consumer_offset_resets_total",
        "Consumer positions the broker no longer held, reset to the earliest offset it still has: records skipped unread (deleted by retention or evicted) or read again from the beginning (log truncation).",
        new Prometheus.CounterConfiguration { LabelNames = ["client", "topic"] });

    /// <summary>
    /// One poll of a group consumer. A non-fatal consumer error (such as "Failed to fetch committed offsets" while a broker
    /// or the group coordinator is away) reads as "nothing yet"; a fatal one still throws. Two things make this more than a
    /// catch: thrown out of a background thread, such an error ends the whole process; and after a failed committed-offset
    /// fetch librdkafka leaves the partitions concerned assigned but never fetching (no position, nothing consumed, no
    /// further error), a silent stall. Those partitions are assigned again, which fetches their committed offsets again.
    /// </summary>
    public static ConsumeResult<TKey, TValue>? Poll<TKey, TValue>(IConsumer<TKey, TValue> consumer, TimeSpan timeout, Action<Error>? onError = null) =>
        Poll(consumer, timeout, cooperative: true, onError);

    /// <param name="cooperative">The consumer uses the cooperative protocol (CooperativeSticky); false for an eager one
    /// (Range), whose assignment can only be replaced as a whole.</param>
    public static ConsumeResult<TKey, TValue>? Poll<TKey, TValue>(IConsumer<TKey, TValue> consumer, TimeSpan timeout, bool cooperative, Action<Error>? onError = null)
    {
        try
        {
            return consumer.Consume(timeout);
        }
        catch (ConsumeException e) when (!e.Error.IsFatal)
        {
            onError?.Invoke(e.Error);
            RestartUnstartedPartitions(consumer, cooperative);
            return null;
        }
    }

    private static void RestartUnstartedPartitions<TKey, TValue>(IConsumer<TKey, TValue> consumer, bool cooperative)
    {
        try
        {
            var unstarted = consumer.Assignment.Where(tp => consumer.Position(tp) == Offset.Unset).ToList();
            if (unstarted.Count == 0) return;
            if (cooperative)
            {
                consumer.IncrementalUnassign(unstarted);
                consumer.IncrementalAssign(unstarted);
            }
            else
            {
                // Eager: replace the whole assignment; partitions with a position keep it, the others fetch their
                // committed offsets again.
                var assignment = consumer.Assignment.Select(tp => consumer.Position(tp) is var p && p != Offset.Unset
                    ? new TopicPartitionOffset(tp, p) : new TopicPartitionOffset(tp, Offset.Unset)).ToList();
                consumer.Assign(assignment);
            }
        }
        catch (KafkaException)
        {
            // Mid-rebalance or brokers still away: the next error (or the next assignment) tries again.
        }
    }

    /// <summary>The settings every consumer of the pipeline shares: the connection, plus a fetch wait when one is
    /// configured (Kafka:FetchWaitMaxMs, set by the embedded runtime only).</summary>
    public static ConsumerConfig ConsumerConfig(KafkaOptions kafka) => new(Config(kafka)) { FetchWaitMaxMs = kafka.FetchWaitMaxMs };

    /// <summary>What a delivery report of the pipeline's producers carries besides the error, partition and offset: the
    /// persistence status only. By default Confluent.Kafka copies every header of every produced message back out of
    /// librdkafka into new objects for its report (a name string, a value array and a header object each), which no
    /// caller reads.</summary>
    public const string DeliveryReportFields = "status";

    /// <summary>An idempotent acks=all producer of raw bytes. It partitions with murmur2 like Java clients, so keys
    /// co-partition across every producer of the pipeline.</summary>
    public static IProducer<byte[]?, byte[]?> Producer(KafkaOptions kafka, string clientId) =>
        new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig(Config(kafka))
        {
            ClientId = clientId, Acks = Acks.All, EnableIdempotence = true, LingerMs = kafka.LingerMs, Partitioner = Partitioner.Murmur2Random,
            DeliveryReportFields = DeliveryReportFields,
        }).Build();
}
