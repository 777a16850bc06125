using Pipeline.Contracts;

namespace Pipeline.Sla;

/// <summary>One hoster's line in the ranking. Times are measured from the case's first notice, counts cover the cases
/// noticed since the window start; <see cref="OpenNow"/> and <see cref="OverdueNow"/> are facts of now, whatever the
/// notice's age (an ancient notice that is still open is the worst case and must not age out of the board).</summary>
public sealed record HosterRow(
    string Hoster,
    string? HosterName,
    int Notices,
    int Reminders,
    int Removed,
    int RemovedWithinNorm,
    int Decided,
    double? ShareWithinNorm,
    TimeSpan? MedianTimeToRemoval,
    TimeSpan? P90TimeToRemoval,
    TimeSpan? MedianTimeFromReport,
    int OpenNow,
    int OverdueNow,
    int Breaches,
    int Reuploads,
    int Withdrawn,
    bool RepeatOffender);

/// <summary>
/// Per-hoster scorecards, recomputed from the event history alone (notices, outcomes, SLA events): nothing here
/// depends on what the SLA stage remembered, so a reclassified or retracted case changes the figures on the next run.
/// </summary>
/// <remarks>
/// A case's notices form an episode: the FIRST notice starts it, reminders and escalations join it, a WITHDRAWAL
/// closes it without a removal, a MOVED delivery of any of its notices closes it unmeasured, a removal outcome for any of
/// its notices closes it as removed. Time to removal and the
/// norm are taken from the episode's first notice (a reminder's own deadline would flatter a slow hoster). A FIRST
/// notice for a case whose previous episode ended in removal is a re-upload. An outcome whose notice has left
/// notices.issued (7-day retention) still counts: the outcome carries the notice time, deadline and hoster.
/// </remarks>
public static class HosterScorecard
{
    public const string UnknownHoster = "(unknown)";

    /// <summary>Ranks hosters worst first.</summary>
    /// <param name="since">Window start: cases whose first notice is older are left out of the counts (not of open/overdue).</param>
    /// <param name="repeatBreaches">A hoster with at least this many breaches in the window is a repeat offender
    /// (so is any hoster with a re-upload).</param>
    /// <param name="label">Maps a hoster id to the row it is counted in (used to fold the long tail into "other").</param>
    public static IReadOnlyList<HosterRow> Rank(
        IEnumerable<TakedownNotice> notices, IEnumerable<NoticeOutcome> outcomes, IEnumerable<SlaEvent> events,
        DateTime now, DateTime since, int repeatBreaches = 3, Func<string, string>? label = null, IReadOnlyCollection<string>? movedAway = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeatBreaches, 1);
        label ??= h => h;
        var history = events.ToList();
        var episodes = Episodes(notices, outcomes, history, movedAway);
        var known = episodes.SelectMany(e => e.NoticeIds).ToHashSet(StringComparer.Ordinal);
        var eventOnly = history.Where(e => !known.Contains(e.noticeId));
        return episodes
            .GroupBy(e => label(e.Hoster), StringComparer.Ordinal)
            .Select(g => Row(g.Key, [.. g], now, since, repeatBreaches))
            .Concat(EventOnlyRows(eventOnly, since, repeatBreaches, label))
            .GroupBy(r => r.Hoster, StringComparer.Ordinal).Select(g => g.Count() == 1 ? g.First() : Merge(g.ToList(), repeatBreaches))
            .Where(r => r.Notices > 0 || r.OpenNow > 0 || r.Breaches > 0 || r.Reuploads > 0 || r.Withdrawn > 0) // nothing in the window
            .OrderBy(r => r.ShareWithinNorm is null ? 1 : 0)
            .ThenBy(r => r.ShareWithinNorm ?? 0)
            .ThenByDescending(r => r.OverdueNow)
            .ThenByDescending(r => r.Breaches)
            .ThenByDescending(r => r.Reuploads)
            .ThenByDescending(r => r.Notices)
            .ThenBy(r => r.Hoster, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Nearest-rank percentile (an observed value, so figures can be checked to the second): the value at
    /// position ⌈p·n⌉ of the sorted list.</summary>
    public static TimeSpan? Percentile(IReadOnlyList<TimeSpan> sorted, double p)
    {
        if (sorted.Count == 0) return null;
        var rank = (int)Math.Ceiling(p * sorted.Count);
        return sorted[Math.Clamp(rank, 1, sorted.Count) - 1];
    }

    internal sealed class Episode
    {
        public required string CaseKey { get; init; }
        public required string Hoster { get; set; }
        public string? HosterName { get; set; }
        public required DateTime FirstIssuedAt { get; init; }
        public required DateTime ReceivedAt { get; init; }
        public required DateTime Deadline { get; init; }
        public HashSet<string> NoticeIds { get; } = new(StringComparer.Ordinal);
        public int Reminders { get; set; }
        public DateTime? RemovedAt { get; set; }
        public bool Withdrawn { get; set; }
        public bool Moved { get; set; }
        /// <summary>The re-lookup before sending found the host moved (MOVED): not measured for this hoster.</summary>
        public bool MovedAway { get; set; }
        public bool BreachEvent { get; set; }
        public bool Reupload { get; set; }

        public bool Open => RemovedAt is null && !Withdrawn && !Moved;
    }

    /// <param name="movedAway">First notice ids of routes whose host moved before one of their notices left (MOVED on
    /// notices.deliveries.v1): those episodes are left out of the old hoster's figures, as withdrawn ones are.</param>
    internal static List<Episode> Episodes(IEnumerable<TakedownNotice> notices, IEnumerable<NoticeOutcome> outcomes, IEnumerable<SlaEvent> events,
        IReadOnlyCollection<string>? movedAway = null)
    {
        var episodes = new List<Episode>();
        var byNotice = new Dictionary<string, Episode>(StringComparer.Ordinal);
        var outcomeByNotice = outcomes.GroupBy(o => o.noticeId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.MinBy(o => o.removedAt)!, StringComparer.Ordinal);
        var distinct = notices.GroupBy(n => n.noticeId, StringComparer.Ordinal).Select(g => g.First());
        foreach (var byCase in distinct.GroupBy(n => n.caseKey, StringComparer.Ordinal))
        {
            Episode? current = null;
            var previousRemoved = false;
            foreach (var n in byCase.OrderBy(n => n.issuedAt).ThenBy(n => n.sequence))
            {
                var hoster = n.hosterId ?? UnknownHoster;
                if (current is { RemovedAt: { } removedAt } && removedAt <= n.issuedAt && n.kind == NoticeKind.FIRST)
                {
                    previousRemoved = true;
                    current = null; // removed before this first notice was issued: a re-upload, a new episode
                }
                switch (n.kind)
                {
                    case NoticeKind.CONFIRMATION:
                        if (current is not null) { current.NoticeIds.Add(n.noticeId); byNotice[n.noticeId] = current; }
                        continue; // the case's last word, not a reminder
                    case NoticeKind.WITHDRAWAL:
                        if (current is not null) { current.Withdrawn = true; current.NoticeIds.Add(n.noticeId); byNotice[n.noticeId] = current; current = null; }
                        continue;
                    case NoticeKind.FIRST when current is not null && current.Hoster == hoster:
                        break; // a second first notice for an open case keeps the clock of the first
                    case NoticeKind.FIRST:
                    case NoticeKind.REMINDER or NoticeKind.ESCALATION when current is null:
                        if (current is not null) current.Moved = true; // same URL, another hoster now
                        current = new Episode
                        {
                            CaseKey = n.caseKey, Hoster = hoster, HosterName = n.hosterName, FirstIssuedAt = n.issuedAt,
                            ReceivedAt = n.timeline.receivedAt, Deadline = n.deadline, Reupload = previousRemoved,
                        };
                        episodes.Add(current);
                        break;
                    case NoticeKind.ESCALATION:
                        break; // to the site owner, registrar or authority: part of the episode, not a reminder to the hoster
                    default:
                        current!.Reminders++;
                        break;
                }
                current!.NoticeIds.Add(n.noticeId);
                current.HosterName ??= n.hosterName;
                byNotice[n.noticeId] = current;
                if (outcomeByNotice.TryGetValue(n.noticeId, out var o) && (current.RemovedAt is null || o.removedAt < current.RemovedAt))
                    current.RemovedAt = o.removedAt < current.FirstIssuedAt ? current.FirstIssuedAt : o.removedAt;
            }
        }
        foreach (var o in outcomeByNotice.Values.Where(o => !byNotice.ContainsKey(o.noticeId)))
        {
            // The notice itself is gone from notices.issued: the outcome carries what the scorecard needs.
            var issued = o.timeline.noticeSentAt ?? o.removedAt.AddMilliseconds(-o.timeToRemovalFromNoticeMs);
            var episode = new Episode
            {
                CaseKey = o.caseKey, Hoster = o.hosterId ?? UnknownHoster, HosterName = o.hosterName, FirstIssuedAt = issued,
                ReceivedAt = o.timeline.receivedAt, Deadline = o.deadline, RemovedAt = o.removedAt < issued ? issued : o.removedAt,
            };
            episode.NoticeIds.Add(o.noticeId);
            byNotice[o.noticeId] = episode;
            episodes.Add(episode);
        }
        foreach (var id in movedAway ?? [])
            if (byNotice.TryGetValue(id, out var away) && away.RemovedAt is null)
            {
                away.Moved = true;
                away.MovedAway = true;
            }
        foreach (var e in events)
        {
            if (!byNotice.TryGetValue(e.noticeId, out var episode)) continue;
            if (e.kind == SlaEventKind.DEADLINE_BREACHED) episode.BreachEvent = true;
            if (e.kind == SlaEventKind.REUPLOAD) episode.Reupload = true;
        }
        return episodes;
    }

    private static HosterRow Row(string hoster, IReadOnlyList<Episode> all, DateTime now, DateTime since, int repeatBreaches)
    {
        // A withdrawn notice (retracted hash, wrong recipient) does not count for or against the hoster, nor does one whose
        // host moved away before a notice of it left (MOVED): closed unmeasured, the case was routed again.
        var inWindow = all.Where(e => e.FirstIssuedAt >= since && !e.Withdrawn && !e.MovedAway).ToList();
        var removed = inWindow.Where(e => e.RemovedAt is not null).ToList();
        var times = removed.Select(e => e.RemovedAt!.Value - e.FirstIssuedAt).Order().ToList();
        var fromReport = removed.Select(e => e.RemovedAt!.Value - e.ReceivedAt).Order().ToList();
        var within = removed.Count(e => e.RemovedAt <= e.Deadline);
        var overdueInWindow = inWindow.Count(e => e.Open && e.Deadline < now);
        var decided = removed.Count + overdueInWindow;
        var breaches = inWindow.Count(e => e.BreachEvent || (e.RemovedAt is { } r ? r > e.Deadline : e.Open && e.Deadline < now));
        var reuploads = inWindow.Count(e => e.Reupload);
        var names = all.Select(e => e.HosterName).Where(n => n is not null).Distinct().ToList();
        return new HosterRow(
            hoster, names.Count == 1 ? names[0] : null, inWindow.Count, inWindow.Sum(e => e.Reminders), removed.Count, within, decided,
            decided == 0 ? null : (double)within / decided,
            Percentile(times, 0.5), Percentile(times, 0.9), Percentile(fromReport, 0.5),
            all.Count(e => e.Open), all.Count(e => e.Open && e.Deadline < now), breaches, reuploads, all.Count(e => e.FirstIssuedAt >= since && e.Withdrawn),
            reuploads > 0 || breaches >= repeatBreaches);
    }

    /// <summary>SLA events whose notice is in neither notices.issued nor notices.outcomes (both aged out): their breaches
    /// and re-uploads still count against the hoster named on the event.</summary>
    private static IEnumerable<HosterRow> EventOnlyRows(IEnumerable<SlaEvent> events, DateTime since, int repeatBreaches, Func<string, string> label)
    {
        return events.Where(e => e.occurredAt >= since && e.kind is SlaEventKind.DEADLINE_BREACHED or SlaEventKind.REUPLOAD)
            .DistinctBy(e => (e.noticeId, e.kind))
            .GroupBy(e => label(e.hosterId ?? UnknownHoster), StringComparer.Ordinal)
            .Select(g =>
            {
                var breaches = g.Count(e => e.kind == SlaEventKind.DEADLINE_BREACHED);
                var reuploads = g.Count(e => e.kind == SlaEventKind.REUPLOAD);
                return new HosterRow(g.Key, null, 0, 0, 0, 0, 0, null, null, null, null, 0, 0, breaches, reuploads, 0,
                    reuploads > 0 || breaches >= repeatBreaches);
            });
    }

    private static HosterRow Merge(List<HosterRow> rows, int repeatBreaches)
    {
        // Only an episode row and an event-only row meet here; the event-only one adds counts, never times.
        var main = rows.OrderByDescending(r => r.Notices).First();
        var breaches = rows.Sum(r => r.Breaches);
        var reuploads = rows.Sum(r => r.Reuploads);
        return main with { Breaches = breaches, Reuploads = reuploads, RepeatOffender = reuploads > 0 || breaches >= repeatBreaches };
    }
}
