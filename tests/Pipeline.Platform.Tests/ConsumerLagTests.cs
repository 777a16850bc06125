namespace Pipeline.Platform.Tests;

/// <summary>Consumer lag read from librdkafka's statistics JSON (the fields librdkafka 2.x writes per partition).</summary>
public sealed class ConsumerLagTests
{
    [Fact]
    public void Lag_is_exported_per_assigned_partition_and_dropped_when_the_partition_is_no_longer_consumed_here()
    {
        var group = "lag-" + Guid.NewGuid().ToString("N")[..8];
        ProcessorMetrics.RecordStatistics(group, Statistics(("0", 120, 125), ("1", -1, 40), ("-1", -1, -1)), new ProcessorMetrics.FetchTotals());
        Assert.Equal(120, ProcessorMetrics.ConsumerLag.WithLabels(group, "reports.submitted.v1", "0").Value); // stored offset wins
        Assert.Equal(40, ProcessorMetrics.ConsumerLag.WithLabels(group, "reports.submitted.v1", "1").Value);
        Assert.DoesNotContain("-1", ProcessorMetrics.ConsumerLag.GetAllLabelValues().Where(l => l[0] == group).Select(l => l[2]));

        // Partition 1 was revoked in a rebalance: librdkafka reports -1 for it from now on, and its old value must go.
        ProcessorMetrics.RecordStatistics(group, Statistics(("0", 3, 3), ("1", -1, -1)), new ProcessorMetrics.FetchTotals());
        var partitions = ProcessorMetrics.ConsumerLag.GetAllLabelValues().Where(l => l[0] == group).Select(l => l[2]).ToList();
        Assert.Equal("0", Assert.Single(partitions));
        Assert.Equal(3, ProcessorMetrics.ConsumerLag.WithLabels(group, "reports.submitted.v1", "0").Value);
    }

    [Fact]
    public void Fetch_requests_and_records_are_counted_from_each_handles_cumulative_statistics()
    {
        var group = "fetch-" + Guid.NewGuid().ToString("N")[..8];
        var first = new ProcessorMetrics.FetchTotals();
        ProcessorMetrics.RecordStatistics(group, Fetches(rxmsgs: 120, ("b1", 10), ("b2", 5)), first);
        ProcessorMetrics.RecordStatistics(group, Fetches(rxmsgs: 300, ("b1", 25), ("b2", 9)), first);
        Assert.Equal(34, ProcessorMetrics.FetchRequests.WithLabels(group).Value);
        Assert.Equal(300, ProcessorMetrics.FetchedMessages.WithLabels(group).Value);

        // A broker's entry gone from the document: the sum goes down, nothing is taken back, and only what passes the
        // highest count seen is counted again.
        ProcessorMetrics.RecordStatistics(group, Fetches(rxmsgs: 310, ("b1", 30)), first);
        Assert.Equal(34, ProcessorMetrics.FetchRequests.WithLabels(group).Value);
        Assert.Equal(310, ProcessorMetrics.FetchedMessages.WithLabels(group).Value);

        // A second handle of the same stage (a replaced consumer) counts from its own creation.
        var second = new ProcessorMetrics.FetchTotals();
        ProcessorMetrics.RecordStatistics(group, Fetches(rxmsgs: 7, ("b1", 2)), second);
        Assert.Equal(36, ProcessorMetrics.FetchRequests.WithLabels(group).Value);
        Assert.Equal(317, ProcessorMetrics.FetchedMessages.WithLabels(group).Value);
    }

    [Fact]
    public void The_writing_stage_is_read_from_its_header_and_decoded_once_per_name()
    {
        Incoming<Contracts.HashRetracted> With(string? stage) => new("k", new Contracts.HashRetracted(), "t", 0, 0, DateTime.UnixEpoch, null)
        {
            Headers = stage is null ? [] : new Confluent.Kafka.Headers { { "pipeline.stage", System.Text.Encoding.UTF8.GetBytes(stage) } },
        };
        var name = "stage-" + Guid.NewGuid().ToString("N")[..8];
        var first = With(name).WrittenBy;
        Assert.Equal(name, first);
        Assert.Same(first, With(name).WrittenBy);
        Assert.Equal("other-" + name, With("other-" + name).WrittenBy);
        Assert.Null(With(null).WrittenBy);
        Assert.Equal("übergabe", With("übergabe").WrittenBy);
    }

    private static string Fetches(long rxmsgs, params (string Broker, long Fetch)[] brokers) =>
        "{\"name\":\"c#consumer-1\",\"rxmsgs\":" + rxmsgs + ",\"brokers\":{" +
        string.Join(",", brokers.Select(b => $"\"{b.Broker}\":{{\"name\":\"{b.Broker}\",\"req\":{{\"Produce\":0,\"Fetch\":{b.Fetch},\"Heartbeat\":3}}}}")) +
        "},\"topics\":{}}";

    private static string Statistics(params (string Partition, long LagStored, long Lag)[] partitions) =>
        "{\"name\":\"c#consumer-1\",\"topics\":{\"reports.submitted.v1\":{\"topic\":\"reports.submitted.v1\",\"partitions\":{" +
        string.Join(",", partitions.Select(p => $"\"{p.Partition}\":{{\"partition\":{p.Partition},\"consumer_lag_stored\":{p.LagStored},\"consumer_lag\":{p.Lag}}}")) +
        "}}}}";
}
