using System.Globalization;
using Pipeline.Contracts;

namespace Pipeline.Recheck;

/// <summary>
/// The recheck policy: when a noticed URL is checked next and what a check means. Pure and clock-free (callers pass the
/// time); it only computes the next <see cref="RecheckEntry"/>, which the recheck stage keeps in its state store
/// (recheck.schedule.v2), so misses, a hoster's waiting confirmation and the watch survive a restart.
/// <para>A URL goes through two phases. Until its removal is confirmed it is checked on the notice schedule (three
/// misses minutes apart, or a hoster's confirmation that a check agrees with). After that it is <em>watched</em>: checked
/// every <see cref="RecheckOptions.WatchInterval"/> for <see cref="RecheckOptions.WatchFor"/>, and a check that finds
/// it online again is a re-appearance (a re-upload).</para>
/// </summary>
public sealed class RecheckSchedule(RecheckOptions options)
{
    /// <summary>A hoster said the content is gone: received at <paramref name="ReceivedAt"/> (stage clock), removed at
    /// <paramref name="ClaimedRemovedAt"/> by its own account.</summary>
    public sealed record HosterConfirmation(DateTime ReceivedAt, DateTime? ClaimedRemovedAt);

    /// <summary>What a check means. <see cref="Next"/> is the entry to keep (null: the URL leaves the schedule).</summary>
    public sealed record Observation(RecheckEntry Before, RecheckEntry? Next, ProbeResult Result, DateTime At, bool RemovalConfirmed, bool GaveUp)
    {
        public ObservationMethod Method { get; init; } = ObservationMethod.RECHECK;
        /// <summary>Checks made, this one included.</summary>
        public int Checks { get; init; }
        /// <summary>Consecutive misses including this check (0 while watched).</summary>
        public int Misses { get; init; }
        /// <summary>When the current run of misses began, or the removal time once confirmed; null while online or watched.</summary>
        public DateTime? OfflineSince { get; init; }
        public DateTime? RemovedAt { get; init; }
        /// <summary>Online again after a confirmed removal: a re-upload.</summary>
        public bool Reappeared { get; init; }
        /// <summary>The watch after removal ended without a re-appearance.</summary>
        public bool WatchEnded { get; init; }
        /// <summary>A hoster's confirmation that this check contradicts (the content is online).</summary>
        public bool ConfirmationRejected { get; init; }
        /// <summary>Removal confirmed and the URL is now watched.</summary>
        public bool StartsWatch => RemovalConfirmed && Next is not null;
        /// <summary>The URL leaves the schedule: its state entry is deleted.</summary>
        public bool Ends => Next is null;
    }

    public enum ConfirmationAnswer { UnknownNotice, AlreadyRemoved, Verifying }

    /// <summary>The order checks take when they queue for a slot or their host's turn: a URL's first check, then a
    /// check that confirms a miss or a hoster's confirmation, then routine checks of online URLs, then the watch.</summary>
    public enum CheckPriority { First = 0, Retry = 1, Routine = 2, Watch = 3 }

    public static CheckPriority Priority(RecheckEntry entry, bool confirmationWaiting) =>
        Watching(entry) ? CheckPriority.Watch
        : entry.checks == 0 ? CheckPriority.First
        : entry.misses > 0 || confirmationWaiting || entry.confirmationReceivedAt is not null || entry.lastCheckedAt is null ? CheckPriority.Retry
        : CheckPriority.Routine;

    public static bool Watching(RecheckEntry entry) => entry.removedAt is not null;

    /// <summary>A MOVED mark: the notice's delivery was recorded MOVED before the notice was read here. Never checked.</summary>
    public static bool Moved(RecheckEntry entry) => entry.movedAt is not null;

    /// <summary>The mark for a MOVED record read before its notice: under the first notice's id (so that notice, when it
    /// comes, is taken for a replay by <see cref="Schedule"/>), never due.</summary>
    public static RecheckEntry MovedMark(NoticeDelivery moved)
    {
        var n = moved.notice!;
        var first = n.WithoutBodies();
        first.noticeId = n.originalNoticeId ?? n.noticeId;
        first.kind = NoticeKind.FIRST;
        first.sequence = 0;
        first.originalNoticeId = null;
        return new RecheckEntry
        {
            eventId = Pipeline.Platform.EventIds.Derive("recheck-moved", first.noticeId),
            caseKey = moved.caseKey,
            notice = first,
            nextCheckAt = moved.at,
            movedAt = moved.at,
        };
    }

    /// <summary>The entry for a notice, given the one the case has (if any); null when the notice is ignored: a replay of
    /// the scheduled notice, or an older episode's (a later notice of the same case replaces the entry).</summary>
    public RecheckEntry? Schedule(RecheckEntry? existing, TakedownNotice notice, DateTime now)
    {
        if (existing is not null && (existing.notice.noticeId == notice.noticeId || existing.notice.episode > notice.episode)) return null;
        var first = notice.issuedAt + options.FirstCheckAfter;
        return new RecheckEntry
        {
            eventId = Pipeline.Platform.EventIds.Derive("recheck-entry", notice.noticeId, "0"),
            caseKey = notice.caseKey,
            notice = notice.WithoutBodies(), // checks need the URL and the times, never the notice's X-ARF or text
            nextCheckAt = first < now ? now : first,
        };
    }

    /// <summary>When the entry's check is due: its next check, or at once when a hoster's confirmation waits for one.</summary>
    public static DateTime Due(RecheckEntry entry, HosterConfirmation? waiting) =>
        waiting is not null && !Watching(entry) && waiting.ReceivedAt < entry.nextCheckAt ? waiting.ReceivedAt : entry.nextCheckAt;

    /// <summary>Records a check made at <paramref name="at"/>, with a hoster's confirmation that arrived since the entry
    /// was written (<paramref name="arrived"/>), and computes the next entry.</summary>
    public Observation Record(RecheckEntry entry, ProbeResult result, DateTime at, HosterConfirmation? arrived = null)
    {
        var e = Copy(entry);
        e.checks++;
        if (result.Status != ContentStatus.NETWORK_DOWN) e.lastCheckedAt = at; // a check that could not look is no check
        e.eventId = Pipeline.Platform.EventIds.Derive("recheck-entry", e.notice.noticeId, e.checks.ToString(CultureInfo.InvariantCulture));
        return Watching(e) ? WatchCheck(entry, e, result, at) : Noticed(entry, e, result, at, arrived);
    }

    private Observation Noticed(RecheckEntry before, RecheckEntry e, ProbeResult result, DateTime at, HosterConfirmation? arrived)
    {
        if (arrived is not null && e.confirmationReceivedAt is null)
        {
            // the first confirmation counts; repeats are the same claim
            e.confirmationReceivedAt = arrived.ReceivedAt;
            e.confirmationClaimedRemovedAt = arrived.ClaimedRemovedAt;
        }
        if (result.IsMiss)
        {
            e.misses++;
            e.firstMissAt ??= at;
        }
        else if (result.Status == ContentStatus.ONLINE)
        {
            e.misses = 0;
            e.firstMissAt = null;
            e.lastOnlineAt = at;
        }
        var confirmation = e.confirmationReceivedAt is { } received ? new HosterConfirmation(received, e.confirmationClaimedRemovedAt) : null;
        var byHoster = confirmation is not null && result.IsMiss;
        var rejected = confirmation is not null && result.Status == ContentStatus.ONLINE;
        if (rejected) ClearConfirmation(e); // contradicted: the hoster can confirm again once it is really gone
        var confirmed = byHoster || e.misses >= options.MissesForRemoval;
        var age = at - e.notice.issuedAt;
        // never in the middle of a confirmation, nor on a check that could not look
        var gaveUp = !confirmed && e.misses == 0 && age >= options.GiveUpAfter && result.Status != ContentStatus.NETWORK_DOWN;
        DateTime? removedAt = null;
        var misses = e.misses;
        var offlineSince = e.firstMissAt;
        RecheckEntry? next = e;
        if (confirmed)
        {
            removedAt = byHoster ? HosterRemovalTime(e, confirmation!, at) : e.firstMissAt;
            if (options.WatchFor > TimeSpan.Zero)
            {
                e.removedAt = removedAt;
                ClearConfirmation(e);
                e.misses = 0;
                e.firstMissAt = null;
                e.nextCheckAt = at + options.WatchInterval;
            }
            else next = null;
        }
        else if (gaveUp) next = null;
        else
        {
            // A run of misses, a waiting confirmation or a check that could not look is followed up soon; otherwise the
            // routine interval, as long as the URL is open (no slow-down with age: a removal is measured at most that late).
            e.nextCheckAt = at + (e.misses > 0 || e.confirmationReceivedAt is not null || result.Status == ContentStatus.NETWORK_DOWN
                ? options.MissSpacing : options.Interval);
        }
        return new Observation(before, next, result, at, confirmed, gaveUp)
        {
            Method = byHoster ? ObservationMethod.HOSTER_CONFIRMATION : ObservationMethod.RECHECK,
            Checks = e.checks,
            RemovedAt = removedAt,
            Misses = misses,
            OfflineSince = confirmed ? removedAt : offlineSince,
            ConfirmationRejected = rejected,
        };
    }

    /// <summary>The hoster's account of when it removed the content, but never before we last saw it online (or
    /// before our own first miss, if that was earlier) and never after the check that agreed.</summary>
    private static DateTime HosterRemovalTime(RecheckEntry e, HosterConfirmation confirmation, DateTime checkedAt)
    {
        var claimed = confirmation.ClaimedRemovedAt ?? confirmation.ReceivedAt;
        if (e.firstMissAt is { } firstMiss && firstMiss < claimed) claimed = firstMiss;
        if (e.lastOnlineAt is { } online && claimed < online) claimed = online;
        return claimed > checkedAt ? checkedAt : claimed;
    }

    private Observation WatchCheck(RecheckEntry before, RecheckEntry e, ProbeResult result, DateTime at)
    {
        var reappeared = result.Status == ContentStatus.ONLINE;
        var ended = !reappeared && at >= e.removedAt!.Value + options.WatchFor;
        e.nextCheckAt = at + options.WatchInterval;
        // A re-appearance leaves the schedule: the re-upload request goes out with the entry's deletion, and the
        // re-upload's own notice (the next episode) schedules the URL again.
        return new Observation(before, reappeared || ended ? null : e, result, at, RemovalConfirmed: false, GaveUp: false)
        {
            Checks = e.checks,
            Reappeared = reappeared,
            WatchEnded = ended,
        };
    }

    private static void ClearConfirmation(RecheckEntry e)
    {
        e.confirmationReceivedAt = null;
        e.confirmationClaimedRemovedAt = null;
    }

    private static RecheckEntry Copy(RecheckEntry e) => new()
    {
        eventId = e.eventId, caseKey = e.caseKey, notice = e.notice, nextCheckAt = e.nextCheckAt, checks = e.checks, misses = e.misses,
        firstMissAt = e.firstMissAt, lastOnlineAt = e.lastOnlineAt, removedAt = e.removedAt,
        confirmationReceivedAt = e.confirmationReceivedAt, confirmationClaimedRemovedAt = e.confirmationClaimedRemovedAt,
        lastCheckedAt = e.lastCheckedAt, movedAt = e.movedAt,
    };

    public static string HostOf(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.IdnHost.ToLowerInvariant() : url;
}
