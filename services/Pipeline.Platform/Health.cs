using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Pipeline.Platform;

/// <summary>What each stage's loop last reported; read by the /health endpoints.</summary>
public sealed class StageHealth
{
    private readonly ConcurrentDictionary<string, State> stages = new();

    /// <param name="PollLoop">False for a topic view (<see cref="ITopicView"/>): its readers have no poll loop for
    /// liveness to watch; a dead reader is a background failure.</param>
    public sealed record State(bool Running, bool Joined, string? Failure, DateTimeOffset LastPoll, bool PollLoop = true);

    public void Report(string stage, bool running, bool joined, string? failure = null) =>
        stages[stage] = new State(running, joined, failure, DateTimeOffset.UtcNow);

    public void Polled(string stage) =>
        stages.AddOrUpdate(stage, _ => new State(true, false, null, DateTimeOffset.UtcNow), (_, s) => s with { LastPoll = DateTimeOffset.UtcNow });

    public IReadOnlyDictionary<string, State> Snapshot => stages;

    public void Expect(string stage) => stages.TryAdd(stage, new State(false, false, null, DateTimeOffset.UtcNow));

    /// <summary>A topic view has read every topic to where it ended at start: ready from now on (unless a reader dies).</summary>
    public void ViewReady(string view) => stages[view] = new State(true, true, null, DateTimeOffset.UtcNow, PollLoop: false);

    private readonly ConcurrentDictionary<(string Stage, string Component), string> backgroundFailures = new();

    /// <summary>Work running beside a stage's loop that the stage needs (a compacted reader that keeps the hash bank or
    /// the case index current, a timer loop) has died. Nothing in the process brings it back, so the stage is neither
    /// ready nor live from now on: the orchestrator restarts the process. Kept apart from <see cref="Report"/>, which
    /// the loop calls on every rebalance and would otherwise clear it. Counted in
    /// <c>pipeline_background_failures_total{stage,component}</c>.</summary>
    public void BackgroundFailed(string stage, string component, string error)
    {
        backgroundFailures[(stage, component)] = error;
        ProcessorMetrics.BackgroundFailures.WithLabels(stage, component).Inc();
    }

    /// <summary>Reports <paramref name="work"/> to <see cref="BackgroundFailed"/> (and logs it) when it faults.</summary>
    public void Watch(string stage, BackgroundWork work, ILogger log) => work.Completion.ContinueWith(t =>
    {
        var error = t.Exception?.GetBaseException().Message ?? "failed";
        BackgroundFailed(stage, work.Component, error);
        log.LogCritical(t.Exception, "{Stage}: {Component} died ({Error}); the stage is no longer ready or live and its process must be restarted", stage, work.Component, error);
    }, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>Dead background work, by stage and component.</summary>
    public IReadOnlyDictionary<(string Stage, string Component), string> BackgroundFailures => backgroundFailures;

    internal IEnumerable<string> BackgroundFailuresOf(string stage) =>
        backgroundFailures.Where(f => f.Key.Stage == stage).Select(f => $"{f.Key.Component} failed: {f.Value}");
}

/// <summary>
/// Live unless a stage failed, background work a stage needs died, or a running stage's poll loop has not turned for
/// Processing:LivenessTimeoutSeconds (a hung dependency, a deadlock, a restore that never ends): each is cured only
/// by a restart. A stage that is still warming up (not running yet) is not judged by its poll loop.
/// </summary>
internal sealed class LivenessCheck(StageHealth health, IOptions<ProcessingOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var limit = TimeSpan.FromSeconds(options.Value.LivenessTimeoutSeconds);
        var now = DateTimeOffset.UtcNow; // real time, never the stage clock: the demo's clock runs ×3600
        var problems = new List<string>();
        foreach (var (stage, state) in health.Snapshot.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            if (state.Failure is not null) problems.Add($"{stage}: {state.Failure}");
            else if (state.Running && state.PollLoop && now - state.LastPoll > limit)
                problems.Add($"{stage}: its poll loop has not turned for {(now - state.LastPoll).TotalSeconds:0} s (Processing:LivenessTimeoutSeconds is {limit.TotalSeconds:0})");
            problems.AddRange(health.BackgroundFailuresOf(stage).Select(f => $"{stage}: {f}"));
        }
        return Task.FromResult(problems.Count == 0
            ? HealthCheckResult.Healthy($"{health.Snapshot.Count} stage(s) alive")
            : HealthCheckResult.Unhealthy(string.Join("; ", problems)));
    }
}

internal sealed class ReadinessCheck(StageHealth health) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (health.Snapshot.Count == 0) return Task.FromResult(HealthCheckResult.Unhealthy("no stage has started yet"));
        var notReady = health.Snapshot.Where(s => !s.Value.Running || !s.Value.Joined || s.Value.Failure is not null || health.BackgroundFailuresOf(s.Key).Any())
            .Select(s => s.Key).ToList();
        return Task.FromResult(notReady.Count == 0
            ? HealthCheckResult.Healthy("all stages consuming")
            : HealthCheckResult.Unhealthy("not consuming yet: " + string.Join(", ", notReady)));
    }
}
