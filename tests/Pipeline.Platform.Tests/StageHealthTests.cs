using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

/// <summary>/health/live and /health/ready tell the truth: a poll loop that stopped turning, background work that died
/// and a stage that failed are seen from outside, and a failed stage stops its process.</summary>
public sealed class StageHealthTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private static readonly Dictionary<string, string?> QuickLiveness = new()
    {
        ["Processing:LivenessTimeoutSeconds"] = "2",
        ["Processing:ShutdownTimeoutSeconds"] = "2",
    };

    [Fact]
    public async Task Liveness_fails_while_the_poll_loop_has_not_turned_for_the_configured_time_and_recovers_when_it_turns_again()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("stuck");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var app = h.BuildHost(stage, new AcceptingProcessor((m, _) => m.Value.report.reportId == "hang" ? gate.Task : Task.CompletedTask), QuickLiveness);
        await app.StartAsync();
        using var http = Http(app);
        await Harness.Eventually(async () => (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, Timeout, () => "never ready");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live")).StatusCode);

        await h.PublishAsync([Harness.Submitted("hang")]); // a dependency that never answers: the loop stops turning
        await Harness.Eventually(async () => (await http.GetAsync("/health/live")).StatusCode == HttpStatusCode.ServiceUnavailable, Timeout,
            () => "/health/live stayed 200 with the poll loop stuck");
        var health = app.Services.GetRequiredService<StageHealth>();
        Assert.True(health.Snapshot[stage].Running); // not failed: stuck

        gate.SetResult();
        await Harness.Eventually(async () => (await http.GetAsync("/health/live")).StatusCode == HttpStatusCode.OK, Timeout,
            () => "/health/live did not recover once the loop turned again");
    }

    [Fact]
    public async Task Background_work_that_dies_makes_the_stage_unready_and_not_live_and_is_counted()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("bank");
        var processor = new DependentProcessor();
        var app = h.BuildHost(stage, processor);
        await app.StartAsync();
        using var http = Http(app);
        await Harness.Eventually(async () => (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, Timeout, () => "never ready");
        var series = $"pipeline_background_failures_total{{stage=\"{stage}\",component=\"reader:hashes.known.v1\"}}";

        processor.Reader.SetException(new InvalidOperationException("the hash bank's reader hit a bug"));
        await Harness.Eventually(async () => (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.ServiceUnavailable, Timeout,
            () => "/health/ready stayed 200 with its reader dead");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health/live")).StatusCode);
        Assert.Equal(1, Value(await http.GetStringAsync("/metrics"), series));
        var failure = Assert.Single(app.Services.GetRequiredService<StageHealth>().BackgroundFailures);
        Assert.Equal((stage, "reader:hashes.known.v1"), failure.Key);
        Assert.Contains("hit a bug", failure.Value, StringComparison.Ordinal);

        // A rebalance reports the stage joined again: the dead reader is not forgotten.
        await h.PublishAsync(Harness.Submitted("after", 2));
        await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadAtLeastAsync(2, Timeout);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public async Task A_stage_that_fails_makes_liveness_fail_and_stops_its_process()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("restore");
        var app = h.BuildHost(stage, new FailingRestoreProcessor(), QuickLiveness);
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
        var health = app.Services.GetRequiredService<StageHealth>();
        await app.StartAsync();

        // The assignment's restore throws inside the consumer's rebalance callback; the loop fails, the host stops
        // (.NET's BackgroundServiceExceptionBehavior.StopHost), so Program.Run returns and the process exits.
        await stopping.Task.WaitAsync(Timeout);
        Assert.NotNull(health.Snapshot[stage].Failure);
        Assert.Contains("restore failed for good", health.Snapshot[stage].Failure!, StringComparison.Ordinal);
        Assert.Equal(0, ProcessorMetrics.Up.WithLabels(stage).Value);
        var check = await app.Services.GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>()
            .CheckHealthAsync(c => c.Tags.Contains("live"));
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, check.Status);
    }

    [Fact]
    public async Task A_topic_view_is_ready_once_read_is_not_judged_by_a_poll_loop_and_a_dead_reader_makes_it_neither_ready_nor_live()
    {
        await using var h = await Harness.StartAsync();
        await h.PublishAsync(Harness.Submitted("before", 3));
        var view = new SubmittedView(h.NewStage("view"));
        var app = h.BuildViewHost(view, QuickLiveness);
        await app.StartAsync();
        using var http = Http(app);
        await Harness.Eventually(async () => (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, Timeout, () => "the view never became ready");
        Assert.Equal(3, view.Seen.Count); // ready means read to where the topic ended at start

        // No poll loop: past Processing:LivenessTimeoutSeconds (2 s) without one, the view is still live.
        var health = app.Services.GetRequiredService<StageHealth>();
        await Harness.Eventually(() => DateTimeOffset.UtcNow - health.Snapshot[view.Name].LastPoll > TimeSpan.FromSeconds(3), Timeout,
            () => "the view's state is not older than the liveness limit yet");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live")).StatusCode);

        await h.PublishAsync([Harness.Submitted("poison")]); // the view's apply has a bug for this record: its reader dies
        await Harness.Eventually(async () => (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.ServiceUnavailable, Timeout,
            () => "/health/ready stayed 200 with the view's reader dead");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health/live")).StatusCode);
        Assert.Equal(1, Value(await http.GetStringAsync("/metrics"), $"pipeline_background_failures_total{{stage=\"{view.Name}\",component=\"reader:{Topics.ReportsSubmitted}\"}}"));
    }

    private static HttpClient Http(WebApplication app) => new() { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(10) };

    private static double Value(string metrics, string series)
    {
        var m = Regex.Match(metrics, "^" + Regex.Escape(series) + " (\\S+)$", RegexOptions.Multiline);
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : double.NaN;
    }
}

/// <summary>A topic view of reports.submitted whose apply fails on the report "poison".</summary>
internal sealed class SubmittedView(string name) : ITopicView
{
    public System.Collections.Concurrent.ConcurrentDictionary<string, ReportSubmitted> Seen { get; } = new();

    public string Name => name;

    public void Follow(TopicFollows follows) => follows.Topic<ReportSubmitted>(Topics.ReportsSubmitted, (_, v) =>
    {
        if (v?.report.reportId == "poison") throw new InvalidOperationException("a bug in the view");
        if (v is not null) Seen[v.report.reportId] = v;
    });
}

/// <summary>Accepts reports; depends on a reader the test can kill.</summary>
internal sealed class DependentProcessor : AcceptingProcessor, IBackgroundDependent
{
    public TaskCompletionSource Reader { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IEnumerable<BackgroundWork> BackgroundWork => [new("reader:hashes.known.v1", Reader.Task)];
}

/// <summary>Its state restore on assignment fails for good.</summary>
internal sealed class FailingRestoreProcessor : AcceptingProcessor, IPartitionAware
{
    void IPartitionAware.OnAssigned(IReadOnlyCollection<Confluent.Kafka.TopicPartition> partitions) =>
        throw new InvalidOperationException("restore failed for good");

    void IPartitionAware.OnRevoked(IReadOnlyCollection<Confluent.Kafka.TopicPartition> partitions)
    {
    }
}
