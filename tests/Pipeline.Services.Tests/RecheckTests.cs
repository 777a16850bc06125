using System.Net;
using Pipeline.Contracts;
using Pipeline.Recheck;

namespace Pipeline.Services.Tests;

public class RecheckScheduleTests
{
    private static readonly DateTime Issued = Fixtures.T0;
    private static readonly RecheckOptions Options = new(); // 15 min first, 1 h, slow 24 h after 48 h, misses 5 min apart, 3 misses, give up after 30 d
    private static readonly ProbeResult Online = new(ContentStatus.ONLINE, 200);
    private static readonly ProbeResult Removed = new(ContentStatus.REMOVED, 404);
    private static readonly ProbeResult Unknown = new(ContentStatus.UNKNOWN, 503);

    private static (RecheckSchedule Schedule, RecheckSchedule.Item Item) Scheduled(DateTime? issued = null)
    {
        var schedule = new RecheckSchedule(Options);
        schedule.Add(Fixtures.Notice(issued ?? Issued), partition: 3, now: issued ?? Issued);
        var item = Assert.Single(schedule.TakeDue(DateTime.MaxValue, 10));
        return (schedule, item);
    }

    [Fact]
    public void First_check_is_due_first_check_after_the_notice()
    {
        var schedule = new RecheckSchedule(Options);
        schedule.Add(Fixtures.Notice(Issued), 3, Issued);
        Assert.Equal(Issued.AddMinutes(15), schedule.NextDue);
        Assert.Empty(schedule.TakeDue(Issued.AddMinutes(15).AddMilliseconds(-1), 10));
        var item = Assert.Single(schedule.TakeDue(Issued.AddMinutes(15), 10));
        Assert.Equal(Fixtures.CaseKey, item.Notice.caseKey);
        Assert.Equal(3, item.Partition);
    }

    [Fact]
    public void Notice_added_late_is_due_at_once()
    {
        var schedule = new RecheckSchedule(Options);
        var now = Issued.AddHours(2);
        schedule.Add(Fixtures.Notice(Issued), 0, now);
        Assert.Equal(now, schedule.NextDue);
    }

    [Fact]
    public void TakeDue_returns_only_due_items_and_at_most_max()
    {
        var schedule = new RecheckSchedule(Options);
        schedule.Add(Fixtures.Notice(Issued, "http://a.example/1"), 0, Issued);
        schedule.Add(Fixtures.Notice(Issued.AddMinutes(1), "http://b.example/1"), 0, Issued);
        schedule.Add(Fixtures.Notice(Issued.AddMinutes(30), "http://c.example/1"), 0, Issued);

        var due = schedule.TakeDue(Issued.AddMinutes(16), 1);
        Assert.Equal(["http://a.example/1"], due.Select(i => i.Notice.caseKey));
        due = schedule.TakeDue(Issued.AddMinutes(16), 10);
        Assert.Equal(["http://b.example/1"], due.Select(i => i.Notice.caseKey));
        Assert.Empty(schedule.TakeDue(Issued.AddMinutes(16), 10));
        Assert.Equal(Issued.AddMinutes(45), schedule.NextDue);
    }

    [Fact]
    public void Same_notice_added_twice_is_scheduled_once()
    {
        var schedule = new RecheckSchedule(Options);
        schedule.Add(Fixtures.Notice(Issued), 0, Issued);
        schedule.Add(Fixtures.Notice(Issued), 0, Issued);
        Assert.Equal(1, schedule.Count);
        Assert.Single(schedule.TakeDue(DateTime.MaxValue, 10));
    }

    [Fact]
    public void Three_consecutive_misses_spaced_by_miss_spacing_confirm_removal_from_the_first_miss()
    {
        var (schedule, item) = Scheduled();
        var t1 = Issued.AddMinutes(15);

        var o1 = schedule.Record(item, Removed, t1);
        Assert.False(o1.RemovalConfirmed);
        Assert.Equal(t1.AddMinutes(5), schedule.NextDue);
        item = Assert.Single(schedule.TakeDue(t1.AddMinutes(5), 10));

        var o2 = schedule.Record(item, Removed, t1.AddMinutes(5));
        Assert.False(o2.RemovalConfirmed);
        Assert.Equal(t1.AddMinutes(10), schedule.NextDue);
        item = Assert.Single(schedule.TakeDue(t1.AddMinutes(10), 10));

        var o3 = schedule.Record(item, Removed, t1.AddMinutes(10));
        Assert.True(o3.RemovalConfirmed);
        Assert.False(o3.GaveUp);
        Assert.Equal(3, o3.Misses);
        Assert.Equal(t1, o3.OfflineSince);
        Assert.Equal(t1, o3.RemovedAt);
        Assert.Equal(3, o3.Item.Checks);
        Assert.Equal(1, schedule.Count); // now watched for a re-upload, daily
        Assert.Equal(t1.AddMinutes(10).AddDays(1), schedule.NextDue);
    }

    [Fact]
    public void Online_check_between_misses_resets_the_count()
    {
        var (schedule, item) = Scheduled();
        var t = Issued.AddMinutes(15);
        schedule.Record(item, Removed, t);
        schedule.Record(item, Removed, t.AddMinutes(5));
        var online = schedule.Record(item, Online, t.AddMinutes(10));

        Assert.False(online.RemovalConfirmed);
        Assert.Equal(0, item.Misses);
        Assert.Null(item.FirstMissAt);
        Assert.Equal(t.AddMinutes(10).AddHours(1), item.Next); // back to the routine interval

        var later = t.AddMinutes(70);
        Assert.False(schedule.Record(item, Removed, later).RemovalConfirmed);
        Assert.False(schedule.Record(item, Removed, later.AddMinutes(5)).RemovalConfirmed);
        var confirmed = schedule.Record(item, Removed, later.AddMinutes(10));
        Assert.True(confirmed.RemovalConfirmed);
        Assert.Equal(later, confirmed.OfflineSince);
    }

    [Fact]
    public void Unknown_result_neither_resets_nor_counts()
    {
        var (schedule, item) = Scheduled();
        var t = Issued.AddMinutes(15);
        schedule.Record(item, Removed, t);
        var unknown = schedule.Record(item, Unknown, t.AddMinutes(5));
        Assert.False(unknown.RemovalConfirmed);
        Assert.Equal(1, item.Misses);
        Assert.Equal(t, item.FirstMissAt);
        Assert.Equal(t.AddMinutes(10), item.Next); // still confirming: miss spacing

        schedule.Record(item, Removed, t.AddMinutes(10));
        var confirmed = schedule.Record(item, Removed, t.AddMinutes(15));
        Assert.True(confirmed.RemovalConfirmed);
        Assert.Equal(t, confirmed.OfflineSince);
        Assert.Equal(4, confirmed.Item.Checks);
    }

    [Theory]
    [InlineData(ContentStatus.REMOVED, true)]
    [InlineData(ContentStatus.UNREACHABLE, true)]
    [InlineData(ContentStatus.DNS_GONE, true)]
    [InlineData(ContentStatus.ONLINE, false)]
    [InlineData(ContentStatus.UNKNOWN, false)]
    [InlineData(ContentStatus.CHANGED, false)]
    public void Which_statuses_count_as_a_miss(ContentStatus status, bool miss) =>
        Assert.Equal(miss, new ProbeResult(status, null).IsMiss);

    [Fact]
    public void Online_checks_use_the_routine_interval_before_slow_after()
    {
        var (schedule, item) = Scheduled();
        var at = Issued.AddHours(47);
        schedule.Record(item, Online, at);
        Assert.Equal(at.AddHours(1), item.Next);
    }

    [Fact]
    public void Online_checks_use_the_slow_interval_from_slow_after()
    {
        var (schedule, item) = Scheduled();
        var at = Issued.AddHours(48);
        schedule.Record(item, Online, at);
        Assert.Equal(at.AddHours(24), item.Next);
        Assert.Equal(at.AddHours(24), schedule.NextDue);
    }

    [Fact]
    public void Gives_up_after_give_up_after()
    {
        var (schedule, item) = Scheduled();
        var before = schedule.Record(item, Online, Issued.AddDays(30).AddMilliseconds(-1));
        Assert.False(before.GaveUp);
        var gaveUp = schedule.Record(item, Online, Issued.AddDays(30));
        Assert.True(gaveUp.GaveUp);
        Assert.False(gaveUp.RemovalConfirmed);
        Assert.Equal(0, schedule.Count);
    }

    [Fact]
    public void A_later_notice_for_the_same_case_replaces_the_earlier_one()
    {
        var schedule = new RecheckSchedule(Options);
        schedule.Add(Fixtures.Notice(Issued), 0, Issued);
        var reminder = Fixtures.Notice(Issued.AddDays(1));
        reminder.noticeId = "reminder";
        schedule.Add(reminder, 0, Issued.AddDays(1));
        Assert.Equal(1, schedule.Count);
        var item = Assert.Single(schedule.TakeDue(DateTime.MaxValue, 10));
        Assert.Equal("reminder", item.Notice.noticeId);
    }

    // Regression: revoking and re-assigning a partition before the first check (an ordinary rebalance) re-adds the
    // notice with the same Next; the stale queue entry must not hand the same item out twice (one instant of
    // "removed" would count as two of the three misses).
    [Fact]
    public void Notice_re_added_after_a_rebalance_is_due_once()
    {
        var schedule = new RecheckSchedule(Options);
        schedule.Add(Fixtures.Notice(Issued), 0, Issued);
        schedule.RemovePartitions(new HashSet<int> { 0 });        // revoked ...
        schedule.Add(Fixtures.Notice(Issued), 0, Issued.AddMinutes(1)); // ... and assigned again, restored from the state topic
        Assert.Equal(1, schedule.Count);
        var due = schedule.TakeDue(Issued.AddMinutes(15), 10);
        Assert.True(due.Count == 1, $"the same URL was handed out {due.Count} times for one due check");
    }

    [Fact]
    public void Removing_partitions_drops_their_items()
    {
        var schedule = new RecheckSchedule(Options);
        schedule.Add(Fixtures.Notice(Issued, "http://a.example/1"), 1, Issued);
        schedule.Add(Fixtures.Notice(Issued, "http://b.example/1"), 2, Issued);
        schedule.RemovePartitions(new HashSet<int> { 1 });
        Assert.Equal(1, schedule.Count);
        Assert.Equal(["http://b.example/1"], schedule.TakeDue(DateTime.MaxValue, 10).Select(i => i.Notice.caseKey));
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
    [InlineData(500, ContentStatus.UNKNOWN)]
    [InlineData(503, ContentStatus.UNKNOWN)]
    public void Classify(int code, ContentStatus status)
    {
        var result = HttpContentProbe.Classify((HttpStatusCode)code);
        Assert.Equal(new ProbeResult(status, code), result);
    }
}
