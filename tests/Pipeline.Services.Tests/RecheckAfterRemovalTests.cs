using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Recheck;
using Pipeline.Sla;
using Pipeline.Takedown;

namespace Pipeline.Services.Tests;

/// <summary>Hoster confirmations, the watch after removal and the re-upload it raises, as pure decisions.</summary>
public class RecheckAfterRemovalTests
{
    private static readonly DateTime Issued = Fixtures.T0;
    private static readonly RecheckOptions Options = new() { HomeHotline = "nl-hotline" }; // watched daily for 30 days
    private static readonly ProbeResult Online = new(ContentStatus.ONLINE, 200);
    private static readonly ProbeResult Removed = new(ContentStatus.REMOVED, 404);
    private static readonly ProbeResult Forbidden = new(ContentStatus.UNKNOWN, 403);

    private static (RecheckSchedule Schedule, RecheckSchedule.Item Item) Scheduled()
    {
        var schedule = new RecheckSchedule(Options);
        schedule.Add(Fixtures.Notice(Issued), partition: 1, now: Issued);
        return (schedule, Assert.Single(schedule.TakeDue(DateTime.MaxValue, 10)));
    }

    private static RecheckSchedule.Item Next(RecheckSchedule schedule, DateTime at) => Assert.Single(schedule.TakeDue(at, 10));

    [Fact]
    public void A_confirmation_makes_the_url_due_at_once_and_counts_when_the_check_agrees()
    {
        var (schedule, item) = Scheduled();
        schedule.Record(item, Online, Issued.AddMinutes(15));
        var at = Issued.AddMinutes(50);
        Assert.Equal(RecheckSchedule.ConfirmationAnswer.Verifying,
            schedule.Confirm(item.Notice.noticeId, new RecheckSchedule.HosterConfirmation(at, Issued.AddMinutes(40))));
        Assert.Equal(at, schedule.NextDue);
        var o = schedule.Record(Next(schedule, at), Removed, at);
        Assert.Equal((true, ObservationMethod.HOSTER_CONFIRMATION, Issued.AddMinutes(40), 1), (o.RemovalConfirmed, o.Method, o.RemovedAt, o.Misses));
        Assert.True(o.StartsWatch);
    }

    [Fact]
    public void A_claimed_removal_before_the_last_online_check_counts_from_that_check()
    {
        var (schedule, item) = Scheduled();
        schedule.Record(item, Online, Issued.AddMinutes(15));
        schedule.Confirm(item.Notice.noticeId, new RecheckSchedule.HosterConfirmation(Issued.AddMinutes(20), Issued.AddMinutes(1)));
        var o = schedule.Record(Next(schedule, Issued.AddMinutes(20)), Removed, Issued.AddMinutes(20));
        Assert.Equal(Issued.AddMinutes(15), o.RemovedAt); // we saw it online at 15 min: the hoster's "1 min" cannot be
    }

    [Fact]
    public void A_confirmation_without_a_time_counts_from_its_receipt()
    {
        var (schedule, item) = Scheduled();
        schedule.Confirm(item.Notice.noticeId, new RecheckSchedule.HosterConfirmation(Issued.AddMinutes(30), null));
        var o = schedule.Record(item, Removed, Issued.AddMinutes(31));
        Assert.Equal(Issued.AddMinutes(30), o.RemovedAt);
    }

    [Fact]
    public void A_contradicted_confirmation_is_dropped_and_the_routine_schedule_resumes()
    {
        var (schedule, item) = Scheduled();
        schedule.Record(item, Online, Issued.AddMinutes(15));
        schedule.Confirm(item.Notice.noticeId, new RecheckSchedule.HosterConfirmation(Issued.AddMinutes(30), Issued.AddMinutes(29)));
        var o = schedule.Record(Next(schedule, Issued.AddMinutes(30)), Online, Issued.AddMinutes(30));
        Assert.Equal((false, true, ObservationMethod.RECHECK), (o.RemovalConfirmed, o.ConfirmationRejected, o.Method));
        Assert.Null(item.Confirmation);
        Assert.Equal(Issued.AddMinutes(90), schedule.NextDue);
    }

    [Fact]
    public void An_inconclusive_check_keeps_the_confirmation_pending_and_checks_again_minutes_later()
    {
        var (schedule, item) = Scheduled();
        schedule.Confirm(item.Notice.noticeId, new RecheckSchedule.HosterConfirmation(Issued.AddMinutes(20), null));
        var o = schedule.Record(item, Forbidden, Issued.AddMinutes(20));
        Assert.False(o.RemovalConfirmed);
        Assert.NotNull(item.Confirmation);
        Assert.Equal(Issued.AddMinutes(25), schedule.NextDue);
        Assert.True(schedule.Record(Next(schedule, Issued.AddMinutes(25)), Removed, Issued.AddMinutes(25)).RemovalConfirmed);
    }

    [Fact]
    public void Confirmations_for_unknown_or_already_removed_notices_are_told_apart()
    {
        var (schedule, item) = Scheduled();
        Assert.Equal(RecheckSchedule.ConfirmationAnswer.UnknownNotice, schedule.Confirm("nope", new(Issued, null)));
        for (var i = 0; i < 3; i++) schedule.Record(i == 0 ? item : Next(schedule, DateTime.MaxValue), Removed, Issued.AddMinutes(15 + 5 * i));
        Assert.Equal(RecheckSchedule.ConfirmationAnswer.AlreadyRemoved, schedule.Confirm(item.Notice.noticeId, new(Issued.AddHours(1), null)));
    }

    [Fact]
    public void After_removal_the_url_is_watched_daily_and_coming_back_is_a_reappearance()
    {
        var (schedule, item) = Scheduled();
        RecheckSchedule.Observation o = null!;
        for (var i = 0; i < 3; i++) o = schedule.Record(i == 0 ? item : Next(schedule, DateTime.MaxValue), Removed, Issued.AddMinutes(15 + 5 * i));
        Assert.Equal((true, Issued.AddMinutes(15)), (o.RemovalConfirmed, item.RemovedAt));
        Assert.Equal(Issued.AddMinutes(25).AddDays(1), schedule.NextDue);
        Assert.Equal(1, schedule.Watched); // not "scheduled" for the RecheckStalled alert: a watched URL is checked daily
        var watched = schedule.Record(Next(schedule, Issued.AddMinutes(25).AddDays(1)), Removed, Issued.AddMinutes(25).AddDays(1));
        Assert.Equal((false, false, false, 0, (DateTime?)null), (watched.RemovalConfirmed, watched.Reappeared, watched.Ends, watched.Misses, watched.OfflineSince));
        var back = schedule.Record(Next(schedule, Issued.AddMinutes(25).AddDays(2)), Online, Issued.AddMinutes(25).AddDays(2));
        Assert.True(back.Reappeared);
        Assert.Equal((0, 0), (schedule.Count, schedule.Watched)); // until the re-upload's own notice arrives
    }

    [Fact]
    public void The_watch_ends_after_its_period()
    {
        var options = new RecheckOptions { HomeHotline = "nl-hotline", WatchFor = TimeSpan.FromDays(2) };
        var schedule = new RecheckSchedule(options);
        schedule.Add(Fixtures.Notice(Issued), 0, Issued);
        for (var i = 0; i < 3; i++) schedule.Record(Next(schedule, DateTime.MaxValue), Removed, Issued.AddMinutes(15 + 5 * i));
        Assert.False(schedule.Record(Next(schedule, DateTime.MaxValue), Removed, Issued.AddMinutes(25).AddDays(1)).Ends);
        Assert.True(schedule.Record(Next(schedule, DateTime.MaxValue), Removed, Issued.AddMinutes(25).AddDays(2)).Ends);
        Assert.Equal(0, schedule.Count);
    }

    [Fact]
    public void Without_a_watch_a_confirmed_removal_ends_the_checks()
    {
        var schedule = new RecheckSchedule(new RecheckOptions { WatchFor = TimeSpan.Zero });
        schedule.Add(Fixtures.Notice(Issued), 0, Issued);
        RecheckSchedule.Observation o = null!;
        for (var i = 0; i < 3; i++) o = schedule.Record(Next(schedule, DateTime.MaxValue), Removed, Issued.AddMinutes(15 + 5 * i));
        Assert.True(o.Ends);
        Assert.Equal(0, schedule.Count);
    }

    [Fact]
    public void A_watched_notice_restored_from_the_state_topic_is_watched_again()
    {
        var notice = Fixtures.Notice(Issued);
        notice.timeline.removalObservedAt = Issued.AddHours(2);
        var schedule = new RecheckSchedule(Options);
        schedule.Add(notice, 0, Issued.AddHours(3));
        Assert.Equal(Issued.AddHours(2).AddDays(1), schedule.NextDue);
        Assert.True(Next(schedule, DateTime.MaxValue).Watching);
    }

    [Fact]
    public void A_replayed_notice_does_not_reset_a_watched_url()
    {
        var (schedule, item) = Scheduled();
        for (var i = 0; i < 3; i++) schedule.Record(i == 0 ? item : Next(schedule, DateTime.MaxValue), Removed, Issued.AddMinutes(15 + 5 * i));
        Assert.False(schedule.Add(Fixtures.Notice(Issued), 1, Issued.AddHours(1))); // the same notice read again after a crash
        Assert.Equal((1, Issued.AddMinutes(25).AddDays(1)), (schedule.Watched, schedule.NextDue));
    }

    [Fact]
    public void An_older_episodes_notice_does_not_replace_a_re_uploads()
    {
        var schedule = new RecheckSchedule(Options);
        var reupload = Fixtures.Notice(Issued.AddDays(3));
        reupload.noticeId = NoticeComposer.NoticeId(reupload.caseKey, 1, 0);
        reupload.episode = 1;
        schedule.Add(reupload, 0, Issued.AddDays(3));
        schedule.Add(Fixtures.Notice(Issued), 0, Issued.AddDays(3)); // a replay of the first episode
        Assert.Equal(reupload.noticeId, Next(schedule, DateTime.MaxValue).Notice.noticeId);
    }

    [Fact]
    public void A_re_upload_asks_for_a_takedown_of_the_next_episode_with_ids_from_the_removed_notice()
    {
        var removed = Fixtures.Notice(Issued);
        var seen = Issued.AddDays(3);
        var request = Reupload.Request(removed, seen, "nl-hotline");
        Assert.Equal(request.eventId, Reupload.Request(removed, seen.AddHours(1), "nl-hotline").eventId); // replays ask for the same takedown
        Assert.Equal((true, 1, removed.caseKey, seen, seen), (request.caseInfo.reupload, request.caseInfo.episode, request.caseKey, request.timeline.receivedAt, request.requestedAt));
        Assert.Equal((ReporterType.CRAWLER, "nl-hotline", removed.noticeId), (request.report.reporterType, request.report.sourceHotline, request.report.sourceReference));
        Assert.Equal((removed.recipient.address, removed.recipient.channel, removed.hosterId), (request.hosting.abuseContact.address, request.hosting.abuseContact.channel, request.hosting.hosterId));

        var notice = new NoticeComposer(new TakedownOptions { SenderOrganisation = "Example Hotline", SenderContact = "notices@hotline.example", SenderDomain = "hotline.example" })
            .Compose(request, seen);
        Assert.Equal(NoticeComposer.NoticeId(removed.caseKey, 1, 0), notice.noticeId);
        Assert.NotEqual(removed.noticeId, notice.noticeId);
        Assert.Equal((1, NoticeKind.FIRST, removed.recipient.address), (notice.episode, notice.kind, notice.recipient.address));
    }

    [Fact]
    public void Notice_ids_of_episode_zero_are_unchanged_and_each_episode_has_its_own()
    {
        Assert.Equal(EventIds.Derive("notice", Fixtures.CaseKey, "0"), NoticeComposer.NoticeId(Fixtures.CaseKey, 0, 0));
        var ids = new[] { (0, 0), (0, 1), (1, 0), (1, 1), (2, 0) }.Select(x => NoticeComposer.NoticeId(Fixtures.CaseKey, x.Item1, x.Item2)).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public void The_sla_names_a_re_upload_and_the_removal_it_undoes()
    {
        var first = Fixtures.Notice(Issued);
        first.timeline.removalObservedAt = Issued.AddHours(2);
        var second = Fixtures.Notice(Issued.AddDays(3));
        second.noticeId = NoticeComposer.NoticeId(second.caseKey, 1, 0);
        second.episode = 1;
        second.timeline.receivedAt = Issued.AddDays(3);
        var e = SlaClock.Reupload(second, first);
        Assert.Equal((SlaEventKind.REUPLOAD, second.noticeId, Issued.AddDays(3), second.deadline), (e.kind, e.noticeId, e.occurredAt, e.deadline));
        Assert.Contains(first.noticeId, e.detail, StringComparison.Ordinal);
        Assert.Equal(EventIds.Derive("sla-reupload", second.noticeId), SlaClock.Reupload(second, null).eventId);
    }

    [Fact]
    public async Task Politeness_spaces_the_starts_at_one_host_and_lets_other_hosts_through()
    {
        var pacing = new FakeTimeProvider(new DateTimeOffset(Issued));
        var politeness = new HostPoliteness(new RecheckOptions { PerHostConcurrency = 1, PerHostSpacing = TimeSpan.FromSeconds(2) }, pacing);
        using var slots = new SemaphoreSlim(4, 4);
        var first = await politeness.EnterAsync("a.example", slots, CancellationToken.None);
        first.Dispose();
        var second = politeness.EnterAsync("a.example", slots, CancellationToken.None);
        var other = await politeness.EnterAsync("b.example", slots, CancellationToken.None); // another host is not held up
        Assert.False(second.IsCompleted);
        pacing.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.False(second.IsCompleted);
        pacing.Advance(TimeSpan.FromMilliseconds(1));
        (await second.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
        other.Dispose();
        Assert.Equal(4, slots.CurrentCount);
    }

    [Theory]
    [InlineData("PerHostConcurrency", "0", "Recheck:PerHostConcurrency")]
    [InlineData("PerHostConcurrency", "17", "Recheck:PerHostConcurrency")]
    [InlineData("PerHostSpacing", "-00:00:01", "Recheck:PerHostSpacing")]
    [InlineData("HomeHotline", "", "Recheck:HomeHotline")]
    [InlineData("WatchInterval", "00:00:00", "Recheck:WatchInterval")]
    [InlineData("ConfirmationSecret", "short", "Recheck:Confirmations:Secret")]
    public void Settings_are_validated_with_a_message_naming_the_setting_and_the_fix(string setting, string value, string named)
    {
        var o = new RecheckOptions { HomeHotline = "nl-hotline" };
        switch (setting)
        {
            case "PerHostConcurrency": o.PerHostConcurrency = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "PerHostSpacing": o.PerHostSpacing = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "HomeHotline": o.HomeHotline = value; break;
            case "WatchInterval": o.WatchInterval = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "ConfirmationSecret": o.Confirmations.Secret = value; break;
        }
        var result = new RecheckOptionsValidator().Validate(null, o);
        var message = Assert.Single(result.Failures!);
        Assert.StartsWith(named, message, StringComparison.Ordinal);
        Assert.Contains("Fix:", message, StringComparison.Ordinal);
        Assert.True(new RecheckOptionsValidator().Validate(null, new RecheckOptions { HomeHotline = "nl-hotline" }).Succeeded);
    }
}
