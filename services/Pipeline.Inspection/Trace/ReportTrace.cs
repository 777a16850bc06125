using System.Text.Json.Serialization;
using Avro.Specific;
using Pipeline.Contracts;
using Pipeline.Intake;
using Pipeline.Platform;

namespace Pipeline.Inspection.Trace;

/// <summary>The INHOPE-style milestones of one report (null: not reached).</summary>
public sealed record Timeline(
    DateTime? Received, DateTime? Rejected, DateTime? JoinedOpenCase, DateTime? Assessed, string? Verdict, DateTime? ReferredToPolice, DateTime? ReleasedByPolice,
    DateTime? Forwarded, DateTime? SentToReview, DateTime? FirstNoticeSent, IReadOnlyList<DateTime> Reminders, DateTime? Removed, DateTime? ConfirmedGone)
{
    [JsonIgnore] public TimeSpan? RemovalAfterReport => Removed - Received;
    [JsonIgnore] public TimeSpan? RemovalAfterNotice => Removed - FirstNoticeSent;
    public double? RemovalAfterReportSeconds => RemovalAfterReport?.TotalSeconds;
    public double? RemovalAfterNoticeSeconds => RemovalAfterNotice?.TotalSeconds;
}

/// <summary>One report's path: its events in time order, its timeline and where it stands now.</summary>
public sealed record ReportPath(string ReportId, IReadOnlyList<string> CaseKeys, IReadOnlyList<TraceEvent> Events, Timeline Timeline, string State);

/// <summary>What a trace found for what was asked: <see cref="MatchedAs"/> is report id, notice id, case key or URL.</summary>
public sealed record TraceResult(string Query, string MatchedAs, IReadOnlyList<ReportPath> Reports);

/// <summary>
/// Finds the reports an id names and puts together each one's path from the events of every topic. Pure: the topics
/// are read by <see cref="TopicHistory"/> in two passes, the first over <see cref="ResolvingTopics"/> to learn the case
/// keys and report ids the query stands for (<see cref="Query.Learn"/>), the second over <see cref="TracedTopics"/>
/// keeping what <see cref="Query.Touches"/> those.
/// </summary>
public static class ReportTrace
{
    /// <summary>State stores whose records repeat what an event topic already says (each recheck, delivery attempt,
    /// reminder timer and bank match is its own event elsewhere), and the hash banks, which are no report's step.</summary>
    private static readonly HashSet<string> Bookkeeping =
    [
        Topics.HashesKnown, Topics.RecheckSchedule, Topics.SlaPending, Topics.TakedownReminders, Topics.TakedownDeliveryState,
        Topics.TakedownBatches, Topics.ClassificationMatches, Topics.TakedownRoutes, Topics.ConsoleUsers, Topics.ConsoleLocks,
    ];

    /// <summary>Every topic of the catalog that can hold a step of a report: the event topics, the dead letters, and the
    /// state stores that record a decision of their own (routing's held takedowns, intake's cases, reports waiting for an
    /// analyst, sla's notices, which outlive notices.issued's retention).</summary>
    public static IReadOnlyList<string> TracedTopics { get; } = [.. TopicCatalog.All.Select(t => t.Name).Where(t => !Bookkeeping.Contains(t))];

    /// <summary>The topics that tie a report id, notice id, URL or case key to its case keys and reports.</summary>
    public static IReadOnlyList<string> ResolvingTopics { get; } =
    [
        Topics.ReportsSubmitted, Topics.ReportsRejected, Topics.IntakeGrouping, Topics.ReportsAccepted, Topics.ReportsGrouped, Topics.IntakeCases,
        Topics.NoticesIssued, Topics.SlaOpen, Topics.NoticeOutcomes,
    ];

    /// <summary>What the query stands for, once resolved.</summary>
    public sealed class Query(string text)
    {
        public string Text { get; } = text;

        /// <summary>The case key a URL normalises to (a case key normalises to itself); null when it is no http(s) URL.</summary>
        public string? NormalisedUrl { get; } = text.Contains("://", StringComparison.Ordinal) && UrlNormaliser.TryNormalise(text, out var r, out _, out _) ? r.Key : null;

        public string? MatchedAs { get; set; }

        /// <summary>A URL already in its normalised form is a case key.</summary>
        private string UrlKind => Text == NormalisedUrl ? "case key" : "URL";
        public HashSet<string> CaseKeys { get; } = new(StringComparer.Ordinal);
        public HashSet<string> ReportIds { get; } = new(StringComparer.Ordinal);

        /// <summary>Whether an event belongs to one of the query's cases or reports (the second pass's filter).</summary>
        public bool Touches(TraceEvent e) => (e.CaseKey is { } k && CaseKeys.Contains(k)) || e.ReportIds.Any(ReportIds.Contains);

        /// <summary>Learns from an event of the first pass which case keys and reports the query stands for; true when the
        /// event matched.</summary>
        public bool Learn(TraceEvent e)
        {
            if (e.Type != nameof(CaseState) && e.ReportIds.Contains(Text))
            {
                MatchedAs ??= "report id";
                ReportIds.Add(Text);
            }
            else if (e.NoticeIds.Contains(Text))
            {
                MatchedAs ??= "notice id";
                foreach (var id in e.ReportIds) ReportIds.Add(id);
            }
            else if (e.CaseKey is { } key && (key == Text || key == NormalisedUrl))
                MatchedAs ??= UrlKind;
            else if (e.Type == nameof(ReportSubmitted) && e.Field("url") == Text)
            {
                MatchedAs ??= UrlKind;
                ReportIds.Add(e.ReportIds[0]);
            }
            else return false;
            if (e.CaseKey is not null) CaseKeys.Add(e.CaseKey);
            if (MatchedAs is "case key" or "URL" && NormalisedUrl is not null) CaseKeys.Add(NormalisedUrl);
            return true;
        }
    }

    /// <summary>The paths of the reports the query stands for, from the events of the second pass.</summary>
    public static TraceResult Build(Query q, IEnumerable<TraceEvent> found)
    {
        // A replay (same event id on the same topic, saying the same) is one step, and sla's copy of a notice is shown only
        // once notices.issued.v1 no longer holds the notice itself.
        var issued = found.Where(e => e.Topic == Topics.NoticesIssued).Select(e => e.EventId).ToHashSet(StringComparer.Ordinal);
        var events = found.Where(e => e.Topic != Topics.SlaOpen || !issued.Contains(e.EventId))
            .OrderBy(e => e.Source.Offset).DistinctBy(e => (e.Topic, e.EventId ?? $"{e.Source.Partition}:{e.Source.Offset}", e.What))
            .OrderBy(e => e.At).ThenBy(e => e.Source.Timestamp).ThenBy(e => Rank(e.Topic)).ThenBy(e => e.Source.Offset).ToList();
        var reports = q.MatchedAs is "report id" or "notice id"
            ? q.ReportIds.ToList()
            : events.Where(e => e.ReportIds.Count == 1 && e.Type is not (nameof(CaseState) or nameof(TakedownNotice) or nameof(DeadLetter)) && e.CaseKey is { } k && q.CaseKeys.Contains(k))
                .Select(e => e.ReportIds[0]).Concat(q.ReportIds).Distinct(StringComparer.Ordinal).ToList();
        return new TraceResult(q.Text, q.MatchedAs ?? "nothing", [.. reports.Select(id => Path(id, events)).OrderBy(p => p.Timeline.Received ?? (p.Events.Count > 0 ? p.Events[0].At : null))]);
    }

    private static ReportPath Path(string reportId, List<TraceEvent> events)
    {
        var own = new List<TraceEvent>();
        string? caseStatus = null;
        foreach (var e in events.Where(e => e.ReportIds.Contains(reportId)))
        {
            // A case's state is rewritten with every report that joins it: its changes of status are the steps.
            if (e.Type == nameof(CaseState) && (e.Field("status") == caseStatus || (e.Field("status") == "OPEN" && e.Field("openingReportId") != reportId))) continue;
            if (e.Type == nameof(CaseState)) caseStatus = e.Field("status");
            own.Add(e);
        }
        var caseKeys = own.Where(e => e.Type != nameof(DeadLetter)).Select(e => e.CaseKey).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        var notices = own.Where(e => e.Type == nameof(TakedownNotice)).SelectMany(e => e.NoticeIds).ToHashSet(StringComparer.Ordinal);
        var referrals = own.Select(e => e.ReferralId).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var path = events.Where(e => own.Contains(e)
                || e.NoticeIds.Any(notices.Contains)
                || (e.Type == nameof(PoliceRelease) && (referrals.Contains(e.ReferralId!) || (referrals.Count > 0 && caseKeys.Contains(e.CaseKey!))))
                || (e.Type is nameof(DeadLetter) or nameof(ContentStatusObserved) && e.NoticeIds.Count == 0 && e.CaseKey is { } k && caseKeys.Contains(k)))
            .ToList();
        var timeline = TimelineOf(path);
        return new ReportPath(reportId, caseKeys, path, timeline, StateOf(path, timeline, caseKeys));
    }

    private static Timeline TimelineOf(List<TraceEvent> path)
    {
        DateTime? First(Func<TraceEvent, bool> where) => path.FirstOrDefault(where)?.At;
        var classified = path.FirstOrDefault(e => e.Type == nameof(ReportClassified));
        var firstNotices = path.Where(e => e.Type == nameof(TakedownNotice) && e.Field("kind") == "FIRST").Select(e => e.Field("noticeId")).ToHashSet();
        var outcome = path.LastOrDefault(e => e.Type == nameof(NoticeOutcome));
        var confirmed = path.FirstOrDefault(e => e.Type == nameof(ContentStatusObserved) && e.Field("removalConfirmed") == "true");
        var removed = outcome?.Source.Value is NoticeOutcome o ? o.removedAt
            : confirmed?.Source.Value is ContentStatusObserved c ? c.offlineSince ?? c.observedAt : (DateTime?)null;
        return new Timeline(
            Received: path.Select(e => ReportOf(e.Source.Value)?.receivedAt).FirstOrDefault(t => t is not null),
            Rejected: First(e => e.Type == nameof(ReportRejected)),
            JoinedOpenCase: First(e => e.Type == nameof(ReportGrouped)),
            Assessed: classified?.At,
            Verdict: classified?.Field("verdict") is { } v ? v + (classified.Field("assessment") is { } a ? $" ({a})" : "") : null,
            ReferredToPolice: First(e => e.Type == nameof(PoliceReferral)),
            ReleasedByPolice: First(e => e.Type == nameof(PoliceRelease)
                || (e.Topic == Topics.TakedownRequested && e.Field("rule")?.Contains("police-first: released", StringComparison.Ordinal) == true)),
            Forwarded: First(e => e.Type == nameof(ReportForwarded)),
            SentToReview: First(e => e.Type == nameof(ReviewRequested)),
            FirstNoticeSent: First(e => e.Topic is Topics.NoticesIssued or Topics.SlaOpen && e.Field("kind") == "FIRST"),
            Reminders: [.. path.Where(e => e.Topic == Topics.NoticesIssued && e.Field("kind") == "REMINDER").Select(e => e.At)],
            Removed: removed,
            ConfirmedGone: confirmed?.At ?? (outcome is not null && firstNotices.Contains(outcome.Field("noticeId")) ? outcome.At : null));
    }

    /// <summary>Where the report stands: the furthest step it reached, in words.</summary>
    private static string StateOf(List<TraceEvent> path, Timeline t, List<string> caseKeys)
    {
        var last = path.LastOrDefault();
        if (last?.Type == nameof(DeadLetter)) return $"stuck: dead-lettered by {last.Field("stage")} ({last.Field("reason")})";
        if (t.Removed is { } removed && path.LastOrDefault(e => e.Type == nameof(NoticeOutcome)) is { } outcome)
            return $"removed after {TraceEvent.Duration(removed - t.Received!.Value)}"
                   + (t.FirstNoticeSent is { } sent ? $" ({TraceEvent.Duration(removed - sent)} after the first notice, {(outcome.Field("withinNorm") == "true" ? "within" : "after")} the deadline)" : "");
        if (t.ConfirmedGone is not null) return "removal confirmed, SLA outcome not yet recorded";
        if (path.LastOrDefault(e => e.Topic == Topics.ReportsRelocated) is { } relocated)
        {
            // The host moved before a notice left (MOVED), and the case was routed again: where that route went.
            var moved = $"the host moved to {relocated.Field("hosterId") ?? "an unknown hoster"} ({relocated.Field("country") ?? "unknown country"}) before a notice left";
            if (path.LastOrDefault(e => e.Type == nameof(ReportForwarded) && e.At >= relocated.At) is { } f)
                return $"{moved}: forwarded to {f.Field("partnerHotline")} ({f.Field("partnerCountry")})";
            if (path.LastOrDefault(e => e.Type == nameof(ReviewRequested) && e.At >= relocated.At) is { } r)
                return $"{moved}: in review: {r.Field("rule")} ({r.Field("reason")})";
            if (!path.Any(e => e.Topic == Topics.NoticesIssued && e.At >= relocated.At))
                return $"{moved}: routed again, no new notice yet";
        }
        if (t.FirstNoticeSent is not null)
        {
            var sla = path.LastOrDefault(e => e.Type == nameof(SlaEvent) && e.Field("kind") is "DEADLINE_BREACHED" or "ESCALATED");
            var delivery = path.LastOrDefault(e => e.Type == nameof(NoticeDelivery));
            return "notice sent, awaiting removal"
                   + (t.Reminders.Count > 0 ? $" ({t.Reminders.Count} reminder{(t.Reminders.Count == 1 ? "" : "s")} sent)" : "")
                   + (sla is not null ? $"; {sla.What[5..]}" : "")
                   + (delivery?.Field("status") is "FAILED" or "BOUNCED" ? $"; last delivery {delivery.Field("status")!.ToLowerInvariant()}" : "");
        }
        if (path.LastOrDefault(e => e.Topic == Topics.ReportsReview && e.Field("rule")?.StartsWith("takedown:", StringComparison.Ordinal) == true) is { } noContact)
            return $"in review: {noContact.Field("rule")}";
        if (path.Any(e => e.Topic == Topics.TakedownRequested)) return "takedown requested, notice not yet issued";
        if (path.Any(e => e.Topic == Topics.RoutingHeld && e.Field("policeHold") == "true"))
            return $"held for police since {TraceEvent.Time(path.First(e => e.Topic == Topics.RoutingHeld).At)}";
        if (path.LastOrDefault(e => e.Type == nameof(ReportForwarded)) is { } forwarded) return $"forwarded to {forwarded.Field("partnerHotline")} ({forwarded.Field("partnerCountry")})";
        if (path.LastOrDefault(e => e.Type == nameof(ReviewRequested)) is { } review) return $"in review: {review.Field("rule")} ({review.Field("reason")})";
        if (path.Any(e => e.Type == nameof(PoliceReferral))) return "referred to the police";
        if (t.Verdict?.StartsWith("NOT_ILLEGAL", StringComparison.Ordinal) == true) return "closed: assessed not illegal";
        if (path.LastOrDefault(e => e.Type == nameof(WaitingReport)) is { } waiting && waiting.What.StartsWith("waiting", StringComparison.Ordinal)) return "waiting for an analyst's assessment";
        if (path.LastOrDefault(e => e.Type == nameof(ReportGrouped)) is { } grouped)
            return $"joined the open case {grouped.CaseKey} as its report {grouped.Field("reportCount")}; trace the case key for its notices";
        if (path.LastOrDefault(e => e.Type == nameof(ReportRejected)) is { } rejected) return $"rejected by intake: {rejected.Field("reasonCode")} ({rejected.Field("message")})";
        if (t.Assessed is not null) return $"classified {t.Verdict}, not yet routed";
        if (caseKeys.Count > 0 && path.Any(e => e.Type is nameof(ReportAccepted) or nameof(ReportLocated))) return "accepted, on its way through geolocation and classification";
        return "submitted, not yet through intake";
    }

    /// <summary>The report an event carries, if it carries one.</summary>
    private static Report? ReportOf(ISpecificRecord value) => value switch
    {
        ReportSubmitted e => e.report,
        CaseCommand e => e.report,
        ReportAccepted e => e.report,
        ReportGrouped e => e.report,
        ReportLocated e => e.report,
        ReportClassified e => e.report,
        ReviewRequested e => e.report,
        PoliceReferral e => e.report,
        TakedownRequested e => e.report,
        ReportForwarded e => e.report,
        _ => null,
    };

    /// <summary>The catalog's order follows the flow (submitted, accepted, located, …): the tie-break of events at the same time.</summary>
    private static int Rank(string topic) => TopicCatalog.All.Select((t, i) => (t.Name, i)).FirstOrDefault(x => x.Name == topic).i;
}
