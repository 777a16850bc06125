using Pipeline.Contracts;
using Pipeline.Platform;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>
/// Issue 12, stale hoster: recheck reads notices.issued.v1 and notices.deliveries.v1 side by side, so it may read a
/// notice's MOVED delivery record (the host moved before the notice left) before the notice itself. The MOVED mark it
/// keeps makes the notice, when it comes, a replay: the URL is never checked for a notice its hoster never got. On the
/// embedded cluster, the recheck stage alone, on the test clock.
/// </summary>
public class MovedBeforeNoticeTests
{
    private static readonly TimeSpan H = TimeSpan.FromHours(1);

    [Fact]
    public async Task A_notice_whose_MOVED_record_was_read_first_is_never_checked()
    {
        await using var h = await StartAsync();
        var movedHoster = new Hosters.Hoster("moved-host", "www.moved-host.example", "198.51.100.81", 64502, NoticeChannel.EMAIL, "abuse@moved-host.example");
        var kept = new Hosters.Hoster("kept-host", "www.kept-host.example", "198.51.100.82", 64503, NoticeChannel.EMAIL, "abuse@kept-host.example");
        await h.StartStagesAsync([movedHoster.Host, kept.Host], recheckOnly: true);
        var notice = Hosters.Notice(movedHoster, movedHoster.Url("m/1.jpg"));
        var control = Hosters.Notice(kept, kept.Url("k/1.jpg"));

        var moved = new NoticeDelivery
        {
            eventId = EventIds.Derive("notice-delivery", notice.noticeId, "1"), noticeId = notice.noticeId, caseKey = notice.caseKey, hosterId = notice.hosterId,
            channel = NoticeChannel.EMAIL, address = movedHoster.Address, attempt = 1, status = DeliveryStatus.MOVED,
            detail = "not sent: the re-lookup before sending found the host moved (country: now hoster-de, DE)", at = T0, notice = notice,
            movedTo = new HostingInfo
            {
                resolved = true, ips = ["203.0.113.20"], asn = 64510, hosterId = "hoster-de", country = "DE", resolvedAt = T0, sources = ["dns"], countries = ["DE"],
            },
        };
        await h.Clients.Publisher.PublishAsync(Topics.NoticeDeliveries, notice.caseKey, moved);
        await Until(() => h.Schedule.State.TryFind(notice.caseKey, out var e, out _) && RecheckSchedule.Moved(e), TimeSpan.FromSeconds(30),
            () => "the MOVED mark in recheck's state");

        // The notice comes after its MOVED record; the control notice follows it on the same partition, so once the control
        // is scheduled the notice has been read.
        var at = await h.Clients.Publisher.PublishAsync(Topics.NoticesIssued, notice.caseKey, notice);
        await h.Clients.Publisher.PublishAsync(Topics.NoticesIssued, control.caseKey, control, at.Partition.Value);
        await Until(() => h.Schedule.Find(control.noticeId) is not null, TimeSpan.FromSeconds(30), () => "the control notice scheduled");
        Assert.Null(h.Schedule.Find(notice.noticeId));

        // Past the first check and a few routine ones: the control URL is checked, the moved notice's never.
        await h.RunUntilAsync(T0 + 3 * H, [], () => Task.CompletedTask);
        await Until(() => h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.noticeId == control.noticeId).Count >= 3, TimeSpan.FromSeconds(30),
            () => "three checks of the control URL");
        Assert.Empty(h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.noticeId == notice.noticeId));
        Assert.DoesNotContain(h.Web.Hits, hit => hit.Host.Contains("moved-host", StringComparison.OrdinalIgnoreCase));

        // The mark is kept across a restart (it is state, not memory) and still stops the notice when it is read again.
        await h.RestartStagesAsync();
        await h.Clients.Publisher.PublishAsync(Topics.NoticesIssued, notice.caseKey, notice); // replayed
        await h.RunUntilAsync(T0 + 5 * H, [], () => Task.CompletedTask);
        Assert.True(h.Schedule.State.TryFind(notice.caseKey, out var mark, out _) && RecheckSchedule.Moved(mark), "the MOVED mark after the restart");
        Assert.Equal(notice.noticeId, mark.notice.noticeId);
        Assert.Empty(h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.noticeId == notice.noticeId));
    }
}
