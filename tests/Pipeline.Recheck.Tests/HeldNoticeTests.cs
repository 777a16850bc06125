using System.Globalization;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Takedown;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>
/// Issue 12, unapproved contacts and send windows, through takedown → delivery (a real SMTP server on loopback) on the
/// test clock: a contact found by RDAP gets nothing until it is approved on the contact directory
/// (contacts.directory.v1); a notice due outside its recipient's send window goes out when the window opens.
/// </summary>
public class HeldNoticeTests
{
    private static readonly TimeSpan M = TimeSpan.FromMinutes(1), H = TimeSpan.FromHours(1);

    [Fact]
    public async Task An_unapproved_contact_gets_nothing_and_waits_in_review_until_it_is_approved_then_gets_a_notice_with_a_fresh_deadline()
    {
        await using var h = await StartAsync();
        var hoster = new Hosters.Hoster("rdap-host", "www.rdap-host.example", "203.0.113.71", 64509, NoticeChannel.EMAIL, "abuse@rdap-host.example");
        var url = hoster.Url("h/1.jpg");
        await h.StartStagesAsync([hoster.Host], new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:00:00" });
        var request = Hosters.Request(hoster, url, T0 - 10 * M, T0);
        request.hosting.abuseContact = new AbuseContact { address = hoster.Address, channel = NoticeChannel.EMAIL, foundVia = "rdap:ripe", approved = false };
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, url, request);
        var noticeId = NoticeComposer.NoticeId(url, 0, 0);

        await Until(() => h.IsHeld(noticeId), TimeSpan.FromSeconds(30), () => "the notice held for approval");
        h.Held!.State.TryFind(noticeId, out var held, out _);
        Assert.Equal(HeldFor.APPROVAL, held.heldFor);
        Assert.Equal("contact not approved: abuse@rdap-host.example found via rdap:ripe", held.reason);
        await h.RunUntilAsync(T0 + 6 * H, [], () => Task.CompletedTask);
        Assert.Empty(h.Smtp.Messages); // six hours later: nothing sent, no reminder either
        Assert.Empty(h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued));
        Assert.True(h.IsHeld(noticeId));
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(h.BaseUrl + "/metrics");
        // Exported (its value is process-wide, and other tests' stages run in this process too: the count is asserted on the state).
        Assert.Contains("pipeline_takedown_held_notices{held_for=\"approval\"}", metrics, StringComparison.Ordinal);
        Assert.Equal(1, h.Held.State.Entries.Count(e => e.Value.releasedAt is null && e.Value.heldFor == HeldFor.APPROVAL));

        // An analyst approves the address (as `pipeline contacts approve` writes it).
        var approvedAt = h.Now;
        var entry = new ContactDirectoryEntry
        {
            eventId = EventIds.Derive("contact", hoster.Address, "1"), contactId = ContactDirectory.IdOf(NoticeChannel.EMAIL, hoster.Address),
            address = hoster.Address, channel = NoticeChannel.EMAIL, approved = true, approvedBy = "analyst-7", approvedAt = approvedAt,
            aliases = [], domains = [], police = false, source = ContactSource.CONSOLE, updatedAt = approvedAt, updatedBy = "analyst-7",
        };
        await h.Clients.Publisher.PublishAsync(Topics.ContactsDirectory, entry.contactId, entry);
        await Until(() => h.Smtp.Messages.Count == 1 && h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).Count > 0, TimeSpan.FromSeconds(30),
            () => $"the notice issued and sent after approval; held: {h.IsHeld(noticeId)}");
        var issued = Assert.Single(h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).DistinctBy(n => n.eventId));
        Assert.Equal(noticeId, issued.noticeId);
        Assert.Equal((approvedAt, approvedAt + 24 * H), (issued.issuedAt, issued.deadline)); // the hoster was never told before: 24 h from now
        h.Held.State.TryFind(noticeId, out var released, out _);
        Assert.Equal((approvedAt, "analyst-7"), (released.releasedAt, released.releasedBy));
    }

    [Fact]
    public async Task A_notice_due_at_two_on_a_saturday_goes_out_on_monday_at_the_windows_start_and_a_deadline_outside_the_window_is_not_moved()
    {
        await using var h = await StartAsync();
        var saturday = new DateTime(2026, 11, 7, 2, 0, 0, DateTimeKind.Utc); // 03:00 in Amsterdam
        var monday = new DateTime(2026, 11, 9, 8, 0, 0, DateTimeKind.Utc);   // 09:00 in Amsterdam (UTC+1 in November)
        h.Clock.SetUtcNow(new DateTimeOffset(saturday));
        var hoster = new Hosters.Hoster("office-host", "www.office-host.example", "192.0.2.72", 64510, NoticeChannel.EMAIL, "abuse@office-host.example");
        var url = hoster.Url("w/1.jpg");
        await h.StartStagesAsync([hoster.Host], new Dictionary<string, string?>
        {
            ["Takedown:Delivery:BatchWindow"] = "00:00:00",
            ["Takedown:SendWindow:Enabled"] = "true",
            ["Takedown:SendWindow:Days:0"] = "Mon", ["Takedown:SendWindow:Days:1"] = "Tue", ["Takedown:SendWindow:Days:2"] = "Wed",
            ["Takedown:SendWindow:Days:3"] = "Thu", ["Takedown:SendWindow:Days:4"] = "Fri",
            ["Takedown:SendWindow:Opens"] = "09:00", ["Takedown:SendWindow:Closes"] = "17:00", ["Takedown:SendWindow:TimeZone"] = "Europe/Amsterdam",
        });
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, url, Hosters.Request(hoster, url, saturday - 30 * M, saturday));
        var noticeId = NoticeComposer.NoticeId(url, 0, 0);
        await Until(() => h.IsHeld(noticeId), TimeSpan.FromSeconds(30), () => "the notice held for the send window");
        h.Held!.State.TryFind(noticeId, out var held, out _);
        Assert.Equal((HeldFor.SEND_WINDOW, monday), (held.heldFor, held.sendAt));

        await h.AdvanceToAsync(monday - M);
        Assert.Empty(h.Smtp.Messages);
        await h.AdvanceToAsync(monday);
        await Until(() => h.Smtp.Messages.Count == 1 && h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).Count > 0, TimeSpan.FromSeconds(30),
            () => "the notice issued and sent when the window opened");
        var issued = Assert.Single(h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).DistinctBy(n => n.eventId));
        // Issued when it goes out; 24 h from then (the hoster could not act on a notice it had not received).
        Assert.Equal((noticeId, monday, monday + 24 * H), (issued.noticeId, issued.issuedAt, issued.deadline));
        Assert.Contains("This desk sends notices Mon–Fri 09:00–17:00 Europe/Amsterdam.", issued.text, StringComparison.Ordinal);
        NoticeDelivery? Sent() => h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.noticeId == noticeId && d.status == DeliveryStatus.SENT).FirstOrDefault();
        await Until(() => Sent() is not null, TimeSpan.FromSeconds(30), () => "the SENT delivery record");
        var delivery = Sent()!;
        Assert.Equal(monday, delivery.at);
        Assert.Equal(DayOfWeek.Monday, delivery.at.DayOfWeek);
        Assert.Equal("09:00", TimeZoneInfo.ConvertTimeFromUtc(delivery.at, TimeZoneInfo.FindSystemTimeZoneById("Europe/Amsterdam")).ToString("HH:mm", CultureInfo.InvariantCulture));

        // Friday 16:00 in Amsterdam, within the window: sent at once, and its deadline, Saturday 16:00, is outside the
        // window and stays there (a window governs when we send, not when the hoster must act).
        var friday = new DateTime(2026, 11, 13, 15, 0, 0, DateTimeKind.Utc);
        await h.AdvanceToAsync(friday);
        var other = hoster.Url("w/2.jpg");
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, other, Hosters.Request(hoster, other, friday - 30 * M, friday));
        var otherId = NoticeComposer.NoticeId(other, 0, 0);
        await Until(() => h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued, n => n.noticeId == otherId).Count > 0, TimeSpan.FromSeconds(30), () => "Friday's notice issued");
        var fridays = h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued, n => n.noticeId == otherId)[0];
        Assert.Equal((friday, friday + 24 * H), (fridays.issuedAt, fridays.deadline));
        Assert.False(h.IsHeld(otherId));
    }

    [Theory]
    [InlineData("2026-11-07T02:00:00Z", "2026-11-09T08:00:00Z")] // Saturday night → Monday 09:00 local
    [InlineData("2026-11-09T10:00:00Z", "2026-11-09T10:00:00Z")] // Monday 11:00 local: open
    [InlineData("2026-11-09T16:30:00Z", "2026-11-10T08:00:00Z")] // Monday 17:30 local: after hours → Tuesday 09:00
    [InlineData("2026-12-24T17:00:00Z", "2026-12-28T08:00:00Z")] // Thursday evening before Christmas (a holiday) → Monday
    [InlineData("2026-03-27T23:00:00Z", "2026-03-30T07:00:00Z")] // Saturday before the spring clock change → Monday 09:00 CEST
    public void The_window_opens_at_the_next_working_hour_in_the_recipients_time_zone(string at, string opens)
    {
        var (window, problems) = ParsedWindow.Parse(new SendWindow
        {
            days = ["Mon", "Tue", "Wed", "Thu", "Fri"], opens = "09:00", closes = "17:00", timeZone = "Europe/Amsterdam", holidays = ["2026-12-25"],
        }, "Takedown:SendWindow");
        Assert.Empty(problems);
        Assert.Equal(DateTime.Parse(opens, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal), window!.NextOpen(DateTime.Parse(at, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal)));
    }
}
