using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Sla;

/// <summary>Flags open notices whose deadline passed (one DEADLINE_BREACHED event each) and keeps the open and
/// overdue gauges current, on the stage's clock. A breach already on sla.events (published before a restart) is
/// neither published nor counted again, so pipeline_sla_breaches_total counts new breaches only.</summary>
public sealed class DeadlineWatch(SlaState state, ScorecardHistory history, EventPublisher publisher, IOptions<SlaOptions> options, TimeProvider time, ILogger<DeadlineWatch> log)
    : BackgroundService
{
    private static readonly Gauge Open = Metrics.CreateGauge("pipeline_sla_open_notices", "Notices whose URL is not yet confirmed removed.");
    private static readonly Gauge Overdue = Metrics.CreateGauge("pipeline_sla_overdue_notices", "Open notices past their deadline.");
    private static readonly Counter Breaches = Metrics.CreateCounter("pipeline_sla_breaches_total", "Notices whose deadline passed while the URL was still online.");
    private readonly HashSet<string> flagged = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            // Wait (bounded) for the history so that breaches published before a restart are known.
            await history.CaughtUp.WaitAsync(TimeSpan.FromMinutes(1), stoppingToken);
        }
        catch (TimeoutException)
        {
            log.LogWarning("The SLA event history was not read within a minute; breaches published before the restart may be counted again");
        }
        catch (OperationCanceledException)
        {
            return;
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Value.DeadlineCheckInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var now = time.GetUtcNow().UtcDateTime;
            var open = state.Open.Entries.Select(e => e.Value).Where(n => n.timeline.removalObservedAt is null).ToList();
            var overdue = open.Where(n => n.deadline < now).ToList();
            Open.Set(open.Count);
            Overdue.Set(overdue.Count);
            foreach (var notice in overdue.Where(n => !flagged.Contains(n.noticeId)))
            {
                if (history.Has(notice.noticeId, SlaEventKind.DEADLINE_BREACHED))
                {
                    flagged.Add(notice.noticeId);
                    continue;
                }
                try
                {
                    await publisher.PublishAsync(Topics.SlaEvents, notice.caseKey, SlaClock.Breach(notice, now), ct: stoppingToken);
                    flagged.Add(notice.noticeId);
                    Breaches.Inc();
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogError("Could not publish the breach of notice {NoticeId}: {Error}; retrying on the next pass", notice.noticeId, e.Message);
                }
            }
        }
    }
}
