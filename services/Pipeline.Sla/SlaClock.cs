using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Sla;

/// <summary>The SLA arithmetic, on event time: INHOPE's timeline and the verdict against the notice's deadline.</summary>
public static class SlaClock
{
    public static NoticeOutcome Outcome(TakedownNotice notice, ContentStatusObserved removal, DateTime decidedAt)
    {
        var removedAt = removal.offlineSince ?? removal.observedAt;
        if (removedAt < notice.issuedAt) removedAt = notice.issuedAt; // gone before the notice: counts as removed at once
        return new NoticeOutcome
        {
            eventId = EventIds.Derive("outcome", notice.noticeId),
            caseKey = notice.caseKey,
            noticeId = notice.noticeId,
            hosterId = notice.hosterId,
            hosterName = notice.hosterName,
            country = notice.country,
            timeline = new Timeline
            {
                receivedAt = notice.timeline.receivedAt,
                referredToPoliceAt = notice.timeline.referredToPoliceAt,
                noticeSentAt = notice.issuedAt,
                removalObservedAt = removedAt,
            },
            removedAt = removedAt,
            timeToRemovalFromNoticeMs = (long)(removedAt - notice.issuedAt).TotalMilliseconds,
            timeToRemovalFromReportMs = (long)(removedAt - notice.timeline.receivedAt).TotalMilliseconds,
            deadline = notice.deadline,
            withinNorm = removedAt <= notice.deadline,
            verification = removal.method == ObservationMethod.HOSTER_CONFIRMATION
                ? $"confirmed by the hoster; a check agreed ({removal.status}, HTTP {removal.httpStatus?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}) at {removal.observedAt:O}"
                : $"{removal.consecutiveMisses} consecutive failed checks ({removal.status}), first at {removedAt:O}",
            decidedAt = decidedAt,
        };
    }

    public static SlaEvent RemovalEvent(NoticeOutcome outcome) => new()
    {
        eventId = EventIds.Derive("sla-removed", outcome.noticeId),
        caseKey = outcome.caseKey,
        noticeId = outcome.noticeId,
        hosterId = outcome.hosterId,
        kind = outcome.withinNorm ? SlaEventKind.REMOVED_WITHIN_NORM : SlaEventKind.REMOVED_AFTER_DEADLINE,
        deadline = outcome.deadline,
        occurredAt = outcome.removedAt,
        detail = $"removed {TimeSpan.FromMilliseconds(outcome.timeToRemovalFromNoticeMs):g} after the notice",
    };

    /// <summary>The first notice of a re-upload (case episode &gt; 0); <paramref name="previous"/> is the case's earlier
    /// notice, if the SLA still holds it.</summary>
    public static SlaEvent Reupload(TakedownNotice notice, TakedownNotice? previous) => new()
    {
        eventId = EventIds.Derive("sla-reupload", notice.noticeId),
        caseKey = notice.caseKey,
        noticeId = notice.noticeId,
        hosterId = notice.hosterId,
        kind = SlaEventKind.REUPLOAD,
        deadline = notice.deadline,
        occurredAt = notice.timeline.receivedAt,
        detail = previous?.timeline.removalObservedAt is { } removed
            ? $"re-upload (episode {notice.episode}): online again at {notice.timeline.receivedAt:O} after notice {previous.noticeId} was removed at {removed:O}"
            : $"re-upload (episode {notice.episode}): online again at {notice.timeline.receivedAt:O}",
    };

    public static SlaEvent Breach(TakedownNotice notice, DateTime now) =>
        AtDeadline(notice, SlaEventKind.DEADLINE_BREACHED, "sla-breach", $"still online at the deadline; noticed at {notice.issuedAt:O}, detected at {now:O}");

    /// <summary>The escalation to the authority: the deadline (the sector norm, or an authority order's shorter one)
    /// passed with the URL still online. Occurs at the deadline (event time), once per notice.</summary>
    public static SlaEvent Escalation(TakedownNotice notice, DateTime now) =>
        AtDeadline(notice, SlaEventKind.ESCALATED, "sla-escalated",
            (notice.orderReference is { } order ? $"removal order {order} not complied with" : "sector norm missed")
            + $": {notice.url} still online at the deadline; notice {notice.noticeId} to {notice.hosterName ?? notice.hosterId ?? notice.recipient.name} at {notice.issuedAt:O}, detected at {now:O}");

    private static SlaEvent AtDeadline(TakedownNotice notice, SlaEventKind kind, string idKind, string detail) => new()
    {
        eventId = EventIds.Derive(idKind, notice.noticeId),
        caseKey = notice.caseKey,
        noticeId = notice.noticeId,
        hosterId = notice.hosterId,
        kind = kind,
        deadline = notice.deadline,
        occurredAt = notice.deadline,
        detail = detail,
    };
}
