using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Recheck;

/// <summary>
/// Runs the due checks on the stage's clock (TimeProvider, so tests and the demo can speed it up) and publishes
/// each observation. A URL counts as removed after <see cref="RecheckOptions.MissesForRemoval"/> consecutive misses.
/// </summary>
public sealed class RecheckLoop(
    RecheckSchedule schedule,
    RecheckStateStore store,
    IContentProbe probe,
    EventPublisher publisher,
    IOptions<RecheckOptions> options,
    TimeProvider time,
    ILogger<RecheckLoop> log) : BackgroundService
{
    private static readonly Counter Checks = Metrics.CreateCounter(
        "pipeline_recheck_checks_total", "URL checks by observed status.", new CounterConfiguration { LabelNames = ["status"] });
    private static readonly Counter Removals = Metrics.CreateCounter(
        "pipeline_recheck_removals_confirmed_total", "URLs confirmed removed after consecutive misses.");
    private static readonly Gauge Scheduled = Metrics.CreateGauge(
        "pipeline_recheck_scheduled_urls", "Noticed URLs currently scheduled for rechecks.");
    private static readonly Gauge LastCheck = Metrics.CreateGauge(
        "pipeline_recheck_last_check_timestamp_seconds", "Unix time (stage clock) of the last completed check.");

    private readonly RecheckOptions settings = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow().UtcDateTime;
            Scheduled.Set(schedule.Count);
            var due = schedule.TakeDue(now, settings.Concurrency * 8);
            if (due.Count == 0)
            {
                var changed = schedule.Changed;
                var next = schedule.NextDue;
                var wait = next is null ? TimeSpan.FromMinutes(1) : next.Value - now;
                wait = TimeSpan.FromTicks(Math.Clamp(wait.Ticks, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromMinutes(1).Ticks));
                try
                {
                    await Task.WhenAny(Task.Delay(wait, time, stoppingToken), changed);
                    stoppingToken.ThrowIfCancellationRequested();
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = settings.Concurrency, CancellationToken = stoppingToken },
                async (item, ct) => await CheckAsync(item, ct));
        }
    }

    private async Task CheckAsync(RecheckSchedule.Item item, CancellationToken ct)
    {
        ProbeResult result;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            timeout.CancelAfter(settings.ProbeTimeout);
            try
            {
                result = await probe.ProbeAsync(item.Notice.url, timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                result = new ProbeResult(ContentStatus.UNREACHABLE, null);
            }
        }
        var at = time.GetUtcNow().UtcDateTime;
        var observation = schedule.Record(item, result, at);
        Checks.WithLabels(result.Status.ToString()).Inc();
        LastCheck.Set(new DateTimeOffset(at).ToUnixTimeMilliseconds() / 1000.0);
        var n = item.Notice;
        var observed = new ContentStatusObserved
        {
            eventId = EventIds.Derive("observed", n.noticeId, at.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            caseKey = n.caseKey,
            noticeId = n.noticeId,
            url = n.url,
            status = result.Status,
            httpStatus = result.HttpStatus,
            method = ObservationMethod.RECHECK,
            consecutiveMisses = item.Misses,
            hosterId = n.hosterId,
            observedAt = at,
            offlineSince = item.FirstMissAt,
            removalConfirmed = observation.RemovalConfirmed,
        };
        try
        {
            await publisher.PublishAsync(Topics.ContentStatus, n.caseKey, observed, ct: ct);
            if (observation.RemovalConfirmed || observation.GaveUp)
            {
                if (observation.RemovalConfirmed) Removals.Inc();
                await publisher.TombstoneAsync(Topics.RecheckSchedule, n.caseKey, item.Partition, ct);
                store.State.Apply(item.Partition, n.caseKey, null);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not acknowledged: the entry stays in the state topic and is checked again after a restart.
            log.LogError("Recheck of {CaseKey}: publishing the observation failed: {Error}", n.caseKey, e.Message);
        }
    }
}
