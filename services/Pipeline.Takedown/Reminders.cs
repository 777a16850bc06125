using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

/// <summary>When reminders fall due: reminder n at the first notice's issuedAt + n × interval (event time), as long as
/// the URL is not confirmed removed, the notice is not held for the police and fewer than MaxCount went out. A reminder
/// issued late (the service was down) does not cause a burst: the next one is due at the next slot of the cadence.</summary>
public static class ReminderSchedule
{
    /// <param name="latest">The case's latest notice: its first notice or its last reminder (the timer's state).</param>
    public static DateTime? NextDue(TakedownNotice latest, TakedownOptions.ReminderSettings settings)
    {
        if (latest.timeline.removalObservedAt is not null || latest.policeHold) return null;
        if (latest.kind is not (NoticeKind.FIRST or NoticeKind.REMINDER)) return null;
        var sent = latest.kind == NoticeKind.FIRST ? 0 : latest.sequence;
        if (sent >= settings.MaxCount) return null;
        var first = latest.timeline.noticeSentAt ?? latest.issuedAt;
        var slotsPassed = Math.Max(0, (latest.issuedAt - first).Ticks / settings.Interval.Ticks);
        return first + settings.Interval * (slotsPassed + 1);
    }

    /// <summary>The timer's state marked removed at <paramref name="removedAt"/> (a copy).</summary>
    public static TakedownNotice Stopped(TakedownNotice latest, DateTime removedAt) =>
        NoticeComposer.Copy(latest, latest.timeline.noticeSentAt, removedAt);

    /// <summary>The id of the first notice of the timer's episode.</summary>
    public static string FirstNoticeId(TakedownNotice latest) => latest.originalNoticeId ?? latest.noticeId;
}

/// <summary>
/// The reminder timers: per case key the latest notice (first or last reminder) in the compacted topic
/// takedown.reminders.v1, co-partitioned with takedown.requested and content.status; a confirmed removal closes the
/// timer by setting <c>timeline.removalObservedAt</c> (kept, so that a replayed request does not start it again).
/// <see cref="Gate"/> serialises the consume loop's changes with <see cref="ReminderLoop"/>'s, so that a removal and a
/// reminder of the same case never overwrite each other in the topic.
/// </summary>
public sealed class ReminderTimers(IOptions<KafkaOptions> kafka, AvroSerdes serdes, ILogger<ReminderTimers> log)
{
    public PartitionedState<TakedownNotice> State { get; } = new(Topics.TakedownReminders, kafka.Value, serdes, log);

    public SemaphoreSlim Gate { get; } = new(1, 1);
}

internal static class ReminderMetrics
{
    public static readonly Counter Issued = Metrics.CreateCounter(
        "pipeline_takedown_reminders_total", "Reminder notices issued (a re-issue after a crash, with the same notice id, counts again; it is not delivered twice).",
        new CounterConfiguration { LabelNames = ["channel"] });
    public static readonly Counter Stopped = Metrics.CreateCounter(
        "pipeline_takedown_reminder_timers_stopped_total", "Reminder timers stopped because the removal of the URL was confirmed.");
    public static readonly Gauge Open = Metrics.CreateGauge(
        "pipeline_takedown_reminder_timers", "Notices with reminders still to come (URL not confirmed removed, fewer than Takedown:Reminders:MaxCount sent).");
}

/// <summary>
/// Issues the reminders when due on the stage's clock. Each reminder goes to notices.issued.v1 (delivered by the delivery
/// stage like any notice) and then into the timer state, both acknowledged by Kafka before the in-memory state changes.
/// A crash in between leaves the previous state, so the same reminder (same ids) is issued again after the restart and
/// the delivery stage, which records every notice id it delivered, does not send it twice.
/// </summary>
public sealed class ReminderLoop(ReminderTimers timers, EventPublisher publisher, IOptions<TakedownOptions> options, TimeProvider time, ILogger<ReminderLoop> log)
    : BackgroundService
{
    private readonly TakedownOptions.ReminderSettings settings = options.Value.Reminders;

    /// <summary>Stopped timers age out over days: looking for them once an hour of stage time is plenty, and spares the
    /// loop a scan of every timer on each pass.</summary>
    private static readonly TimeSpan ForgetInterval = TimeSpan.FromHours(1);

    private DateTime nextForget = DateTime.MinValue;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow().UtcDateTime;
            var open = timers.State.Entries
                .Select(e => (e.Key, Latest: e.Value, Due: ReminderSchedule.NextDue(e.Value, settings)))
                .Where(t => t.Due is not null).ToList();
            ReminderMetrics.Open.Set(open.Count);
            foreach (var (key, latest, _) in open.Where(t => t.Due <= now).OrderBy(t => t.Due).ThenBy(t => t.Key, StringComparer.Ordinal))
            {
                if (stoppingToken.IsCancellationRequested) return;
                await IssueAsync(key, latest, now, stoppingToken);
            }
            if (now >= nextForget)
            {
                await ForgetAsync(now, stoppingToken);
                nextForget = now + ForgetInterval;
            }
            if (!await StageTimers.WaitAsync(time, now, open.Where(t => t.Due > now).Select(t => t.Due).Min(), stoppingToken)) return;
        }
    }

    /// <summary>A stopped timer (removed, or all reminders sent) is kept only so that a replayed request does not start
    /// it again; once its first notice is older than the retention of takedown.requested.v1, no request can be replayed,
    /// and the entry is deleted (a tombstone), so the state does not grow without bound.</summary>
    private async Task ForgetAsync(DateTime now, CancellationToken ct)
    {
        if (RequestRetention is not { } retention) return; // kept for ever, so a replay is possible for ever
        var stale = timers.State.Entries.Where(e => ReminderSchedule.NextDue(e.Value, settings) is null
            && (e.Value.timeline.noticeSentAt ?? e.Value.issuedAt) + retention < now).Select(e => e.Key).ToList();
        if (stale.Count == 0 || !await StageTimers.EnterAsync(timers.Gate, ct)) return;
        try
        {
            foreach (var key in stale)
            {
                if (!timers.State.TryFind(key, out var current, out var partition) || ReminderSchedule.NextDue(current, settings) is not null) continue;
                await publisher.TombstoneAsync(Topics.TakedownReminders, key, partition, ct);
                timers.State.Apply(partition, key, null);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogError("Deleting stopped reminder timers failed: {Error}; retrying on the next pass", e.Message);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            timers.Gate.Release();
        }
    }

    private static readonly TimeSpan? RequestRetention = TopicCatalog.Get(Topics.TakedownRequested).RetentionMs is var ms and >= 0 ? TimeSpan.FromMilliseconds(ms) : null;

    private async Task IssueAsync(string caseKey, TakedownNotice latest, DateTime now, CancellationToken ct)
    {
        if (!await StageTimers.EnterAsync(timers.Gate, ct)) return;
        try
        {
            // Removed, revoked or advanced meanwhile: the snapshot is stale.
            if (!timers.State.TryFind(caseKey, out var current, out var partition) || !ReferenceEquals(current, latest)
                || ReminderSchedule.NextDue(current, settings) is not { } due || due > now) return;
            var reminder = NoticeComposer.Reminder(latest, now);
            await publisher.PublishAsync(Topics.NoticesIssued, caseKey, reminder, ct: ct);
            await publisher.PublishAsync(Topics.TakedownReminders, caseKey, reminder, partition, ct);
            timers.State.Apply(partition, caseKey, reminder);
            ReminderMetrics.Issued.WithLabels(reminder.recipient.channel.ToString()).Inc();
            log.LogInformation("Reminder {Number} ({NoticeId}) of notice {FirstNoticeId} issued to {Recipient}", reminder.sequence, reminder.noticeId,
                reminder.originalNoticeId, reminder.recipient.address);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not acknowledged: the state is unchanged, the next pass issues the same reminder (same ids) again.
            log.LogError("Reminder for {CaseKey}: issuing failed: {Error}; retrying on the next pass", caseKey, e.Message);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            timers.Gate.Release();
        }
    }
}
