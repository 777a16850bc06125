using System.Net;
using Pipeline.Contracts;
using Pipeline.Recheck;

namespace Pipeline.Services.Tests;

public class RecheckScheduleTests
{
    private static readonly DateTime Issued = Fixtures.T0;
    private static readonly RecheckOptions Options = new(); // 15 min first, 1 h while open, misses 5 min apart, 3 misses, give up after 30 d
    private static readonly RecheckSchedule Policy = new(Options);
    private static readonly ProbeResult Online = new(ContentStatus.ONLINE, 200);
    private static readonly ProbeResult Removed = new(ContentStatus.REMOVED, 404);
    private static readonly ProbeResult Unknown = new(ContentStatus.UNKNOWN, 503);

    private static RecheckEntry Scheduled(DateTime? issued = null) =>
        Policy.Schedule(null, Fixtures.Notice(issued ?? Issued), issued ?? Issued)!;

    /// <summary>Records a check and returns the observation and the entry to keep.</summary>
    private static (RecheckSchedule.Observation Observation, RecheckEntry Next) Check(RecheckEntry entry, ProbeResult result, DateTime at, RecheckSchedule.HosterConfirmation? arrived = null)
    {
        var o = Policy.Record(entry, result, at, arrived);
        return (o, o.Next!);
    }

    [Fact]
    public void First_check_is_due_first_check_after_the_notice()
    {
        var entry = Scheduled();
        Assert.Equal(Issued.AddMinutes(15), entry.nextCheckAt);
        Assert.Equal(Fixtures.CaseKey, entry.caseKey);
        Assert.Equal(0, entry.checks);
    }

    [Fact]
    public void Notice_added_late_is_due_at_once()
    {
        var now = Issued.AddHours(2);
        Assert.Equal(now, Policy.Schedule(null, Fixtures.Notice(Issued), now)!.nextCheckAt);
    }

    [Fact]
    public void A_replay_of_the_scheduled_notice_is_ignored_and_keeps_its_progress()
    {
        var (_, afterMiss) = Check(Scheduled(), Removed, Issued.AddMinutes(15));
        Assert.Null(Policy.Schedule(afterMiss, Fixtures.Notice(Issued), Issued.AddMinutes(16)));
        Assert.Equal(1, afterMiss.misses);
    }

    [Fact]
    public void A_waiting_confirmation_makes_the_check_due_at_once_but_not_a_watched_one()
    {
        var entry = Scheduled();
        var confirmation = new RecheckSchedule.HosterConfirmation(Issued.AddMinutes(3), null);
        Assert.Equal(Issued.AddMinutes(3), RecheckSchedule.Due(entry, confirmation));
        Assert.Equal(Issued.AddMinutes(15), RecheckSchedule.Due(entry, null));
        entry.removedAt = Issued;
        Assert.Equal(Issued.AddMinutes(15), RecheckSchedule.Due(entry, confirmation));
    }

    [Fact]
    public void Three_consecutive_misses_spaced_by_miss_spacing_confirm_removal_from_the_first_miss()
    {
        var t1 = Issued.AddMinutes(15);
        var (o1, e1) = Check(Scheduled(), Removed, t1);
        Assert.False(o1.RemovalConfirmed);
        Assert.Equal(t1.AddMinutes(5), e1.nextCheckAt);

        var (o2, e2) = Check(e1, Removed, t1.AddMinutes(5));
        Assert.False(o2.RemovalConfirmed);
        Assert.Equal(t1.AddMinutes(10), e2.nextCheckAt);

        var (o3, e3) = Check(e2, Removed, t1.AddMinutes(10));
        Assert.True(o3.RemovalConfirmed);
        Assert.False(o3.GaveUp);
        Assert.Equal(3, o3.Misses);
        Assert.Equal(t1, o3.OfflineSince);
        Assert.Equal(t1, o3.RemovedAt);
        Assert.Equal(3, o3.Checks);
        Assert.True(o3.StartsWatch); // now watched for a re-upload, daily
        Assert.Equal(t1, e3.removedAt);
        Assert.Equal(t1.AddMinutes(10).AddDays(1), e3.nextCheckAt);
        Assert.Equal(0, e3.misses);
    }

    [Fact]
    public void A_check_never_changes_the_entry_it_was_given()
    {
        var entry = Scheduled();
        Check(entry, Removed, Issued.AddMinutes(15));
        Assert.Equal(0, entry.misses);
        Assert.Equal(0, entry.checks);
        Assert.Null(entry.firstMissAt);
    }

    [Fact]
    public void Online_check_between_misses_resets_the_count()
    {
        var t = Issued.AddMinutes(15);
        var (_, e) = Check(Scheduled(), Removed, t);
        (_, e) = Check(e, Removed, t.AddMinutes(5));
        var (online, after) = Check(e, Online, t.AddMinutes(10));

        Assert.False(online.RemovalConfirmed);
        Assert.Equal(0, after.misses);
        Assert.Null(after.firstMissAt);
        Assert.Equal(t.AddMinutes(10), after.lastOnlineAt);
        Assert.Equal(t.AddMinutes(10).AddHours(1), after.nextCheckAt); // back to the routine interval

        var later = t.AddMinutes(70);
        (_, e) = Check(after, Removed, later);
        (_, e) = Check(e, Removed, later.AddMinutes(5));
        var (confirmed, _) = Check(e, Removed, later.AddMinutes(10));
        Assert.True(confirmed.RemovalConfirmed);
        Assert.Equal(later, confirmed.OfflineSince);
    }

    [Fact]
    public void Unknown_result_neither_resets_nor_counts()
    {
        var t = Issued.AddMinutes(15);
        var (_, e) = Check(Scheduled(), Removed, t);
        var (unknown, e2) = Check(e, Unknown, t.AddMinutes(5));
        Assert.False(unknown.RemovalConfirmed);
        Assert.Equal(1, e2.misses);
        Assert.Equal(t, e2.firstMissAt);
        Assert.Equal(t.AddMinutes(10), e2.nextCheckAt); // still confirming: miss spacing

        (_, e) = Check(e2, Removed, t.AddMinutes(10));
        var (confirmed, _) = Check(e, Removed, t.AddMinutes(15));
        Assert.True(confirmed.RemovalConfirmed);
        Assert.Equal(t, confirmed.OfflineSince);
        Assert.Equal(4, confirmed.Checks);
    }

    [Fact]
    public void A_hoster_confirmation_counts_when_the_check_agrees_and_is_dated_by_the_hoster_but_not_before_we_saw_it_online()
    {
        var t = Issued.AddMinutes(15);
        var (_, e) = Check(Scheduled(), Online, t);
        var claim = new RecheckSchedule.HosterConfirmation(t.AddMinutes(20), ClaimedRemovedAt: t.AddMinutes(-30));
        var (o, watched) = Check(e, Removed, t.AddMinutes(21), claim);
        Assert.True(o.RemovalConfirmed);
        Assert.Equal(ObservationMethod.HOSTER_CONFIRMATION, o.Method);
        Assert.Equal(t, o.RemovedAt); // claimed earlier than our last online check: clamped to it
        Assert.Null(watched.confirmationReceivedAt);
    }

    [Fact]
    public void A_contradicted_confirmation_is_dropped_and_one_that_meets_an_unreachable_host_waits_in_the_entry()
    {
        var t = Issued.AddMinutes(15);
        var claim = new RecheckSchedule.HosterConfirmation(t, null);
        var (rejected, e) = Check(Scheduled(), Online, t, claim);
        Assert.True(rejected.ConfirmationRejected);
        Assert.Null(e.confirmationReceivedAt);

        var (waiting, kept) = Check(e, new ProbeResult(ContentStatus.UNKNOWN, 503), t.AddMinutes(1), claim);
        Assert.False(waiting.RemovalConfirmed);
        Assert.Equal(t, kept.confirmationReceivedAt); // survives a restart with the entry
        Assert.Equal(t.AddMinutes(6), kept.nextCheckAt); // checked again at miss spacing
        var (agreed, _) = Check(kept, Removed, t.AddMinutes(6));
        Assert.True(agreed.RemovalConfirmed);
        Assert.Equal(ObservationMethod.HOSTER_CONFIRMATION, agreed.Method);
    }

    [Theory]
    [InlineData(ContentStatus.REMOVED, true)]
    [InlineData(ContentStatus.DNS_GONE, true)]
    [InlineData(ContentStatus.REFUSED, true)]
    [InlineData(ContentStatus.TIMED_OUT, true)]
    [InlineData(ContentStatus.UNREACHABLE, false)]
    [InlineData(ContentStatus.SERVER_ERROR, false)]
    [InlineData(ContentStatus.NETWORK_DOWN, false)]
    [InlineData(ContentStatus.ONLINE, false)]
    [InlineData(ContentStatus.UNKNOWN, false)]
    [InlineData(ContentStatus.CHANGED, false)]
    public void Which_statuses_count_as_a_miss(ContentStatus status, bool miss) =>
        Assert.Equal(miss, new ProbeResult(status, null).IsMiss);

    [Theory]
    [InlineData(1)]
    [InlineData(47)]
    [InlineData(48)]
    [InlineData(24 * 20)]
    public void An_open_url_is_checked_at_the_routine_interval_however_old_it_is(int hours)
    {
        var at = Issued.AddHours(hours);
        Assert.Equal(at.AddHours(1), Check(Scheduled(), Online, at).Next.nextCheckAt);
    }

    [Fact]
    public void A_check_that_could_not_look_counts_no_miss_resets_none_is_no_check_and_is_repeated_at_miss_spacing()
    {
        var t = Issued.AddMinutes(15);
        var (miss, afterMiss) = Check(Scheduled(), Removed, t);
        Assert.Equal(1, miss.Misses);
        var down = new ProbeResult(ContentStatus.NETWORK_DOWN, null) { Detail = "0 of 1 control checks answered online" };
        var (blind, afterBlind) = Check(afterMiss, down, t.AddMinutes(5));
        Assert.False(blind.RemovalConfirmed);
        Assert.Equal(1, afterBlind.misses); // neither counted nor reset
        Assert.Equal(t, afterBlind.firstMissAt);
        Assert.Equal(t, afterBlind.lastCheckedAt); // the last check that could look
        Assert.Equal(t.AddMinutes(10), afterBlind.nextCheckAt);
        // Even at the age where an online URL is given up, a blind check gives up nothing.
        var old = Policy.Record(Scheduled(), down, Issued.AddDays(31));
        Assert.False(old.GaveUp);
        Assert.Null(old.Next!.lastCheckedAt);
    }

    [Fact]
    public void First_checks_go_before_retries_before_routine_checks_before_the_watch()
    {
        var first = Scheduled();
        var (_, online) = Check(first, Online, Issued.AddMinutes(15));
        var (_, missed) = Check(online, Removed, Issued.AddMinutes(75));
        Assert.Equal(RecheckSchedule.CheckPriority.First, RecheckSchedule.Priority(first, confirmationWaiting: false));
        Assert.Equal(RecheckSchedule.CheckPriority.Routine, RecheckSchedule.Priority(online, confirmationWaiting: false));
        Assert.Equal(RecheckSchedule.CheckPriority.Retry, RecheckSchedule.Priority(online, confirmationWaiting: true));
        Assert.Equal(RecheckSchedule.CheckPriority.Retry, RecheckSchedule.Priority(missed, confirmationWaiting: false));
        var watched = Copy(online);
        watched.removedAt = Issued.AddHours(2);
        Assert.Equal(RecheckSchedule.CheckPriority.Watch, RecheckSchedule.Priority(watched, confirmationWaiting: false));
    }

    private static RecheckEntry Copy(RecheckEntry e) => new()
    {
        eventId = e.eventId, caseKey = e.caseKey, notice = e.notice, nextCheckAt = e.nextCheckAt, checks = e.checks, misses = e.misses, lastCheckedAt = e.lastCheckedAt,
    };

    [Fact]
    public void Gives_up_after_give_up_after()
    {
        var entry = Scheduled();
        Assert.False(Policy.Record(entry, Online, Issued.AddDays(30).AddMilliseconds(-1)).GaveUp);
        var gaveUp = Policy.Record(entry, Online, Issued.AddDays(30));
        Assert.True(gaveUp.GaveUp);
        Assert.False(gaveUp.RemovalConfirmed);
        Assert.True(gaveUp.Ends);
    }

    [Fact]
    public void A_later_notice_for_the_same_case_replaces_the_earlier_one_but_not_an_older_episode()
    {
        var entry = Scheduled();
        var reminder = Fixtures.Notice(Issued.AddDays(1));
        reminder.noticeId = "later";
        var replaced = Policy.Schedule(entry, reminder, Issued.AddDays(1));
        Assert.Equal("later", replaced!.notice.noticeId);

        var reupload = Fixtures.Notice(Issued.AddDays(2));
        reupload.noticeId = "reupload";
        reupload.episode = 1;
        var current = Policy.Schedule(replaced, reupload, Issued.AddDays(2))!;
        var older = Fixtures.Notice(Issued.AddDays(3));
        older.noticeId = "older-episode";
        Assert.Null(Policy.Schedule(current, older, Issued.AddDays(3)));
    }

    [Fact]
    public void The_watch_ends_after_watch_for_and_a_re_appearance_leaves_the_schedule()
    {
        var t = Issued.AddMinutes(15);
        var (_, e) = Check(Scheduled(), Removed, t);
        (_, e) = Check(e, Removed, t.AddMinutes(5));
        (_, e) = Check(e, Removed, t.AddMinutes(10));
        Assert.True(RecheckSchedule.Watching(e));

        var (still, kept) = Check(e, Removed, t.AddDays(1));
        Assert.False(still.Ends);
        Assert.Equal(t.AddDays(2), kept.nextCheckAt);
        var back = Policy.Record(kept, Online, t.AddDays(2));
        Assert.True(back.Reappeared);
        Assert.True(back.Ends);
        var ended = Policy.Record(kept, Removed, t.AddDays(30));
        Assert.True(ended.WatchEnded);
        Assert.True(ended.Ends);
    }
}

public class HttpContentProbeTests
{
    [Theory]
    [InlineData(200, ContentStatus.ONLINE)]
    [InlineData(206, ContentStatus.ONLINE)]
    [InlineData(301, ContentStatus.ONLINE)]
    [InlineData(302, ContentStatus.ONLINE)]
    [InlineData(404, ContentStatus.REMOVED)]
    [InlineData(410, ContentStatus.REMOVED)]
    [InlineData(451, ContentStatus.REMOVED)]
    [InlineData(401, ContentStatus.UNKNOWN)]
    [InlineData(403, ContentStatus.UNKNOWN)]
    [InlineData(500, ContentStatus.SERVER_ERROR)]
    [InlineData(503, ContentStatus.SERVER_ERROR)]
    public void Classify(int code, ContentStatus status)
    {
        var result = HttpContentProbe.Classify((HttpStatusCode)code);
        Assert.Equal(new ProbeResult(status, code), result);
    }
}
