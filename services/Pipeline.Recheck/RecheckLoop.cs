using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Recheck;

/// <summary>
/// Runs the due checks on the stage's clock (TimeProvider, so tests and the demo can speed it up) and publishes
/// each observation. A URL counts as removed after <see cref="RecheckOptions.MissesForRemoval"/> consecutive misses,
/// or at once when a hoster confirmed the removal and a check agrees. Checks pass through <see cref="HostPoliteness"/>
/// and then take one of <see cref="RecheckOptions.Concurrency"/> slots; the loop never waits for a check, so a slow
/// host holds back only its own URLs.
/// </summary>
public sealed class RecheckLoop(
    RecheckSchedule schedule,
    RecheckStateStore store,
    IContentProbe probe,
    HostPoliteness politeness,
    EventPublisher publisher,
    IOptions<RecheckOptions> options,
    TimeProvider time,
    ILogger<RecheckLoop> log) : BackgroundService
{
    private static readonly Counter Checks = Metrics.CreateCounter(
        "pipeline_recheck_checks_total", "URL checks by observed status.", new CounterConfiguration { LabelNames = ["status"] });
    private static readonly Counter Removals = Metrics.CreateCounter(
        "pipeline_recheck_removals_confirmed_total", "URLs confirmed removed, by method (RECHECK: consecutive misses; HOSTER_CONFIRMATION: a check agreed with the hoster).",
        new CounterConfiguration { LabelNames = ["method"] });
    private static readonly Counter Reappearances = Metrics.CreateCounter(
        "pipeline_recheck_reappearances_total", "URLs found online again after a confirmed removal (re-uploads); each asks for a new takedown.");
    private static readonly Counter RejectedConfirmations = Metrics.CreateCounter(
        "pipeline_recheck_confirmations_contradicted_total", "Hoster confirmations of removal that the check contradicted (the content was online).");
    private static readonly Gauge Scheduled = Metrics.CreateGauge(
        "pipeline_recheck_scheduled_urls", "Noticed URLs scheduled for rechecks until their removal is confirmed (watched ones not included).");
    private static readonly Gauge WatchedUrls = Metrics.CreateGauge(
        "pipeline_recheck_watched_urls", "URLs watched for a re-upload after their confirmed removal (checked every Recheck:WatchInterval).");
    private static readonly Gauge LastCheck = Metrics.CreateGauge(
        "pipeline_recheck_last_check_timestamp_seconds", "Unix time (stage clock) of the last completed check.");

    private readonly RecheckOptions settings = options.Value;
    private readonly SemaphoreSlim slots = new(options.Value.Concurrency, options.Value.Concurrency);
    private readonly HashSet<Task> running = [];
    private readonly Lock runningGate = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var now = time.GetUtcNow().UtcDateTime;
                var watchedNow = schedule.Watched;
                Scheduled.Set(schedule.Count - watchedNow);
                WatchedUrls.Set(watchedNow);
                var changed = schedule.Changed;
                var due = schedule.TakeDue(now, int.MaxValue);
                foreach (var item in due) Start(item, stoppingToken);
                var next = schedule.NextDue;
                var wait = next is null ? TimeSpan.FromMinutes(1) : next.Value - now;
                wait = TimeSpan.FromTicks(Math.Clamp(wait.Ticks, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromMinutes(1).Ticks));
                await Task.WhenAny(Task.Delay(wait, time, stoppingToken), changed);
            }
        }
        catch (OperationCanceledException)
        {
        }
        Task[] left;
        lock (runningGate) left = [.. running];
        await Task.WhenAll(left).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private void Start(RecheckSchedule.Item item, CancellationToken ct)
    {
        var task = CheckPolitelyAsync(item, ct);
        lock (runningGate) running.Add(task);
        _ = task.ContinueWith(t => { lock (runningGate) running.Remove(t); }, TaskScheduler.Default);
    }

    private async Task CheckPolitelyAsync(RecheckSchedule.Item item, CancellationToken ct)
    {
        try
        {
            using var turn = await politeness.EnterAsync(item.Host, slots, ct);
            await CheckAsync(item, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // shutting down: the entry is still in the state topic and is checked after the restart
        }
        catch (Exception e)
        {
            // Not expected (the probe and the publishing handle their own failures); the URL is checked again after a restart.
            log.LogError(e, "Recheck of {CaseKey} failed; it is checked again after a restart", item.Notice.caseKey);
        }
        finally
        {
            schedule.Done();
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
            method = observation.Method,
            consecutiveMisses = observation.Misses,
            hosterId = n.hosterId,
            observedAt = at,
            offlineSince = observation.OfflineSince,
            removalConfirmed = observation.RemovalConfirmed,
            reappeared = observation.Reappeared,
        };
        try
        {
            await publisher.PublishAsync(Topics.ContentStatus, n.caseKey, observed, ct: ct);
            if (observation.RemovalConfirmed) Removals.WithLabels(observation.Method.ToString()).Inc();
            if (observation.ConfirmationRejected)
            {
                RejectedConfirmations.Inc();
                log.LogWarning("Recheck of {CaseKey}: the hoster confirmed removal of notice {NoticeId}, but the URL is online (HTTP {Status})", n.caseKey, n.noticeId, result.HttpStatus);
            }
            if (observation.Reappeared)
            {
                Reappearances.Inc();
                await publisher.PublishAsync(Topics.TakedownRequested, n.caseKey, Reupload.Request(n, at, settings.HomeHotline), ct: ct);
            }
            if (observation.StartsWatch)
            {
                await publisher.PublishAsync(Topics.RecheckSchedule, n.caseKey, n, item.Partition, ct);
            }
            else if (observation.Ends)
            {
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

    public override void Dispose()
    {
        slots.Dispose();
        base.Dispose();
    }
}
