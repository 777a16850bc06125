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

    private static readonly RecheckSchedule Policy = new(Options);

    private static RecheckEntry Scheduled(RecheckSchedule? policy = null) => (policy ?? Policy).Schedule(null, Fixtures.Notice(Issued), Issued)!;

    /// <summary>A store holding <paramref name="entry"/> as applied state (no broker: entries put as a restore would).</summary>
    private static RecheckStateStore Store(RecheckEntry entry)
    {
        var store = new RecheckStateStore(Microsoft.Extensions.Options.Options.Create(new KafkaOptions()), Microsoft.Extensions.Options.Options.Create(new RetentionOptions()), null!, Microsoft.Extensions.Logging.Abstractions.NullLogger<RecheckStateStore>.Instance);
        store.State.Apply(1, entry.caseKey, entry);
        return store;
    }

    /// <summary>Three misses 5 minutes apart from 15 minutes after the notice: removal confirmed at 15 minutes.</summary>
    private static (RecheckSchedule.Observation Last, RecheckEntry Watched) Removal(RecheckSchedule policy, RecheckEntry entry)
    {
        RecheckSchedule.Observation o = null!;
        for (var i = 0; i < 3; i++)
        {
            o = policy.Record(entry, Removed, Issued.AddMinutes(15 + 5 * i));
            entry = o.Next!;
        }
        return (o, entry);
    }

    [Fact]
    public void A_confirmation_makes_the_url_due_at_once_and_counts_when_the_check_agrees()
    {
        var entry = Policy.Record(Scheduled(), Online, Issued.AddMinutes(15)).Next!;
        var store = Store(entry);
        var at = Issued.AddMinutes(50);
        Assert.Equal(RecheckSchedule.ConfirmationAnswer.Verifying,
            store.Confirm(entry.notice.noticeId, new RecheckSchedule.HosterConfirmation(at, Issued.AddMinutes(40))));
        Assert.Equal(at, store.NextDue);
        var o = Policy.Record(entry, Removed, at, store.Confirmations[entry.notice.noticeId]);
        Assert.Equal((true, ObservationMethod.HOSTER_CONFIRMATION, Issued.AddMinutes(40), 1), (o.RemovalConfirmed, o.Method, o.RemovedAt, o.Misses));
        Assert.True(o.StartsWatch);
    }

    [Fact]
    public void A_claimed_removal_before_the_last_online_check_counts_from_that_check()
    {
        var entry = Policy.Record(Scheduled(), Online, Issued.AddMinutes(15)).Next!;
        var o = Policy.Record(entry, Removed, Issued.AddMinutes(20), new RecheckSchedule.HosterConfirmation(Issued.AddMinutes(20), Issued.AddMinutes(1)));
        Assert.Equal(Issued.AddMinutes(15), o.RemovedAt); // we saw it online at 15 min: the hoster's "1 min" cannot be
    }

    [Fact]
    public void A_confirmation_without_a_time_counts_from_its_receipt()
    {
        var o = Policy.Record(Scheduled(), Removed, Issued.AddMinutes(31), new RecheckSchedule.HosterConfirmation(Issued.AddMinutes(30), null));
        Assert.Equal(Issued.AddMinutes(30), o.RemovedAt);
    }

    [Fact]
    public void A_contradicted_confirmation_is_dropped_and_the_routine_schedule_resumes()
    {
        var entry = Policy.Record(Scheduled(), Online, Issued.AddMinutes(15)).Next!;
        var o = Policy.Record(entry, Online, Issued.AddMinutes(30), new RecheckSchedule.HosterConfirmation(Issued.AddMinutes(30), Issued.AddMinutes(29)));
        Assert.Equal((false, true, ObservationMethod.RECHECK), (o.RemovalConfirmed, o.ConfirmationRejected, o.Method));
        Assert.Null(o.Next!.confirmationReceivedAt);
        Assert.Equal(Issued.AddMinutes(90), o.Next.nextCheckAt);
    }

    [Fact]
    public void An_inconclusive_check_keeps_the_confirmation_pending_and_checks_again_minutes_later()
    {
        var o = Policy.Record(Scheduled(), Forbidden, Issued.AddMinutes(20), new RecheckSchedule.HosterConfirmation(Issued.AddMinutes(20), null));
        Assert.False(o.RemovalConfirmed);
        Assert.NotNull(o.Next!.confirmationReceivedAt);
        Assert.Equal(Issued.AddMinutes(25), o.Next.nextCheckAt);
        Assert.True(Policy.Record(o.Next, Removed, Issued.AddMinutes(25)).RemovalConfirmed);
    }

    [Fact]
    public void Confirmations_for_unknown_or_already_removed_notices_are_told_apart()
    {
        var entry = Scheduled();
        Assert.Equal(RecheckSchedule.ConfirmationAnswer.UnknownNotice, Store(entry).Confirm("nope", new(Issued, null)));
        var (_, watched) = Removal(Policy, entry);
        var store = Store(watched);
        Assert.Equal(RecheckSchedule.ConfirmationAnswer.AlreadyRemoved, store.Confirm(entry.notice.noticeId, new(Issued.AddHours(1), null)));
        Assert.Empty(store.Confirmations);
    }

    [Fact]
    public void After_removal_the_url_is_watched_daily_and_coming_back_is_a_reappearance()
    {
        var (o, entry) = Removal(Policy, Scheduled());
        Assert.Equal((true, Issued.AddMinutes(15)), (o.RemovalConfirmed, entry.removedAt));
        Assert.Equal(Issued.AddMinutes(25).AddDays(1), entry.nextCheckAt);
        Assert.Equal(1, Store(entry).Watched); // not "scheduled" for the RecheckStalled alert: a watched URL is checked daily
        var watched = Policy.Record(entry, Removed, Issued.AddMinutes(25).AddDays(1));
        Assert.Equal((false, false, false, 0, (DateTime?)null), (watched.RemovalConfirmed, watched.Reappeared, watched.Ends, watched.Misses, watched.OfflineSince));
        var back = Policy.Record(watched.Next!, Online, Issued.AddMinutes(25).AddDays(2));
        Assert.True(back.Reappeared);
        Assert.True(back.Ends); // until the re-upload's own notice arrives
    }

    [Fact]
    public void The_watch_ends_after_its_period()
    {
        var policy = new RecheckSchedule(new RecheckOptions { HomeHotline = "nl-hotline", WatchFor = TimeSpan.FromDays(2) });
        var (_, entry) = Removal(policy, Scheduled(policy));
        var day1 = policy.Record(entry, Removed, Issued.AddMinutes(25).AddDays(1));
        Assert.False(day1.Ends);
        Assert.True(policy.Record(day1.Next!, Removed, Issued.AddMinutes(25).AddDays(2)).Ends);
    }

    [Fact]
    public void Without_a_watch_a_confirmed_removal_ends_the_checks()
    {
        var policy = new RecheckSchedule(new RecheckOptions { WatchFor = TimeSpan.Zero });
        var entry = Scheduled(policy);
        RecheckSchedule.Observation o = null!;
        for (var i = 0; i < 3 && entry is not null; i++)
        {
            o = policy.Record(entry, Removed, Issued.AddMinutes(15 + 5 * i));
            entry = o.Next!;
        }
        Assert.True(o.RemovalConfirmed);
        Assert.True(o.Ends);
    }

    [Fact]
    public void A_replayed_notice_does_not_reset_a_watched_url()
    {
        var (_, watched) = Removal(Policy, Scheduled());
        Assert.Null(Policy.Schedule(watched, Fixtures.Notice(Issued), Issued.AddHours(1))); // the same notice read again after a crash
    }

    [Fact]
    public void An_older_episodes_notice_does_not_replace_a_re_uploads()
    {
        var reupload = Fixtures.Notice(Issued.AddDays(3));
        reupload.noticeId = NoticeComposer.NoticeId(reupload.caseKey, 1, 0);
        reupload.episode = 1;
        var entry = Policy.Schedule(null, reupload, Issued.AddDays(3))!;
        Assert.Null(Policy.Schedule(entry, Fixtures.Notice(Issued), Issued.AddDays(3))); // a replay of the first episode
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
        var slots = new PrioritySlots(4);
        var first = await politeness.EnterAsync("a.example", 0, slots, CancellationToken.None);
        first.Dispose();
        var second = politeness.EnterAsync("a.example", 0, slots, CancellationToken.None);
        var other = await politeness.EnterAsync("b.example", 0, slots, CancellationToken.None); // another host is not held up
        Assert.False(second.IsCompleted);
        pacing.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.False(second.IsCompleted);
        pacing.Advance(TimeSpan.FromMilliseconds(1));
        (await second.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
        other.Dispose();
        Assert.Equal(4, slots.Free);
    }

    [Theory]
    [InlineData("PerHostConcurrency", "0", "Recheck:PerHostConcurrency")]
    [InlineData("PerHostConcurrency", "17", "Recheck:PerHostConcurrency")]
    [InlineData("PerHostSpacing", "-00:00:01", "Recheck:PerHostSpacing")]
    [InlineData("HomeHotline", "", "Recheck:HomeHotline")]
    [InlineData("WatchInterval", "00:00:00", "Recheck:WatchInterval")]
    [InlineData("ConfirmationSecret", "short", "Recheck:Confirmations:Secret")]
    [InlineData("Controls", "", "Recheck:Controls")]
    [InlineData("Controls", "ftp://control.example/", "Recheck:Controls:0")]
    [InlineData("MinControlsOnline", "2", "Recheck:MinControlsOnline")]
    [InlineData("Interval", "03:00:00", "Recheck:Interval")]
    public void Settings_are_validated_with_a_message_naming_the_setting_and_the_fix(string setting, string value, string named)
    {
        var o = Valid();
        switch (setting)
        {
            case "PerHostConcurrency": o.PerHostConcurrency = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "PerHostSpacing": o.PerHostSpacing = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "HomeHotline": o.HomeHotline = value; break;
            case "WatchInterval": o.WatchInterval = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "ConfirmationSecret": o.Confirmations.Secret = value; break;
            case "Controls": o.Controls = value.Length == 0 ? [] : [value]; break;
            case "MinControlsOnline": o.MinControlsOnline = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "Interval": o.Interval = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
        }
        var result = new RecheckOptionsValidator().Validate(null, o);
        var message = Assert.Single(result.Failures!);
        Assert.StartsWith(named, message, StringComparison.Ordinal);
        Assert.Contains("Fix:", message, StringComparison.Ordinal);
        Assert.True(new RecheckOptionsValidator().Validate(null, Valid()).Succeeded);
    }

    private static RecheckOptions Valid() => new() { HomeHotline = "nl-hotline", Controls = ["http://control.hotline.example/online"] };
}
