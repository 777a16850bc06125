using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Platform;

namespace Pipeline.Routing;

/// <summary>Releases police-first takedowns whose release timeout passed without an answer from the police, on the
/// stage's clock. A release by the police at the same moment yields the same event id, so only one takedown counts.</summary>
public sealed class HoldWatch(RoutingState state, EventPublisher publisher, IOptions<RoutingOptions> options, TimeProvider time, ILogger<HoldWatch> log)
    : BackgroundService
{
    private static readonly Gauge Held = Metrics.CreateGauge("pipeline_routing_held_takedowns", "Takedowns held for the police (police first).");
    private static readonly Counter TimedOut = Metrics.CreateCounter("pipeline_routing_hold_timeouts_total", "Held takedowns released because the police did not answer in time.");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(settings.HoldCheckInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var now = time.GetUtcNow().UtcDateTime;
            var holding = state.Held.Entries.Where(e => e.Value.policeHold).ToList();
            Held.Set(holding.Count);
            foreach (var (caseKey, held) in holding.Where(e => e.Value.requestedAt + settings.PoliceReleaseTimeout <= now))
            {
                var released = RoutingProcessor.Release(held, $"police-first: released after {settings.PoliceReleaseTimeout} without an answer", now);
                try
                {
                    await publisher.PublishAsync(Topics.TakedownRequested, caseKey, released, ct: stoppingToken);
                    if (state.Held.TryFind(caseKey, out _, out var partition))
                    {
                        await publisher.PublishAsync(Topics.RoutingHeld, caseKey, released, partition, stoppingToken);
                        state.Held.Apply(partition, caseKey, released);
                    }
                    TimedOut.Inc();
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogError("Releasing the held takedown of {CaseKey} failed: {Error}; retrying on the next pass", caseKey, e.Message);
                }
            }
        }
    }
}
