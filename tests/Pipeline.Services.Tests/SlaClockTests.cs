using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Sla;

namespace Pipeline.Services.Tests;

public class SlaClockTests
{
    // Report received at T0, notice issued one hour later, deadline 24 hours after the notice.
    private static readonly DateTime Issued = Fixtures.T0.AddHours(1);
    private static readonly TakedownNotice Notice = Fixtures.Notice(Issued);
    private static readonly DateTime Decided = Issued.AddDays(2);

    private static NoticeOutcome Outcome(DateTime observedAt, DateTime? offlineSince) =>
        SlaClock.Outcome(Notice, Fixtures.Removal(Notice, observedAt, offlineSince), Decided);

    [Fact]
    public void Time_to_removal_is_measured_from_notice_and_from_report()
    {
        var outcome = Outcome(Issued.AddHours(3).AddMinutes(10), Issued.AddHours(3));
        Assert.Equal(Issued.AddHours(3), outcome.removedAt);
        Assert.Equal(3 * 3_600_000L, outcome.timeToRemovalFromNoticeMs);
        Assert.Equal(4 * 3_600_000L, outcome.timeToRemovalFromReportMs);
        Assert.True(outcome.withinNorm);
    }

    [Fact]
    public void Outcome_records_the_full_timeline_and_notice()
    {
        var outcome = Outcome(Issued.AddHours(3).AddMinutes(10), Issued.AddHours(3));
        Assert.Equal(Fixtures.T0, outcome.timeline.receivedAt);
        Assert.Equal(Issued, outcome.timeline.noticeSentAt);
        Assert.Equal(Issued.AddHours(3), outcome.timeline.removalObservedAt);
        Assert.Equal(Notice.noticeId, outcome.noticeId);
        Assert.Equal(Notice.caseKey, outcome.caseKey);
        Assert.Equal("hoster-a", outcome.hosterId);
        Assert.Equal(Notice.deadline, outcome.deadline);
        Assert.Equal(Decided, outcome.decidedAt);
    }

    [Fact]
    public void Removal_exactly_at_the_deadline_is_within_the_norm() =>
        Assert.True(Outcome(Notice.deadline.AddMinutes(10), Notice.deadline).withinNorm);

    [Fact]
    public void Removal_one_millisecond_after_the_deadline_is_not()
    {
        var outcome = Outcome(Notice.deadline.AddMinutes(10), Notice.deadline.AddMilliseconds(1));
        Assert.False(outcome.withinNorm);
        Assert.Equal(24 * 3_600_000L + 1, outcome.timeToRemovalFromNoticeMs);
    }

    [Fact]
    public void Removal_before_the_notice_counts_as_at_the_notice()
    {
        var outcome = Outcome(Issued.AddMinutes(20), Issued.AddMinutes(-30));
        Assert.Equal(Issued, outcome.removedAt);
        Assert.Equal(0L, outcome.timeToRemovalFromNoticeMs);
        Assert.Equal(3_600_000L, outcome.timeToRemovalFromReportMs);
        Assert.True(outcome.withinNorm);
    }

    [Fact]
    public void Offline_since_is_preferred_over_the_observation_time() =>
        Assert.Equal(Issued.AddHours(2), Outcome(Issued.AddHours(5), Issued.AddHours(2)).removedAt);

    [Fact]
    public void Without_offline_since_the_observation_time_counts() =>
        Assert.Equal(Issued.AddHours(5), Outcome(Issued.AddHours(5), null).removedAt);

    [Fact]
    public void Event_id_is_deterministic_per_notice()
    {
        var a = Outcome(Issued.AddHours(5), Issued.AddHours(2));
        var b = SlaClock.Outcome(Notice, Fixtures.Removal(Notice, Issued.AddHours(6), Issued.AddHours(3)), Decided.AddDays(1));
        Assert.Equal(a.eventId, b.eventId);
        Assert.Equal(EventIds.Derive("outcome", Notice.noticeId), a.eventId);
        Assert.NotEqual(a.eventId, SlaClock.Outcome(Fixtures.Notice(Issued, "http://other.example/1"), Fixtures.Removal(Notice, Issued, null), Decided).eventId);
    }

    [Fact]
    public void Hoster_confirmation_is_named_in_the_verification()
    {
        var removal = Fixtures.Removal(Notice, Issued.AddHours(2), null);
        removal.method = ObservationMethod.HOSTER_CONFIRMATION;
        Assert.StartsWith("confirmed by the hoster; a check agreed", SlaClock.Outcome(Notice, removal, Decided).verification, StringComparison.Ordinal);
    }

    [Fact]
    public void Recheck_verification_names_the_misses() =>
        Assert.StartsWith("3 consecutive failed checks (REMOVED)", Outcome(Issued.AddHours(2), Issued.AddHours(1)).verification, StringComparison.Ordinal);

    [Fact]
    public void Removal_event_within_the_norm()
    {
        var outcome = Outcome(Issued.AddHours(3).AddMinutes(10), Issued.AddHours(3));
        var e = SlaClock.RemovalEvent(outcome);
        Assert.Equal(SlaEventKind.REMOVED_WITHIN_NORM, e.kind);
        Assert.Equal(outcome.removedAt, e.occurredAt);
        Assert.Equal(Notice.deadline, e.deadline);
        Assert.Equal(Notice.noticeId, e.noticeId);
        Assert.Equal(Notice.caseKey, e.caseKey);
        Assert.Equal("hoster-a", e.hosterId);
        Assert.Equal(EventIds.Derive("sla-removed", Notice.noticeId), e.eventId);
        Assert.Equal("removed 3:00:00 after the notice", e.detail);
    }

    [Fact]
    public void Removal_event_after_the_deadline() =>
        Assert.Equal(SlaEventKind.REMOVED_AFTER_DEADLINE, SlaClock.RemovalEvent(Outcome(Notice.deadline.AddHours(1), null)).kind);

    [Fact]
    public void Breach_occurs_at_the_deadline()
    {
        var now = Notice.deadline.AddMinutes(1);
        var breach = SlaClock.Breach(Notice, now);
        Assert.Equal(SlaEventKind.DEADLINE_BREACHED, breach.kind);
        Assert.Equal(Notice.deadline, breach.occurredAt);
        Assert.Equal(Notice.deadline, breach.deadline);
        Assert.Equal(Notice.noticeId, breach.noticeId);
        Assert.Equal(Notice.caseKey, breach.caseKey);
        Assert.Equal("hoster-a", breach.hosterId);
        Assert.Equal(EventIds.Derive("sla-breach", Notice.noticeId), breach.eventId);
        Assert.NotEqual(SlaClock.RemovalEvent(Outcome(Issued.AddHours(1), null)).eventId, breach.eventId);
    }
}
