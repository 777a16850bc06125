using System.Globalization;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Inspection.Trace;

/// <summary>
/// One event of a report's path as a person reads it: its event time (the time the stage decided, not when Kafka stored
/// it), the topic and stage, a short line of what happened, and the fields that say by which rule and about what
/// (report id, case key, notice id, status, …). Only named fields are copied, so a reporter's contact never reaches a
/// trace: intake holds it, a trace does not print it.
/// </summary>
public sealed record TraceEvent(DateTime At, TopicRecord Source, string What, IReadOnlyList<KeyValuePair<string, string>> Fields)
{
    public string Topic => Source.Topic;
    public string Type => Source.Value.GetType().Name;

    /// <summary>The report ids this event is about (a notice lists its reports; a case state every report on it).</summary>
    public IReadOnlyList<string> ReportIds { get; init; } = [];
    public string? CaseKey { get; init; }

    /// <summary>The notice ids it is about: a reminder names its first notice too.</summary>
    public IReadOnlyList<string> NoticeIds { get; init; } = [];
    public string? ReferralId { get; init; }
    public string? EventId { get; init; }

    public string? Field(string name) => Fields.FirstOrDefault(f => f.Key == name).Value;

    /// <summary>The event a record holds, or null for records that are no step of a report (hash bank entries).</summary>
    public static TraceEvent? Of(TopicRecord r)
    {
        var f = new FieldList();
        return r.Value switch
        {
            ReportSubmitted e => Report(r, e.submittedAt, "report submitted", e.eventId, e.caseKey, e.report,
                f.Add("sourceHotline", e.report.sourceHotline).Add("sourceReference", e.report.sourceReference).Add("url", e.report.url)
                    .Add("reporterType", e.report.reporterType).Add("hops", e.report.hops.Count > 0 ? string.Join(">", e.report.hops) : null)),
            ReportRejected e => new TraceEvent(e.rejectedAt, r, "rejected by intake",
                f.Add("reportId", e.reportId).Add("reasonCode", e.reasonCode).Add("message", e.message).Add("caseKey", e.caseKey).List)
            { ReportIds = Ids(e.reportId), CaseKey = e.caseKey, EventId = e.eventId },
            CaseCommand { kind: CaseCommandKind.REPORT } e => Report(r, e.issuedAt, "validated; to case grouping", e.eventId, e.caseKey, e.report!,
                f.Add("matchedBy", e.matchedBy).Add("userinfoRemoved", e.userinfoRemoved ? "true" : null)),
            CaseCommand e => new TraceEvent(e.issuedAt, r, "close the case (removal outcome)",
                f.Add("caseKey", e.caseKey).Add("noticeId", e.noticeId).Add("removedAt", e.removedAt).List)
            { CaseKey = e.caseKey, NoticeIds = Ids(e.noticeId), EventId = e.eventId },
            ReportAccepted e => Report(r, e.acceptedAt, e.caseInfo.reupload ? $"accepted: re-upload, episode {e.caseInfo.episode}" : "accepted: new case", e.eventId, e.caseKey, e.report,
                f.Add("reportCount", e.caseInfo.reportCount).Add("episode", e.caseInfo.episode)),
            ReportGrouped e => Report(r, e.groupedAt, "joined the open case", e.eventId, e.caseKey, e.report,
                f.Add("matchedBy", e.matchedBy).Add("reportCount", e.reportCount).Add("caseOpenedAt", e.caseOpenedAt)),
            CaseState e => new TraceEvent(e.updatedAt, r, $"case {e.status.ToString().ToLowerInvariant().Replace('_', ' ')}",
                f.Add("caseKey", e.caseKey).Add("status", e.status).Add("aliasOf", e.aliasOf).Add("reportCount", e.reportCount).Add("episode", e.episode)
                    .Add("openingReportId", e.openingReportId).Add("closedByNoticeId", e.closedByNoticeId).List)
            { ReportIds = [.. e.reportIds], CaseKey = e.caseKey, NoticeIds = Ids(e.closedByNoticeId), EventId = e.eventId },
            ReportLocated e => Report(r, e.locatedAt, e.hosting.resolved ? "located" : "location unresolved", e.eventId, e.caseKey, e.report,
                Hosting(f, e.hosting)),
            WaitingReport e => new TraceEvent(e.waitingSince, r, e.classified is null ? "waiting for an analyst's assessment" : "analyst's assessment applied",
                f.Add("reportId", e.reportId).Add("caseKey", e.caseKey).Add("assessment", e.assessment?.classification).List)
            { ReportIds = Ids(e.reportId), CaseKey = e.caseKey, EventId = e.eventId },
            ReportAssessed e => new TraceEvent(e.assessment.assessedAt, r, "assessed by an analyst",
                f.Add("reportId", e.reportId).Add("caseKey", e.caseKey).Add("classification", e.assessment.classification).Add("analyst", e.assessment.analyst).List)
            { ReportIds = Ids(e.reportId), CaseKey = e.caseKey, EventId = e.eventId },
            ReportClassified e when r.Topic == Topics.ReportsRelocated => Report(r, e.classifiedAt,
                $"re-routed: the host moved to {e.hosting.hosterId ?? "an unknown hoster"} ({e.hosting.country ?? "unknown country"}) before a notice left (route {e.routeGeneration})",
                e.eventId, e.caseKey, e.report, Hosting(f.Add("routeGeneration", e.routeGeneration), e.hosting)),
            ReportClassified e => Report(r, e.classifiedAt, $"classified {e.verdict}", e.eventId, e.caseKey, e.report,
                f.Add("verdict", e.verdict).Add("assessment", e.assessment?.classification)
                    .Add("matches", e.matches.Count > 0 ? string.Join(",", e.matches.Select(m => $"{m.bank}:{m.algorithm.ToString().ToLowerInvariant()}")) : null)),
            HashRetracted e => new TraceEvent(e.retractedAt, r, "matched bank entry retracted",
                f.Add("reportId", e.reportId).Add("caseKey", e.caseKey).Add("bank", e.bank).Add("algorithm", e.algorithm).Add("remainingMatches", e.remainingMatches).List)
            { ReportIds = Ids(e.reportId), CaseKey = e.caseKey, EventId = e.eventId },
            ReviewRequested e => Report(r, e.requestedAt, "sent to review", e.eventId, e.caseKey, e.report, f.Add("rule", e.rule).Add("reason", e.reason)),
            PoliceReferral e => Report(r, e.referredAt, "referred to the police", e.eventId, e.caseKey, e.report,
                f.Add("rule", e.rule).Add("referralId", e.referralId)) with { ReferralId = e.referralId },
            TakedownRequested e => Report(r, e.requestedAt, Held(r.Topic, e), e.eventId, e.caseKey, e.report,
                f.Add("rule", e.rule).Add("policeHold", e.policeHold ? "true" : null).Add("orderReference", e.orderReference)),
            PoliceRelease e => new TraceEvent(e.releasedAt, r, "released by the police",
                f.Add("caseKey", e.caseKey).Add("referralId", e.referralId).Add("releasedBy", e.releasedBy).Add("preserveEvidence", e.preserveEvidence ? "true" : null).List)
            { CaseKey = e.caseKey, ReferralId = e.referralId, EventId = e.eventId },
            ReportForwarded e => Report(r, e.forwardedAt, $"forwarded to {e.partnerHotline}", e.eventId, e.caseKey, e.report,
                f.Add("rule", e.rule).Add("partnerHotline", e.partnerHotline).Add("partnerCountry", e.partnerCountry)),
            TakedownNotice e => Notice(r, e, f),
            NoticeDelivery { status: DeliveryStatus.MOVED } e => new TraceEvent(e.at, r,
                $"MOVED: not sent, the re-lookup before sending found the host at {e.movedTo?.hosterId ?? "an unknown hoster"} ({e.movedTo?.country ?? "unknown country"})",
                f.Add("noticeId", e.noticeId).Add("caseKey", e.caseKey).Add("status", e.status).Add("hosterId", e.hosterId)
                    .Add("movedToHoster", e.movedTo?.hosterId).Add("movedToCountry", e.movedTo?.country).Add("detail", e.detail).List)
            { CaseKey = e.caseKey, NoticeIds = Ids(e.noticeId, e.notice?.originalNoticeId), EventId = e.eventId },
            NoticeDelivery e => new TraceEvent(e.at, r, $"delivery {e.status.ToString().ToLowerInvariant()} ({e.channel.ToString().ToLowerInvariant()}, attempt {e.attempt})",
                f.Add("noticeId", e.noticeId).Add("caseKey", e.caseKey).Add("status", e.status).Add("channel", e.channel).Add("address", e.address)
                    .Add("detail", e.detail).Add("batchId", e.batchId).List)
            { CaseKey = e.caseKey, NoticeIds = [e.noticeId], EventId = e.eventId },
            ContentStatusObserved e => new TraceEvent(e.observedAt, r, $"recheck: {e.status}{(e.removalConfirmed ? ", removal confirmed" : "")}{(e.reappeared ? ", online again" : "")}",
                f.Add("noticeId", e.noticeId).Add("caseKey", e.caseKey).Add("status", e.status).Add("httpStatus", e.httpStatus).Add("method", e.method)
                    .Add("consecutiveMisses", e.consecutiveMisses).Add("offlineSince", e.offlineSince).Add("removalConfirmed", e.removalConfirmed ? "true" : null).List)
            { CaseKey = e.caseKey, NoticeIds = Ids(e.noticeId), EventId = e.eventId },
            NoticeOutcome e => new TraceEvent(e.decidedAt, r, $"outcome: removed {(e.withinNorm ? "within the deadline" : "after the deadline")}",
                f.Add("noticeId", e.noticeId).Add("caseKey", e.caseKey).Add("removedAt", e.removedAt).Add("timeToRemovalFromNotice", Duration(e.timeToRemovalFromNoticeMs))
                    .Add("timeToRemovalFromReport", Duration(e.timeToRemovalFromReportMs)).Add("withinNorm", e.withinNorm ? "true" : "false").Add("verification", e.verification).List)
            { CaseKey = e.caseKey, NoticeIds = [e.noticeId], EventId = e.eventId },
            SlaEvent e => new TraceEvent(e.occurredAt, r, "sla: " + e.kind.ToString().ToLowerInvariant().Replace('_', ' '),
                f.Add("noticeId", e.noticeId).Add("caseKey", e.caseKey).Add("kind", e.kind).Add("deadline", e.deadline).Add("detail", e.detail).List)
            { CaseKey = e.caseKey, NoticeIds = [e.noticeId], EventId = e.eventId },
            DeadLetter e => new TraceEvent(e.failedAt, r, $"dead-lettered by {e.stage}",
                f.Add("stage", e.stage).Add("reason", e.reason).Add("errorType", e.errorType).Add("originTopic", e.originTopic).List)
            { ReportIds = Ids(r.Key), CaseKey = r.Key, EventId = e.eventId },
            _ => null,
        };
    }

    private static string Held(string topic, TakedownRequested e) => topic switch
    {
        Topics.RoutingHeld when e.policeHold => "takedown held for the police",
        Topics.RoutingHeld => "held takedown marked released",
        _ => "takedown requested",
    };

    private static TraceEvent Notice(TopicRecord r, TakedownNotice e, FieldList f)
    {
        var what = e.kind switch
        {
            NoticeKind.REMINDER => $"reminder {e.sequence} issued",
            NoticeKind.CONFIRMATION => "removal confirmed to the recipient",
            NoticeKind.WITHDRAWAL => "notice withdrawn (its hash-list entry was retracted)",
            NoticeKind.ESCALATION => $"escalation {e.sequence} to the {e.recipient.role.ToString().ToLowerInvariant().Replace('_', ' ')} issued",
            _ => e.episode > 0 ? $"notice issued (re-upload, episode {e.episode})" : "notice issued",
        };
        if (e.routeGeneration > 0 && e.kind == NoticeKind.FIRST) what += $" (after the host moved: route {e.routeGeneration})";
        if (r.Topic == Topics.TakedownBatching) what = (e.kind == NoticeKind.REMINDER ? $"reminder {e.sequence}" : "notice") + " queued for its recipient's batch";
        else if (r.Topic == Topics.SlaOpen) what += " (kept by sla)";
        return new TraceEvent(e.issuedAt, r, what,
            f.Add("noticeId", e.noticeId).Add("caseKey", e.caseKey).Add("kind", e.kind).Add("originalNoticeId", e.originalNoticeId)
                .Add("recipient", $"{e.recipient.role.ToString().ToLowerInvariant()} {e.recipient.name} <{e.recipient.address}> via {e.recipient.channel.ToString().ToLowerInvariant()}")
                .Add("deadline", e.deadline).Add("policeHold", e.policeHold ? "true" : null).Add("reportIds", string.Join(",", e.reportIds)).List)
        { ReportIds = [.. e.reportIds], CaseKey = e.caseKey, NoticeIds = Ids(e.noticeId, e.originalNoticeId), EventId = e.eventId };
    }

    private static FieldList Hosting(FieldList f, HostingInfo h) =>
        f.Add("country", h.country).Add("hosterId", h.hosterId).Add("asn", h.asn).Add("ips", h.ips.Count > 0 ? string.Join(",", h.ips) : null)
            .Add("unresolvedReason", h.unresolvedReason);

    /// <summary>An event that carries the report itself: its report id and case key lead the fields.</summary>
    private static TraceEvent Report(TopicRecord r, DateTime at, string what, string eventId, string? caseKey, Report report, FieldList rest) =>
        new(at, r, what, new FieldList().Add("reportId", report.reportId).Add("caseKey", caseKey).List.Concat(rest.List).ToList())
        { ReportIds = [report.reportId], CaseKey = caseKey, EventId = eventId };

    private static string[] Ids(params string?[] ids) => [.. ids.OfType<string>()];

    public static string Duration(long ms) => Duration(TimeSpan.FromMilliseconds(ms));

    /// <summary>"5 h 12 min", "2 d 3 h 0 min", "12 min 30 s": exact to the minute, to the second under an hour.</summary>
    public static string Duration(TimeSpan t)
    {
        var sign = t < TimeSpan.Zero ? "-" : "";
        t = t.Duration();
        if (t.TotalDays >= 1) return $"{sign}{(int)t.TotalDays} d {t.Hours} h {t.Minutes} min";
        if (t.TotalHours >= 1) return $"{sign}{(int)t.TotalHours} h {t.Minutes} min";
        return $"{sign}{t.Minutes} min {t.Seconds} s";
    }

    public static string Time(DateTime t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>Named fields in order; empty values are left out.</summary>
    private sealed class FieldList
    {
        public List<KeyValuePair<string, string>> List { get; } = [];

        public FieldList Add(string name, object? value)
        {
            var text = value switch
            {
                null => null,
                DateTime t => Time(t),
                IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString(),
            };
            if (!string.IsNullOrEmpty(text)) List.Add(new(name, text));
            return this;
        }
    }
}
