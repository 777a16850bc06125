using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Sla;

/// <summary>Flags open notices whose deadline passed and escalates them to the authority (one DEADLINE_BREACHED and one
/// ESCALATED event each, both at the deadline in event time) and keeps the open and overdue gauges current, on the
/// stage's clock. An event already on sla.events (published before a restart) is neither published nor counted again,
/// so pipeline_sla_breaches_total and pipeline_sla_escalations_total count new ones only.</summary>
/// <remarks>Escalation lives here, not in takedown's reminder timer: it is decided by the same fact as the breach (the
/// first notice's deadline passed, no confirmed removal), from the same state, so one component watches deadlines.</remarks>
public sealed class DeadlineWatch(SlaState state, ScorecardHistory history, EventPublisher publisher, IOptions<SlaOptions> options, TimeProvider time, ILogger<DeadlineWatch> log)
    : BackgroundService
{
    private static readonly Gauge Open = Metrics.CreateGauge("pipeline_sla_open_notices", "Notices whose URL is not yet confirmed removed.");
    private static readonly Gauge Overdue = Metrics.CreateGauge("pipeline_sla_overdue_notices", "Open notices past their deadline.");
    private static readonly Counter Breaches = Metrics.CreateCounter("pipeline_sla_breaches_total", "Notices whose deadline passed while the URL was still online.");
    private static readonly Counter Escalations = Metrics.CreateCounter("pipeline_sla_escalations_total",
        "Notices escalated to the authority (deadline passed, URL still online), by whether the deadline came from an authority's removal order.",
        new CounterConfiguration { LabelNames = ["ordered"] });
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
                // Offline since before the deadline, the removal not yet confirmed (recheck is still counting misses):
                // wait for the run to be decided, for at most Sla:BreachGrace, rather than escalate a hoster that met the norm.
                if (state.MissRuns.TryGetValue(notice.noticeId, out var offlineSince) && offlineSince <= notice.deadline
                    && now < notice.deadline + options.Value.BreachGrace) continue;
                try
                {
                    if (!history.Has(notice.noticeId, SlaEventKind.DEADLINE_BREACHED))
                    {
                        var breach = SlaClock.Breach(notice, now);
                        await publisher.PublishAsync(Topics.SlaEvents, notice.caseKey, breach, ct: stoppingToken);
                        history.Add(breach); // a failure publishing the escalation below must not publish this again
                        Breaches.Inc();
                    }
                    if (!history.Has(notice.noticeId, SlaEventKind.ESCALATED))
                    {
                        var escalation = SlaClock.Escalation(notice, now);
                        await publisher.PublishAsync(Topics.SlaEvents, notice.caseKey, escalation, ct: stoppingToken);
                        history.Add(escalation);
                        Escalations.WithLabels(notice.orderReference is null ? "false" : "true").Inc();
                    }
                    flagged.Add(notice.noticeId);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogError("Could not publish the breach or escalation of notice {NoticeId}: {Error}; retrying on the next pass", notice.noticeId, e.Message);
                }
            }
        }
    }
}
