using System.Globalization;
using Pipeline.Contracts;

namespace Pipeline.Inspection.Transparency;

/// <summary>
/// The transparency history rebuilt from the audit log (audit.log.v1, kept 5 years, anonymous): each decision becomes the
/// event it records, holding just the fields the figures read (times, verdict, hosting country and hoster, notice kind,
/// times to removal, partner). The operational topics keep 7–180 days, so this is the source for a year or more.
/// Differences from the topics: a submission that was no readable report is dead-lettered, not audited, so it is not
/// counted as received; a case is named by its token, never its URL.
/// </summary>
public static class AuditHistory
{
    public static TransparencyHistory Of(IEnumerable<AuditRecord> records)
    {
        var events = new List<object>();
        foreach (var a in records)
            if (Event(a) is { } e) events.Add(e);
        return TransparencyHistory.Of(events);
    }

    private static object? Event(AuditRecord a)
    {
        var id = a.sourceEventId;
        var reportId = a.reportIds.FirstOrDefault() ?? "";
        string? Detail(string name) => a.details.TryGetValue(name, out var v) ? v : null;
        return a.action switch
        {
            "report.received" => new ReportSubmitted
            {
                eventId = id, submittedAt = a.at,
                report = new Report
                {
                    reportId = reportId, sourceHotline = Detail("sourceHotline") ?? "",
                    // A partner's report: the actor is its sender, the last hop.
                    hops = Detail("hops") is not null && a.actor.StartsWith("partner:", StringComparison.Ordinal) ? [a.actor["partner:".Length..]] : [],
                },
            },
            "report.rejected" => new ReportRejected { eventId = id, reportId = a.reportIds.FirstOrDefault(), reasonCode = a.rule ?? Detail("reasonCode") ?? "", rejectedAt = a.at },
            "case.opened" or "case.reopened" => new ReportAccepted { eventId = id, acceptedAt = a.at },
            "report.grouped" => new ReportGrouped { eventId = id, reportId = reportId, groupedAt = a.at },
            "report.classified" => new ReportClassified
            {
                eventId = id, classifiedAt = a.at, report = new Report { reportId = reportId },
                verdict = Enum.Parse<Verdict>(Detail("verdict") ?? nameof(Verdict.NEEDS_ASSESSMENT), ignoreCase: true),
                hosting = new HostingInfo { country = Detail("country")?.ToUpperInvariant(), hosterId = Detail("hosterId"), hosterName = Detail("hosterName") },
            },
            "report.assessed" => new ReportAssessed { eventId = id, reportId = reportId, assessment = new Assessment { assessedAt = a.at } },
            "police.referred" => new PoliceReferral { eventId = id, referredAt = a.at },
            "report.forwarded" => new ReportForwarded { eventId = id, forwardedAt = a.at, partnerHotline = Detail("partnerHotline") ?? "" },
            "takedown.requested" => new TakedownRequested { eventId = id, requestedAt = a.at },
            "notice.issued" => new TakedownNotice
            {
                eventId = id, noticeId = a.noticeId ?? "", issuedAt = a.at,
                kind = Enum.Parse<NoticeKind>(Detail("kind") ?? nameof(NoticeKind.FIRST), ignoreCase: true),
            },
            "notice.outcome" => new NoticeOutcome
            {
                eventId = id, noticeId = a.noticeId ?? "", caseKey = a.caseToken ?? "", hosterId = Detail("hosterId"), hosterName = Detail("hosterName"),
                country = Detail("country"), withinNorm = Detail("withinNorm") == "true",
                removedAt = Time(Detail("removedAt")) ?? a.at,
                timeToRemovalFromNoticeMs = Millis(Detail("timeToRemovalFromNoticeMs")),
                timeToRemovalFromReportMs = Millis(Detail("timeToRemovalFromReportMs")),
            },
            "sla.escalated" => new SlaEvent { eventId = id, kind = SlaEventKind.ESCALATED, occurredAt = a.at, noticeId = a.noticeId ?? "" },
            _ => null,
        };
    }

    private static DateTime? Time(string? text) =>
        DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    private static long Millis(string? text) => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) ? ms : 0;
}
