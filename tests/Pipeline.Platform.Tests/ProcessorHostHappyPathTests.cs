using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

public sealed class ProcessorHostHappyPathTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Every_input_yields_exactly_one_output_with_its_origin_and_a_graceful_stop_commits_everything()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("intake");
        var inputs = Harness.Submitted("happy", 500).ToList();
        var origins = await h.PublishAsync(inputs);
        Assert.True(origins.Values.Select(o => o.Partition.Value).Distinct().Count() > 1, "inputs should spread over partitions");

        var processor = new AcceptingProcessor();
        var app = h.BuildHost(stage, processor);
        await app.StartAsync();

        var reader = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        var outputs = await reader.ReadAtLeastAsync(500, Timeout, settle: TimeSpan.FromMilliseconds(500));

        Assert.Equal(500, outputs.Count);
        var expected = inputs.ToDictionary(Harness.AcceptedId, i => origins[i.eventId]);
        Assert.Equal(expected.Keys.OrderBy(k => k), outputs.Select(o => o.Value.eventId).OrderBy(k => k));
        foreach (var o in outputs)
        {
            var origin = expected[o.Value.eventId];
            Assert.Equal($"{origin.Topic}:{origin.Partition.Value}:{origin.Offset.Value}", Harness.Header(o.Headers, "pipeline.origin"));
            Assert.Equal(stage, Harness.Header(o.Headers, "pipeline.stage"));
            Assert.Equal(o.Value.caseKey, o.Key);
        }
        Assert.Equal(500, ProcessorMetrics.Consumed.WithLabels(stage, Topics.ReportsSubmitted).Value);
        Assert.Equal(500, ProcessorMetrics.Produced.WithLabels(stage, Topics.ReportsAccepted).Value);
        Assert.Equal(0, Harness.TrackedEntries(app)); // every acknowledged entry was handed to the consumer as an offset

        await app.StopAsync();

        var committed = h.Committed(stage, Topics.ReportsSubmitted);
        var end = h.EndOffsets(Topics.ReportsSubmitted);
        Assert.Equal(end, committed);
        Assert.Equal(500, end.Values.Sum());

        // A restarted stage (same group) has nothing to re-read: no input is processed again.
        var second = new AcceptingProcessor();
        var restarted = h.BuildHost(stage, second);
        await restarted.StartAsync();
        await Harness.Eventually(() => second.Assigned.Count == 6, Timeout, () => $"restarted stage assigned {second.Assigned.Count} partitions");
        var late = Harness.Submitted("after-restart");
        await h.PublishAsync([late]);
        await reader.ReadAtLeastAsync(501, Timeout, settle: TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, second.Processed);
        Assert.Equal(501, reader.Records.Count);
    }
}
