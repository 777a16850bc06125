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

    /// <summary>Whether the observation is an ONLINE check of ours of
    /// this timer's notice, with the timer still running and something left to come from it.</summary>
    public static bool Verifies(TakedownNotice latest, ContentStatusObserved observed, TakedownOptions settings)
    {
        if (observed.status != ContentStatus.ONLINE || observed.reappeared || observed.method != ObservationMethod.RECHECK) return false;
        if (latest.timeline.removalObservedAt is not null || latest.kind is not (NoticeKind.FIRST or NoticeKind.REMINDER)) return false;
        if (observed.noticeId is { } id && id != FirstNoticeId(latest) && id != latest.noticeId) return false;
        return NextDue(latest, settings.Reminders) is not null || Escalations.NextDue(latest, settings.Escalation) is not null;
    }

    /// <summary>The timer's state with <c>verified_at</c> = <paramref name="seenAt"/> (<c>automated_crawler</c>) in its X-ARF
    /// document; null when the document's verification is as new already.</summary>
    public static TakedownNotice? WithVerified(TakedownNotice latest, DateTime seenAt)
    {
        var doc = System.Text.Json.Nodes.JsonNode.Parse(latest.xarf)!.AsObject();
        if (XarfShape.VerifiedAt(doc) is { } verified && verified >= seenAt) return null;
        var seen = NoticeComposer.Copy(latest, latest.timeline.noticeSentAt, latest.timeline.removalObservedAt);
        seen.xarf = XarfShape.Verified(doc, seenAt, XarfShape.VerifiedByCrawler).ToJsonString(Indented);
        return seen;
    }

    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The id of the first notice of the timer's episode.</summary>
    public static string FirstNoticeId(TakedownNotice latest) => latest.originalNoticeId ?? latest.noticeId;
}

/// <summary>
/// The reminder timers: per case key the latest notice (first or last reminder) in the compacted topic
/// takedown.reminders.v1, co-partitioned with takedown.requested and content.status; a confirmed removal closes the
/// timer by setting <c>timeline.removalObservedAt</c> (kept, so that a replayed request does not start it again); an
/// ONLINE observation puts its time into the entry's X-ARF document as <c>verified_at</c> (<see cref="ReminderSchedule.Verifies"/>, <see cref="ReminderSchedule.WithVerified"/>).
/// The takedown stage owns the store: its timers fire on the stage's thread (<see cref="TakedownProcessor"/>).
/// </summary>
public sealed class ReminderTimers(IOptions<KafkaOptions> kafka, IOptions<RetentionOptions> retention, AvroSerdes serdes, ILogger<ReminderTimers> log)
{
    public PartitionedState<TakedownNotice> State { get; } = new PartitionedState<TakedownNotice>(Topics.TakedownReminders, kafka.Value, serdes, log)
        .ExpiresAt(n => retention.Value.Expiry(RetentionRules.Finished(n)));

    private static DateTime? Earliest(DateTime? a, DateTime? b) => a is null ? b : b is null ? a : a < b ? a : b;

    /// <summary>How long takedown.requested.v1 keeps a request (null: for ever). A stopped timer is kept only so that a
    /// replayed request does not start it again; past this, no request can be replayed and the entry is deleted.</summary>
    public static readonly TimeSpan? RequestRetention =
        TopicCatalog.Get(Topics.TakedownRequested).RetentionMs is var ms and >= 0 ? TimeSpan.FromMilliseconds(ms) : null;

    /// <summary>When the entry's timer fires: its next reminder or escalation step, whichever comes first, or, once both
    /// are done or stopped, when it may be forgotten.</summary>
    public static DateTime? Due(TakedownNotice latest, TakedownOptions settings) =>
        Earliest(ReminderSchedule.NextDue(latest, settings.Reminders), Escalations.NextDue(latest, settings.Escalation))
        ?? (RequestRetention is { } retention ? (latest.timeline.noticeSentAt ?? latest.issuedAt) + retention : null);
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
