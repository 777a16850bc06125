using Confluent.Kafka;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

/// <summary>
/// A consumer that cannot fetch its group's committed offsets for a moment (a broker or the group coordinator away, as
/// in a broker outage) reports a non-fatal error from Consume. That is the client telling us something it retries by
/// itself; it used to stop the stage for good (and, on a test's background reader, end the whole test host).
/// </summary>
public sealed class ConsumerErrorTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private const short OffsetFetch = 9;

    [Fact]
    public async Task A_stage_polls_on_when_its_committed_offsets_cannot_be_fetched_for_a_moment()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("offsets");
        var inputs = Harness.Submitted("offset-fetch", 30).ToList();
        await h.PublishAsync(inputs);

        // The next OffsetFetch requests (the stage's, when it is assigned its partitions) fail as during an outage.
        h.Runtime.Cluster.PushRequestErrors(OffsetFetch, ErrorCode.NotCoordinatorForGroup, ErrorCode.NotCoordinatorForGroup, ErrorCode.NotCoordinatorForGroup);
        var app = h.BuildHost(stage, new AcceptingProcessor());
        await app.StartAsync();

        var outputs = await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadUntilAsync(
            r => r.Select(x => x.Value.eventId).Distinct().Count() == inputs.Count, Timeout);
        Assert.Equal(inputs.Select(Harness.AcceptedId).Order(), outputs.Select(o => o.Value.eventId).Distinct().Order());
        Assert.True(ProcessorMetrics.ConsumerErrors.WithLabels(stage).Value > 0, "the injected OffsetFetch errors never reached the stage's consumer");
        Assert.Equal(1, ProcessorMetrics.Up.WithLabels(stage).Value);
    }
}
