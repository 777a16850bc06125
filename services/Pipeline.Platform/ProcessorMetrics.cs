using System.Text.Json;
using Prometheus;

namespace Pipeline.Platform;

/// <summary>
/// The metrics every processor exports. Labels are bounded: stage, topic, partition, reason — never a URL or id.
/// </summary>
public static class ProcessorMetrics
{
    public static readonly Counter Consumed = Metrics.CreateCounter(
        "pipeline_processor_consumed_total", "Messages a stage consumed and finished (processed or dead-lettered).",
        new CounterConfiguration { LabelNames = ["stage", "topic"] });

    public static readonly Counter Produced = Metrics.CreateCounter(
        "pipeline_processor_produced_total", "Messages a stage produced and Kafka acknowledged.",
        new CounterConfiguration { LabelNames = ["stage", "topic"] });

    public static readonly Counter DeadLettered = Metrics.CreateCounter(
        "pipeline_processor_deadlettered_total", "Messages a stage could not handle and sent to its dead-letter topic.",
        new CounterConfiguration { LabelNames = ["stage", "reason"] });

    public static readonly Counter Retries = Metrics.CreateCounter(
        "pipeline_processor_retries_total", "Retries after a transient processing error.",
        new CounterConfiguration { LabelNames = ["stage"] });

    public static readonly Counter Deferred = Metrics.CreateCounter(
        "pipeline_processor_deferred_total", "Messages a stage put back to read again later (e.g. a partner cluster is down).",
        new CounterConfiguration { LabelNames = ["stage"] });

    public static readonly Counter TimersFired = Metrics.CreateCounter(
        "pipeline_processor_timers_fired_total", "Timers of a stage's state stores that fired (their outputs went out like a processed message's).",
        new CounterConfiguration { LabelNames = ["stage", "store"] });

    public static readonly Counter TimerFailures = Metrics.CreateCounter(
        "pipeline_processor_timer_failures_total", "Timer handlers that threw; the timer fires again after a backoff.",
        new CounterConfiguration { LabelNames = ["stage", "store"] });

    public static readonly Counter StateExpired = Metrics.CreateCounter(
        "pipeline_state_expired_total", "State entries deleted (tombstoned) because their retention period passed (Retention:ClosedCaseAfter).",
        new CounterConfiguration { LabelNames = ["store"] });

    public static readonly Histogram RestoreSeconds = Metrics.CreateHistogram(
        "pipeline_state_restore_seconds", "Time to restore a state store's assigned partitions from its changelog topic (the stage is not ready meanwhile).",
        new HistogramConfiguration { LabelNames = ["store"], Buckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });

    public static readonly Counter Rejoins = Metrics.CreateCounter(
        "pipeline_processor_rejoins_total", "Times a stage left its consumer group and joined again after Processing:RejoinAfterSeconds without an assignment (a join that never completed).",
        new CounterConfiguration { LabelNames = ["stage"] });

    public static readonly Counter StateRewritten = Metrics.CreateCounter(
        "pipeline_state_rewritten_total", "State records a member wrote again under a new epoch after finding that another member had fenced a partition it kept (the group coordinator gave the partition to two members for a while).",
        new CounterConfiguration { LabelNames = ["stage", "store"] });

    public static readonly Counter EffectsCompleted = Metrics.CreateCounter(
        "pipeline_processor_effects_completed_total", "Asynchronous work of a stage's state store (a delivery, a check) whose outcome was written.",
        new CounterConfiguration { LabelNames = ["stage", "store"] });

    public static readonly Gauge TimersScheduled = Metrics.CreateGauge(
        "pipeline_processor_timers_scheduled", "Timers queued in a stage's state store (including stale ones not yet skipped).",
        new GaugeConfiguration { LabelNames = ["stage", "store"] });

    public static readonly Counter ConsumerErrors = Metrics.CreateCounter(
        "pipeline_processor_consumer_errors_total", "Non-fatal errors the Kafka consumer reported while polling (e.g. committed offsets not fetched while a broker or the group coordinator was away); the client retries and the stage keeps polling.",
        new CounterConfiguration { LabelNames = ["stage"] });

    public static readonly Counter DeliveryFailures = Metrics.CreateCounter(
        "pipeline_processor_delivery_failures_total", "Outputs Kafka did not acknowledge; the stage stops so that nothing is lost.",
        new CounterConfiguration { LabelNames = ["stage"] });

    public static readonly Histogram ProcessingSeconds = Metrics.CreateHistogram(
        "pipeline_processor_processing_seconds", "Time to process one message (deserialise, process, hand outputs to the producer).",
        new HistogramConfiguration { LabelNames = ["stage"], Buckets = Histogram.ExponentialBuckets(0.00005, 4, 10) });

    public static readonly Gauge InFlight = Metrics.CreateGauge(
        "pipeline_processor_inflight_messages", "Consumed messages whose outputs Kafka has not yet acknowledged.",
        new GaugeConfiguration { LabelNames = ["stage"] });

    public static readonly Gauge AssignedPartitions = Metrics.CreateGauge(
        "pipeline_processor_assigned_partitions", "Input partitions currently assigned to this instance.",
        new GaugeConfiguration { LabelNames = ["stage"] });

    public static readonly Gauge ConsumerLag = Metrics.CreateGauge(
        "pipeline_consumer_lag_messages", "Consumer lag per partition, from librdkafka statistics (high watermark − committed/stored offset).",
        new GaugeConfiguration { LabelNames = ["group", "topic", "partition"] });

    public static readonly Gauge InputEndOffset = Metrics.CreateGauge(
        "pipeline_processor_input_end_offset", "Sum over an input topic's partitions of their end (high-watermark) offsets: grows as input arrives. Measured beside the consume loop, so it keeps moving when the loop is stuck.",
        new GaugeConfiguration { LabelNames = ["stage", "topic"] });

    public static readonly Counter SchemaRegistryFailures = Metrics.CreateCounter(
        "pipeline_schema_registry_failures_total", "Schema Registry requests of the serdes that failed for a reason retrying may cure (unreachable, timeout, 5xx).",
        new CounterConfiguration { LabelNames = ["operation"] });

    public static readonly Counter BackgroundFailures = Metrics.CreateCounter(
        "pipeline_background_failures_total", "Work running beside a stage's loop that the stage needs (a compacted reader, a timer loop) died; the stage is not ready and not live from then on.",
        new CounterConfiguration { LabelNames = ["stage", "component"] });

    public static readonly Gauge Up = Metrics.CreateGauge(
        "pipeline_processor_up", "1 while the stage's consume loop runs, 0 when it stopped or failed.",
        new GaugeConfiguration { LabelNames = ["stage"] });

    /// <summary>Dead-letter reasons, created at 0 when a stage starts so that the first dead letter is an increase.</summary>
    public static readonly string[] DeadLetterReasons = ["undeserialisable", "processing_failed", "retries_exhausted"];

    /// <summary>Publishes a stage's counters at 0 before anything happened: <c>increase()</c> over a series that is born
    /// with its first count (say 50 dead letters at once) reads 0, so an alert on it would never fire.</summary>
    public static void Initialise(string stage, IEnumerable<string> inputTopics)
    {
        foreach (var topic in inputTopics) Consumed.WithLabels(stage, topic);
        foreach (var reason in DeadLetterReasons) DeadLettered.WithLabels(stage, reason);
        Retries.WithLabels(stage);
        Deferred.WithLabels(stage);
        DeliveryFailures.WithLabels(stage);
        ConsumerErrors.WithLabels(stage);
    }

    public static readonly Counter FetchRequests = Metrics.CreateCounter(
        "pipeline_consumer_fetch_requests_total",
        "Fetch requests a stage's consumer sent to all brokers (librdkafka statistics, every Kafka:StatisticsIntervalMs). Divided into pipeline_consumer_fetched_messages_total it gives the records per fetch: few means small producer batches, or a consumer that asks faster than records arrive.",
        new CounterConfiguration { LabelNames = ["stage"] });

    public static readonly Counter FetchedMessages = Metrics.CreateCounter(
        "pipeline_consumer_fetched_messages_total",
        "Records a stage's consumer received from the brokers (librdkafka statistics, every Kafka:StatisticsIntervalMs).",
        new CounterConfiguration { LabelNames = ["stage"] });

    /// <summary>What one consumer handle's statistics said last: librdkafka counts from the handle's creation, and a
    /// process may hold several handles of one stage (a replaced consumer, several members in a test).</summary>
    public sealed class FetchTotals
    {
        public long Requests { get; set; }
        public long Messages { get; set; }
    }

    /// <summary>Reads consumer lag, fetch requests and records received out of a librdkafka statistics JSON document.
    /// A count that went down (a broker's entry gone from the document) is not counted back.</summary>
    public static void RecordStatistics(string group, string statisticsJson, FetchTotals seen)
    {
        using var doc = JsonDocument.Parse(statisticsJson);
        var root = doc.RootElement;
        RecordLag(group, root);
        long requests = 0;
        if (root.TryGetProperty("brokers", out var brokers))
            foreach (var broker in brokers.EnumerateObject())
                if (broker.Value.TryGetProperty("req", out var req) && req.TryGetProperty("Fetch", out var fetch))
                    requests += fetch.GetInt64();
        var messages = root.TryGetProperty("rxmsgs", out var rx) ? rx.GetInt64() : 0;
        if (requests > seen.Requests) FetchRequests.WithLabels(group).Inc(requests - seen.Requests);
        if (messages > seen.Messages) FetchedMessages.WithLabels(group).Inc(messages - seen.Messages);
        seen.Requests = Math.Max(seen.Requests, requests);
        seen.Messages = Math.Max(seen.Messages, messages);
    }

    /// <summary>Reads consumer lag out of a librdkafka statistics document.</summary>
    private static void RecordLag(string group, JsonElement root)
    {
        if (!root.TryGetProperty("topics", out var topics)) return;
        foreach (var topic in topics.EnumerateObject())
        {
            if (!topic.Value.TryGetProperty("partitions", out var partitions)) continue;
            foreach (var p in partitions.EnumerateObject())
            {
                if (p.Name == "-1") continue;
                if (p.Value.TryGetProperty("consumer_lag_stored", out var lagStored) && lagStored.GetInt64() >= 0)
                    ConsumerLag.WithLabels(group, topic.Name, p.Name).Set(lagStored.GetInt64());
                else if (p.Value.TryGetProperty("consumer_lag", out var lag) && lag.GetInt64() >= 0)
                    ConsumerLag.WithLabels(group, topic.Name, p.Name).Set(lag.GetInt64());
                else
                    // Not (or no longer) consumed here: a partition revoked in a rebalance must not keep exporting its
                    // last lag, or `sum by (group, topic)` counts it twice once its new owner reports it too.
                    ConsumerLag.RemoveLabelled(group, topic.Name, p.Name);
            }
        }
    }
}
