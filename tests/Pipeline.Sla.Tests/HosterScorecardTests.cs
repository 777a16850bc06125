using Pipeline.Contracts;

namespace Pipeline.Sla.Tests;

public class HosterScorecardTests
{
    private static readonly DateTime T0 = History.T0;
    private static TimeSpan H(double hours) => TimeSpan.FromHours(hours);

    [Fact]
    public void Counts_median_p90_and_share_within_norm_to_the_second()
    {
        var h = new History();
        // Ten cases removed after 1..10 hours (+17 s each), one after 30 h (late), one open past its deadline, one open in time.
        for (var i = 1; i <= 10; i++) h.Case("hoster-a", $"http://a.example/{i}", T0, H(i) + TimeSpan.FromSeconds(17));
        h.Case("hoster-a", "http://a.example/late", T0, H(30));
        h.Case("hoster-a", "http://a.example/overdue", T0, null);
        h.Case("hoster-a", "http://a.example/fresh", T0.AddDays(2), null);
        var row = Assert.Single(h.Rank(T0.AddDays(2).AddHours(1)));

        Assert.Equal("hoster-a", row.Hoster);
        Assert.Equal("hoster-a B.V.", row.HosterName);
        Assert.Equal(13, row.Notices);
        Assert.Equal(11, row.Removed);
        Assert.Equal(10, row.RemovedWithinNorm);
        Assert.Equal(12, row.Decided); // 11 removed + 1 overdue; the fresh one is undecided
        Assert.Equal(10.0 / 12, row.ShareWithinNorm);
        // nearest rank over 11 sorted times: median = 6th (6 h 17 s), p90 = ceil(9.9) = 10th (10 h 17 s)
        Assert.Equal(H(6) + TimeSpan.FromSeconds(17), row.MedianTimeToRemoval);
        Assert.Equal(H(10) + TimeSpan.FromSeconds(17), row.P90TimeToRemoval);
        Assert.Equal(H(7) + TimeSpan.FromSeconds(17), row.MedianTimeFromReport); // reported one hour before the notice
        Assert.Equal(2, row.OpenNow);
        Assert.Equal(1, row.OverdueNow);
        Assert.Equal(2, row.Breaches); // removed late + still open past the deadline
        Assert.Equal(0, row.Reuploads);
        Assert.False(row.RepeatOffender);
    }

    [Fact]
    public void Removal_exactly_at_the_deadline_is_within_the_norm_one_second_later_is_not()
    {
        var h = new History();
        h.Case("hoster-a", "http://a.example/1", T0, History.Norm);
        h.Case("hoster-b", "http://b.example/1", T0, History.Norm + TimeSpan.FromSeconds(1));
        var rows = h.Rank(T0.AddDays(3)).ToDictionary(r => r.Hoster);
        Assert.Equal(1.0, rows["hoster-a"].ShareWithinNorm);
        Assert.Equal(0.0, rows["hoster-b"].ShareWithinNorm);
        Assert.Equal(1, rows["hoster-b"].Breaches);
    }

    [Fact]
    public void Ranking_puts_the_lowest_share_within_norm_first_and_undecided_hosters_last()
    {
        var h = new History();
        h.Case("hoster-good", "http://good.example/1", T0, H(2));
        h.Case("hoster-good", "http://good.example/2", T0, H(3));
        h.Case("hoster-mixed", "http://mixed.example/1", T0, H(2));
        h.Case("hoster-mixed", "http://mixed.example/2", T0, H(40));
        h.Case("hoster-bad", "http://bad.example/1", T0, null);
        h.Case("hoster-new", "http://new.example/1", T0.AddDays(3), null);
        var order = h.Rank(T0.AddDays(3).AddHours(1)).Select(r => r.Hoster).ToList();
        Assert.Equal(["hoster-bad", "hoster-mixed", "hoster-good", "hoster-new"], order);
    }

    [Fact]
    public void Time_is_measured_from_the_first_notice_not_from_the_reminder_the_removal_followed()
    {
        var h = new History();
        var first = h.Noticed("hoster-a", "http://a.example/1", T0);
        var reminder = h.Noticed("hoster-a", "http://a.example/1", T0.AddHours(24), sequence: 1);
        h.Removed(reminder, T0.AddHours(26)); // the outcome names the reminder, whose own clock says 2 h
        var row = Assert.Single(h.Rank(T0.AddDays(2)));
        Assert.Equal(1, row.Notices);
        Assert.Equal(1, row.Reminders);
        Assert.Equal(H(26), row.MedianTimeToRemoval);
        Assert.Equal(0, row.RemovedWithinNorm);
        Assert.Equal(1, row.Breaches);
        Assert.Equal(first.noticeId, h.Notices[0].noticeId);
    }

    [Fact]
    public void A_notice_whose_host_moved_away_before_it_left_is_not_measured_for_the_old_hoster()
    {
        var h = new History();
        h.Case("hoster-a", "http://a.example/kept", T0, H(2));
        var moved = h.Noticed("hoster-a", "http://a.example/moved", T0); // never removed at hoster A: it moved abroad
        h.MovedAway.Add(moved.noticeId);
        var row = Assert.Single(h.Rank(T0.AddDays(3)));
        Assert.Equal(1, row.Notices); // the moved one is neither a notice, an open case nor a breach for hoster A
        Assert.Equal(0, row.OpenNow);
        Assert.Equal(0, row.Breaches);
        Assert.Equal(1.0, row.ShareWithinNorm);
    }

    [Fact]
    public void A_new_first_notice_after_removal_is_a_reupload_and_makes_a_repeat_offender()
    {
        var h = new History();
        h.Case("hoster-a", "http://a.example/1", T0, H(2));
        h.Case("hoster-a", "http://a.example/1", T0.AddDays(3), H(1)); // back online, noticed again, removed again
        var row = Assert.Single(h.Rank(T0.AddDays(5)));
        Assert.Equal(2, row.Notices);
        Assert.Equal(2, row.Removed);
        Assert.Equal(1, row.Reuploads);
        Assert.True(row.RepeatOffender);
    }

    [Fact]
    public void Breaches_make_a_repeat_offender_from_the_configured_count()
    {
        var h = new History();
        for (var i = 0; i < 3; i++) h.Case("hoster-a", $"http://a.example/{i}", T0, H(30));
        Assert.True(Assert.Single(h.Rank(T0.AddDays(3), repeatBreaches: 3)).RepeatOffender);
        Assert.False(Assert.Single(h.Rank(T0.AddDays(3), repeatBreaches: 4)).RepeatOffender);
    }

    [Fact]
    public void The_window_limits_the_counts_but_an_old_open_notice_stays_open_and_overdue()
    {
        var h = new History();
        h.Case("hoster-a", "http://a.example/old-removed", T0, H(2));
        h.Case("hoster-a", "http://a.example/old-open", T0, null);
        h.Case("hoster-a", "http://a.example/recent", T0.AddDays(40), H(5));
        var row = Assert.Single(h.Rank(T0.AddDays(41), since: T0.AddDays(35)));
        Assert.Equal(1, row.Notices);
        Assert.Equal(1, row.Removed);
        Assert.Equal(H(5), row.MedianTimeToRemoval);
        Assert.Equal(1, row.OpenNow);
        Assert.Equal(1, row.OverdueNow);
    }

    [Fact]
    public void A_withdrawn_notice_counts_neither_for_nor_against_the_hoster()
    {
        var h = new History();
        h.Noticed("hoster-a", "http://a.example/false-positive", T0);
        h.Noticed("hoster-a", "http://a.example/false-positive", T0.AddHours(3), sequence: 1, kind: NoticeKind.WITHDRAWAL);
        h.Case("hoster-a", "http://a.example/2", T0, H(1));
        var row = Assert.Single(h.Rank(T0.AddDays(3)));
        Assert.Equal(1, row.Notices);
        Assert.Equal(1, row.Withdrawn);
        Assert.Equal(0, row.OpenNow);
        Assert.Equal(0, row.Breaches);
        Assert.Equal(1.0, row.ShareWithinNorm);
    }

    [Fact]
    public void An_outcome_whose_notice_aged_out_of_notices_issued_still_counts()
    {
        var h = new History();
        h.Case("hoster-a", "http://a.example/1", T0, H(4));
        h.Notices.Clear();
        var row = Assert.Single(h.Rank(T0.AddDays(2)));
        Assert.Equal(1, row.Notices);
        Assert.Equal(H(4), row.MedianTimeToRemoval);
        Assert.Equal(1.0, row.ShareWithinNorm);
    }

    [Fact]
    public void Replayed_events_change_nothing()
    {
        var h = new History();
        var n = h.Case("hoster-a", "http://a.example/1", T0, null);
        h.Breached(n);
        var once = Assert.Single(h.Rank(T0.AddDays(2)));
        h.Notices.Add(n);
        h.Events.AddRange([.. h.Events]);
        Assert.Equal(once, Assert.Single(h.Rank(T0.AddDays(2))));
        Assert.Equal(1, once.Breaches);
    }

    [Fact]
    public void A_breach_event_counts_even_when_the_removal_outcome_says_within_norm()
    {
        // A recomputed outcome (e.g. an earlier offlineSince) may move a removal before the deadline after a
        // breach was published; the breach stays on the record.
        var h = new History();
        var n = h.Case("hoster-a", "http://a.example/1", T0, H(20));
        h.Breached(n);
        var row = Assert.Single(h.Rank(T0.AddDays(2)));
        Assert.Equal(1, row.Breaches);
        Assert.Equal(1, row.RemovedWithinNorm);
    }

    [Fact]
    public void Notices_without_a_hoster_are_ranked_as_unknown()
    {
        var h = new History();
        var n = History.Notice("x", "http://x.example/1", T0);
        n.hosterId = null;
        h.Notices.Add(n);
        Assert.Equal(HosterScorecard.UnknownHoster, Assert.Single(h.Rank(T0.AddHours(1))).Hoster);
    }

    [Fact]
    public void Percentile_is_nearest_rank()
    {
        var values = Enumerable.Range(1, 20).Select(i => TimeSpan.FromSeconds(i)).ToList();
        Assert.Equal(TimeSpan.FromSeconds(10), HosterScorecard.Percentile(values, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(18), HosterScorecard.Percentile(values, 0.9));
        Assert.Equal(TimeSpan.FromSeconds(1), HosterScorecard.Percentile([TimeSpan.FromSeconds(1)], 0.9));
        Assert.Null(HosterScorecard.Percentile([], 0.5));
    }

    [Fact]
    public void The_long_tail_is_folded_into_other_with_pooled_quantiles()
    {
        var h = new History();
        for (var i = 0; i < 5; i++) h.Case("hoster-big", $"http://big.example/{i}", T0, H(1));
        h.Case("hoster-s1", "http://s1.example/1", T0, H(2));
        h.Case("hoster-s2", "http://s2.example/1", T0, H(4));
        h.Case("hoster-s3", "http://s3.example/1", T0, H(30));
        var now = T0.AddDays(2);
        var all = h.Rank(now);
        var bounded = HosterBoard.Bounded(all, 1, label => HosterScorecard.Rank(h.Notices, h.Outcomes, h.Events, now, now.AddDays(-30), 3, label), out var count);
        Assert.Equal(4, count);
        Assert.Equal(["(other)", "hoster-big"], bounded.Select(r => r.Hoster).Order(StringComparer.Ordinal));
        var other = bounded.Single(r => r.Hoster == HosterBoard.Other);
        Assert.Equal(3, other.Notices);
        Assert.Equal(H(4), other.MedianTimeToRemoval); // median of 2 h, 4 h, 30 h — not a mean of medians
        Assert.Equal(2.0 / 3, other.ShareWithinNorm);
        Assert.Same(all, HosterBoard.Bounded(all, 4, _ => throw new InvalidOperationException(), out _));
    }
}
