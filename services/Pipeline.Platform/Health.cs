using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Pipeline.Platform;

/// <summary>What each stage's loop last reported; read by the /health endpoints.</summary>
public sealed class StageHealth
{
    private readonly ConcurrentDictionary<string, State> stages = new();

    public sealed record State(bool Running, bool Joined, string? Failure, DateTimeOffset LastPoll);

    public void Report(string stage, bool running, bool joined, string? failure = null) =>
        stages[stage] = new State(running, joined, failure, DateTimeOffset.UtcNow);

    public void Polled(string stage) =>
        stages.AddOrUpdate(stage, _ => new State(true, false, null, DateTimeOffset.UtcNow), (_, s) => s with { LastPoll = DateTimeOffset.UtcNow });

    public IReadOnlyDictionary<string, State> Snapshot => stages;

    public void Expect(string stage) => stages.TryAdd(stage, new State(false, false, null, DateTimeOffset.UtcNow));
}

internal sealed class LivenessCheck(StageHealth health) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failed = health.Snapshot.Where(s => s.Value.Failure is not null).ToList();
        return Task.FromResult(failed.Count == 0
            ? HealthCheckResult.Healthy($"{health.Snapshot.Count} stage(s) alive")
            : HealthCheckResult.Unhealthy(string.Join("; ", failed.Select(f => $"{f.Key}: {f.Value.Failure}"))));
    }
}

internal sealed class ReadinessCheck(StageHealth health) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (health.Snapshot.Count == 0) return Task.FromResult(HealthCheckResult.Unhealthy("no stage has started yet"));
        var notReady = health.Snapshot.Where(s => !s.Value.Running || !s.Value.Joined || s.Value.Failure is not null).Select(s => s.Key).ToList();
        return Task.FromResult(notReady.Count == 0
            ? HealthCheckResult.Healthy("all stages consuming")
            : HealthCheckResult.Unhealthy("not consuming yet: " + string.Join(", ", notReady)));
    }
}
