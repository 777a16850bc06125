using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

/// <summary>Co-partitioned topics are a checked contract: a stage whose inputs and state topics differ in partition
/// count refuses to start and says which topics, their counts and the fix.</summary>
public sealed class CoPartitioningTests
{
    [Fact]
    public void Equal_counts_pass_and_a_difference_or_a_missing_topic_is_named_with_the_counts_and_the_fix()
    {
        Assert.Null(CoPartitioning.Problem("sla", [("notices.issued.v1", 6), ("content.status.v1", 6), ("sla.open.v1", 6)]));
        Assert.Null(CoPartitioning.Problem("geolocation", [("reports.accepted.v1", 6)]));

        var problem = CoPartitioning.Problem("sla", [("notices.issued.v1", 6), ("content.status.v1", 4), ("sla.open.v1", null)]);
        Assert.NotNull(problem);
        Assert.Contains("Stage sla refuses to start", problem, StringComparison.Ordinal);
        Assert.Contains("notices.issued.v1 has 6, content.status.v1 has 4, sla.open.v1 does not exist", problem, StringComparison.Ordinal);
        Assert.Contains("Fix:", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Several_inputs_feeding_state_use_the_range_assignor_and_every_other_stage_the_cooperative_one()
    {
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.AddStage<AcceptingProcessor>("one-input", s => s.Consumes<ReportSubmitted>(Topics.ReportsSubmitted).CoPartitioned("state.v1"));
        builder.AddStage<TwoInputs>("two-inputs", s => s.Consumes<ReportSubmitted>(Topics.ReportsSubmitted).Consumes<ReportAccepted>(Topics.ReportsAccepted).CoPartitioned("state.v1"));
        builder.AddStage<TwoInputs>("stateless", s => s.Consumes<ReportSubmitted>(Topics.ReportsSubmitted).Consumes<ReportAccepted>(Topics.ReportsAccepted));
        var stages = builder.Stages.ToDictionary(s => s.Name);

        Assert.Equal(PartitionAssignmentStrategy.CooperativeSticky, stages["one-input"].AssignmentStrategy);
        Assert.Equal(PartitionAssignmentStrategy.Range, stages["two-inputs"].AssignmentStrategy);
        Assert.Equal([Topics.ReportsSubmitted, Topics.ReportsAccepted, "state.v1"], stages["two-inputs"].CoPartitionedTopics);
        Assert.Equal(PartitionAssignmentStrategy.CooperativeSticky, stages["stateless"].AssignmentStrategy);
        Assert.Empty(stages["stateless"].CoPartitionedTopics);
    }

    [Fact]
    public async Task A_stage_whose_state_topic_has_fewer_partitions_than_its_input_refuses_to_start_and_its_process_stops()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("copartitioned");
        var stateTopic = $"copartitioned.state-{Guid.NewGuid():N}.v1";
        h.Runtime.Cluster.CreateTopic(stateTopic, partitions: 4, replicationFactor: 3);

        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Builder.Logging.SetMinimumLevel(LogLevel.Critical);
        builder.Configuration.AddInMemoryCollection(h.Runtime.Configuration);
        builder.Services.AddSingleton(new AcceptingProcessor());
        builder.AddStage<AcceptingProcessor>(stage, s => s.Consumes<ReportSubmitted>(Topics.ReportsSubmitted).CoPartitioned(stateTopic));
        await using var app = builder.Build();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
        var processor = app.Services.GetRequiredService<AcceptingProcessor>();
        await app.StartAsync();

        await stopping.Task.WaitAsync(TimeSpan.FromSeconds(120));
        var failure = app.Services.GetRequiredService<StageHealth>().Snapshot[stage].Failure;
        Assert.NotNull(failure);
        Assert.Contains($"{Topics.ReportsSubmitted} has 6, {stateTopic} has 4", failure, StringComparison.Ordinal);
        Assert.Contains("Fix:", failure, StringComparison.Ordinal);
        Assert.Empty(processor.Assigned); // it never joined its group
    }
}

internal sealed class TwoInputs : IProcessor<ReportSubmitted>, IProcessor<ReportAccepted>
{
    public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask ProcessAsync(Incoming<ReportAccepted> message, IOutput output, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
