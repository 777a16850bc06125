using System.Text.Json.Serialization;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Sla;

namespace Pipeline.Inspection.Transparency;

/// <summary>The events a transparency report is computed from, as read from their topics (replays included: the
/// figures de-duplicate by <c>eventId</c>).</summary>
public sealed record TransparencyHistory
{
    public IReadOnlyList<ReportSubmitted> Submitted { get; init; } = [];
    public IReadOnlyList<ReportRejected> Rejected { get; init; } = [];
    /// <summary>Reports that opened (or reopened) a case.</summary>
    public IReadOnlyList<ReportAccepted> Accepted { get; init; } = [];
    /// <summary>Reports that joined a case already open.</summary>
    public IReadOnlyList<ReportGrouped> Grouped { get; init; } = [];
    public IReadOnlyList<ReportClassified> Classified { get; init; } = [];
    public IReadOnlyList<ReportAssessed> Assessed { get; init; } = [];
    public IReadOnlyList<PoliceReferral> PoliceReferrals { get; init; } = [];
    public IReadOnlyList<ReportForwarded> Forwarded { get; init; } = [];
    public IReadOnlyList<TakedownRequested> TakedownRequests { get; init; } = [];
    public IReadOnlyList<TakedownNotice> Notices { get; init; } = [];
    public IReadOnlyList<NoticeOutcome> Outcomes { get; init; } = [];
    public IReadOnlyList<SlaEvent> SlaEvents { get; init; } = [];
    /// <summary>Intake's dead letters: submissions that were not readable as a report at all.</summary>
    public IReadOnlyList<DeadLetter> DeadLetters { get; init; } = [];

    public int Count => Submitted.Count + Rejected.Count + Accepted.Count + Grouped.Count + Classified.Count + Assessed.Count + PoliceReferrals.Count
        + Forwarded.Count + TakedownRequests.Count + Notices.Count + Outcomes.Count + SlaEvents.Count + DeadLetters.Count;

    /// <summary>The events of a mixed list (as read from the topics), each kind in its list.</summary>
    public static TransparencyHistory Of(IReadOnlyCollection<object> events)
    {
        List<T> Of<T>() => [.. events.OfType<T>()];
        return new TransparencyHistory
        {
            Submitted = Of<ReportSubmitted>(), Rejected = Of<ReportRejected>(), Accepted = Of<ReportAccepted>(), Grouped = Of<ReportGrouped>(),
            Classified = Of<ReportClassified>(), Assessed = Of<ReportAssessed>(), PoliceReferrals = Of<PoliceReferral>(), Forwarded = Of<ReportForwarded>(),
            TakedownRequests = Of<TakedownRequested>(), Notices = Of<TakedownNotice>(), Outcomes = Of<NoticeOutcome>(), SlaEvents = Of<SlaEvent>(),
            DeadLetters = Of<DeadLetter>(),
        };
    }
}

/// <summary>A count under a key (a reason code, a country, a hoster, a partner, a month) and its share of the section's
/// total (0..1).</summary>
public sealed record KeyedCount(string Key, int Count, double Share);

/// <summary>Time to removal over the removals in the period: median and p90 (nearest rank, an observed value), and the
/// shares removed within 24 h and within 72 h. Null figures: no removal.</summary>
public sealed record RemovalTimes(int Removals, double? MedianHours, double? P90Hours, double? ShareWithin24h, double? ShareWithin72h);

/// <summary>One of the slowest removals: a per-case line, left out of an anonymous report.</summary>
public sealed record SlowRemoval(string NoticeId, string CaseKey, string? Hoster, string? Country, double HoursFromNotice, double HoursFromReport);

/// <summary>The year's (or any period's) figures, INHOPE-style. Shares are 0..1; null where the denominator is 0.</summary>
public sealed record TransparencyFiguresResult(
    DateTime From,
    DateTime To,
    bool Anonymous,
    int ReportsReceived,
    int ReportsRejected,
    IReadOnlyList<KeyedCount> RejectedByReason,
    int ReportsAccepted,
    int CasesOpened,
    int ReportsClassified,
    int AssessedIllegal,
    double? IllegalShare,
    int Known,
    int New,
    int NotIllegal,
    int AwaitingAssessment,
    int AnalystAssessments,
    IReadOnlyList<KeyedCount> ByHostingCountry,
    IReadOnlyList<KeyedCount> ByHoster,
    int TakedownRequests,
    int FirstNotices,
    int Reminders,
    int Escalations,
    int Withdrawals,
    RemovalTimes FromNotice,
    RemovalTimes FromReport,
    int RemovedWithinDeadline,
    IReadOnlyList<KeyedCount> RemovalBuckets,
    int ForwardsIn,
    IReadOnlyList<KeyedCount> ForwardsInByPartner,
    int ForwardsOut,
    IReadOnlyList<KeyedCount> ForwardsOutByPartner,
    int PoliceReferrals,
    IReadOnlyList<KeyedCount> MonthlyReceived,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<SlowRemoval>? SlowestRemovals);

/// <summary>
/// The transparency report's figures, a pure function of the events and the period [from, to). Every event is counted
/// in the period of its own time (submitted, rejected, classified, notice issued, removed…), so a report received in
/// December and removed in January counts as received in one year and removed in the next, as each topic says; events
/// replayed after a crash carry the same <c>eventId</c> and count once. What a figure means: docs/operations.md
/// (#transparency-report).
/// </summary>
public static class TransparencyFigures
{
    /// <summary>Bars of the time-to-removal chart, from the notice: each up to and including its bound (so "within 24 h"
    /// is the first two); the last is open-ended.</summary>
    public static IReadOnlyList<(string Label, TimeSpan UpTo)> Buckets { get; } =
    [
        ("≤ 6 h", TimeSpan.FromHours(6)), ("6–24 h", TimeSpan.FromHours(24)), ("24–48 h", TimeSpan.FromHours(48)),
        ("48–72 h", TimeSpan.FromHours(72)), ("3–7 d", TimeSpan.FromDays(7)), ("> 7 d", TimeSpan.MaxValue),
    ];

    public const int SlowestShown = 10;

    /// <summary>The reason a submission that was no readable report is counted under (intake dead-letters those bytes).</summary>
    public const string Unreadable = "UNREADABLE";
    private const string Unknown = "unknown";

    public static TransparencyFiguresResult Compute(TransparencyHistory h, DateTime from, DateTime to, bool anonymous)
    {
        if (to <= from) throw new ArgumentException($"The period ends ({to:yyyy-MM-dd}) before it begins ({from:yyyy-MM-dd}). Fix: --to after --from.");
        bool In(DateTime t) => t >= from && t < to;

        var submitted = h.Submitted.DistinctBy(e => e.eventId).Where(e => In(e.submittedAt)).ToList();
        var rejected = h.Rejected.DistinctBy(e => e.eventId).Where(e => In(e.rejectedAt)).ToList();
        // Bytes on reports.submitted.v1 that are no report at all: intake dead-letters them. Received, and rejected as unreadable.
        var unreadable = h.DeadLetters.DistinctBy(e => e.eventId)
            .Where(e => e.originTopic == Topics.ReportsSubmitted && e.errorType.EndsWith(nameof(UndeserialisableException), StringComparison.Ordinal) && In(e.failedAt))
            .ToList();
        var reasons = rejected.Select(e => e.reasonCode).Concat(unreadable.Select(_ => Unreadable)).ToList();
        // Received: every submission read, every rejection of one that was not (no report id, or none read), every unreadable one.
        var submittedIds = h.Submitted.Select(e => e.report.reportId).ToHashSet(StringComparer.Ordinal);
        var received = submitted.Select(e => (At: e.submittedAt, Id: "report:" + e.report.reportId))
            .Concat(rejected.Where(e => e.reportId is null || !submittedIds.Contains(e.reportId)).Select(e => (At: e.rejectedAt, Id: "rejection:" + e.eventId)))
            .Concat(unreadable.Select(e => (At: e.failedAt, Id: "dead-letter:" + e.eventId)))
            .DistinctBy(x => x.Id).ToList();

        var accepted = h.Accepted.DistinctBy(e => e.eventId).Where(e => In(e.acceptedAt)).ToList();
        var grouped = h.Grouped.DistinctBy(e => e.eventId).Where(e => In(e.groupedAt)).ToList();

        // A report can be classified twice (NEEDS_ASSESSMENT, then an analyst's verdict): its last verdict in the period counts.
        var verdicts = h.Classified.DistinctBy(e => e.eventId).Where(e => In(e.classifiedAt))
            .GroupBy(e => e.report.reportId, StringComparer.Ordinal)
            .Select(g => g.OrderBy(e => e.classifiedAt).Last()).ToList();
        int Verdicts(Verdict v) => verdicts.Count(e => e.verdict == v);
        var illegal = verdicts.Where(e => e.verdict is Verdict.KNOWN or Verdict.NEW).ToList();

        var notices = h.Notices.DistinctBy(e => e.eventId).Where(e => In(e.issuedAt)).ToList();
        int Notices(NoticeKind k) => notices.Count(e => e.kind == k);
        var escalated = h.SlaEvents.DistinctBy(e => e.eventId).Where(e => e.kind == SlaEventKind.ESCALATED && In(e.occurredAt)).ToList();

        var outcomes = h.Outcomes.DistinctBy(e => e.eventId).Where(e => In(e.removedAt)).ToList();
        var fromNotice = outcomes.Select(e => TimeSpan.FromMilliseconds(e.timeToRemovalFromNoticeMs)).Order().ToList();
        var fromReport = outcomes.Select(e => TimeSpan.FromMilliseconds(e.timeToRemovalFromReportMs)).Order().ToList();

        var forwardsIn = submitted.Where(e => e.report.hops.Count > 0).ToList();
        var forwardsOut = h.Forwarded.DistinctBy(e => e.eventId).Where(e => In(e.forwardedAt)).ToList();

        return new TransparencyFiguresResult(
            from, to, anonymous,
            ReportsReceived: received.Count,
            ReportsRejected: reasons.Count,
            RejectedByReason: Counts(reasons),
            ReportsAccepted: accepted.Count + grouped.Count,
            CasesOpened: accepted.Count,
            ReportsClassified: verdicts.Count,
            AssessedIllegal: illegal.Count,
            IllegalShare: Share(illegal.Count, verdicts.Count),
            Known: Verdicts(Verdict.KNOWN),
            New: Verdicts(Verdict.NEW),
            NotIllegal: Verdicts(Verdict.NOT_ILLEGAL),
            AwaitingAssessment: Verdicts(Verdict.NEEDS_ASSESSMENT),
            AnalystAssessments: h.Assessed.DistinctBy(e => e.eventId).Count(e => In(e.assessment.assessedAt)),
            ByHostingCountry: Counts(illegal.Select(e => e.hosting.country?.ToUpperInvariant() ?? Unknown)),
            ByHoster: Counts(illegal.Select(e => e.hosting.hosterName ?? e.hosting.hosterId ?? Unknown)),
            TakedownRequests: h.TakedownRequests.DistinctBy(e => e.eventId).Count(e => In(e.requestedAt)),
            FirstNotices: Notices(NoticeKind.FIRST),
            Reminders: Notices(NoticeKind.REMINDER),
            // The sla stage escalates to the authority at the deadline (ESCALATED); an ESCALATION notice is one too.
            Escalations: escalated.Count + Notices(NoticeKind.ESCALATION),
            Withdrawals: Notices(NoticeKind.WITHDRAWAL),
            FromNotice: Times(fromNotice),
            FromReport: Times(fromReport),
            RemovedWithinDeadline: outcomes.Count(e => e.withinNorm),
            RemovalBuckets: [.. Buckets.Select((b, i) =>
            {
                var lower = i == 0 ? TimeSpan.MinValue : Buckets[i - 1].UpTo;
                var n = fromNotice.Count(t => t > lower && t <= b.UpTo);
                return new KeyedCount(b.Label, n, Share(n, fromNotice.Count) ?? 0);
            })],
            ForwardsIn: forwardsIn.Count,
            ForwardsInByPartner: Counts(forwardsIn.Select(e => e.report.hops[^1])),
            ForwardsOut: forwardsOut.Count,
            ForwardsOutByPartner: Counts(forwardsOut.Select(e => e.partnerHotline)),
            PoliceReferrals: h.PoliceReferrals.DistinctBy(e => e.eventId).Count(e => In(e.referredAt)),
            MonthlyReceived: Monthly(received.Select(x => x.At), from, to),
            SlowestRemovals: anonymous ? null :
            [
                .. outcomes.OrderByDescending(e => e.timeToRemovalFromNoticeMs).ThenBy(e => e.noticeId, StringComparer.Ordinal).Take(SlowestShown)
                    .Select(e => new SlowRemoval(e.noticeId, e.caseKey, e.hosterName ?? e.hosterId, e.country,
                        Hours(TimeSpan.FromMilliseconds(e.timeToRemovalFromNoticeMs)), Hours(TimeSpan.FromMilliseconds(e.timeToRemovalFromReportMs)))),
            ]);
    }

    /// <summary>Counts per key, largest first (then by key), with each one's share of the total.</summary>
    private static List<KeyedCount> Counts(IEnumerable<string> keys)
    {
        var list = keys.ToList();
        return
        [
            .. list.GroupBy(k => k, StringComparer.Ordinal).Select(g => new KeyedCount(g.Key, g.Count(), Share(g.Count(), list.Count) ?? 0))
                .OrderByDescending(c => c.Count).ThenBy(c => c.Key, StringComparer.Ordinal),
        ];
    }

    /// <summary>Reports received per calendar month (UTC) of the period, months without any included.</summary>
    private static List<KeyedCount> Monthly(IEnumerable<DateTime> times, DateTime from, DateTime to)
    {
        var byMonth = times.GroupBy(t => new DateTime(t.Year, t.Month, 1, 0, 0, 0, DateTimeKind.Utc)).ToDictionary(g => g.Key, g => g.Count());
        var total = byMonth.Values.Sum();
        var months = new List<KeyedCount>();
        for (var m = new DateTime(from.Year, from.Month, 1, 0, 0, 0, DateTimeKind.Utc); m < to; m = m.AddMonths(1))
        {
            var n = byMonth.GetValueOrDefault(m);
            months.Add(new KeyedCount(m.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture), n, Share(n, total) ?? 0));
        }
        return months;
    }

    private static RemovalTimes Times(List<TimeSpan> sorted) => new(
        sorted.Count,
        HosterScorecard.Percentile(sorted, 0.5) is { } median ? Hours(median) : null,
        HosterScorecard.Percentile(sorted, 0.9) is { } p90 ? Hours(p90) : null,
        Share(sorted.Count(t => t <= TimeSpan.FromHours(24)), sorted.Count),
        Share(sorted.Count(t => t <= TimeSpan.FromHours(72)), sorted.Count));

    private static double Hours(TimeSpan t) => Math.Round(t.TotalHours, 4);

    private static double? Share(int part, int whole) => whole == 0 ? null : Math.Round((double)part / whole, 4);
}
