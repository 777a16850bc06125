namespace Pipeline.Platform.Tests;

/// <summary>A stage that cannot get an assignment (its group coordinator unreachable) leaves its group and joins again
/// after Processing:RejoinAfterSeconds, counted, and processes once the cluster answers again: a join that never
/// completes must not leave a stage idle for good (readiness reports it, but nothing else would end it).</summary>
public sealed class RejoinTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task A_stage_without_an_assignment_for_the_configured_time_joins_again_and_processes_once_the_cluster_answers()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("rejoin");
        var processor = new AcceptingProcessor();
        await h.PublishAsync(Harness.Submitted("waiting", 3));
        for (var b = 1; b <= 3; b++) h.Runtime.Cluster.SetBrokerDown(b);
        var app = h.BuildHost(stage, processor, new Dictionary<string, string?> { ["Processing:RejoinAfterSeconds"] = "10" });
        await app.StartAsync();

        await Harness.Eventually(() => ProcessorMetrics.Rejoins.WithLabels(stage).Value >= 1, Timeout, () => "the stage never joined again");
        Assert.Equal(0, processor.Processed);
        for (var b = 1; b <= 3; b++) h.Runtime.Cluster.SetBrokerUp(b);
        await Harness.Eventually(() => processor.Processed == 3, Timeout, () => $"{processor.Processed} of 3 processed after the cluster came back");
        await app.StopAsync();
    }
}
