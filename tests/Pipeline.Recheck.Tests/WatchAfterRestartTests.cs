using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Takedown;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>The recheck state lives in recheck.schedule.v2: the misses counted so far and the watch after removal
/// survive a restart of the recheck service.</summary>
public class WatchAfterRestartTests
{
    [Fact]
    public async Task A_url_removed_before_a_restart_is_still_watched_and_its_re_upload_noticed_after_it()
    {
        await using var h = await StartAsync();
        var minute = TimeSpan.FromMinutes(1);
        var (notice, url) = await NoticedAsync(h, new Hosters.Hoster("restart-host", "www.restart-host.example", "203.0.113.51", 64505, NoticeChannel.EMAIL, "abuse@restart-host.example"),
            url => h.Web.RestoreAt(url, T0 + TimeSpan.FromDays(1))); // gone at 0:20, back a day later

        await h.RunUntilAsync(T0 + 90 * minute, [], () => Task.CompletedTask); // 0:15 online; 1:15, 1:20, 1:25 gone
        Assert.Equal(T0 + 75 * minute, h.Schedule.Find(notice.noticeId)?.removedAt);
        await Until(() => h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.removalConfirmed).Count == 1, TimeSpan.FromSeconds(30), () => "removal confirmed");

        await h.RestartStagesAsync();
        // The restore applies the topic's records in order: wait for the last one, not the first (an entry is visible
        // as soon as its oldest record is read).
        await Until(() => h.Schedule.Find(notice.noticeId) is { removedAt: not null }, TimeSpan.FromSeconds(60),
            () => $"the watched notice restored from recheck.schedule.v2: {h.Schedule.Find(notice.noticeId)?.ToString() ?? "absent"}");
        Assert.Equal(T0 + 75 * minute, h.Schedule.Find(notice.noticeId)!.removedAt);
        Assert.Equal(T0 + TimeSpan.FromDays(1) + 85 * minute, h.Schedule.NextDue); // the confirming check + the watch interval, as before the restart
        Assert.Equal(1, h.Schedule.Watched);

        await h.RunUntilAsync(T0 + TimeSpan.FromDays(1) + 90 * minute, [], () => Task.CompletedTask);
        // Both awaited: the watcher reads each topic on its own, so the request can be seen before the observation.
        await Until(() => h.Watcher.Events<TakedownRequested>(Topics.TakedownRequested).Count > 0
            && h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.reappeared).Count > 0, TimeSpan.FromSeconds(30), () => "the re-appearance and its re-upload takedown");
        var back = Assert.Single(h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.reappeared).DistinctBy(o => o.eventId));
        Assert.Equal((T0 + TimeSpan.FromDays(1) + 85 * minute, ContentStatus.ONLINE, notice.noticeId), (back.observedAt, back.status, back.noticeId));
        var request = Assert.Single(h.Watcher.Events<TakedownRequested>(Topics.TakedownRequested).DistinctBy(r => r.eventId));
        Assert.Equal((true, 1, url, back.observedAt), (request.caseInfo.reupload, request.caseInfo.episode, request.caseKey, request.timeline.receivedAt));
        Assert.NotEqual(notice.noticeId, NoticeComposer.NoticeId(url, request.caseInfo.episode, 0));
        Assert.Equal(0, h.Schedule.Count); // out of the schedule until the re-upload's notice arrives
    }

    [Fact]
    public async Task Misses_counted_before_a_restart_still_count_after_it()
    {
        await using var h = await StartAsync();
        var minute = TimeSpan.FromMinutes(1);
        var (notice, _) = await NoticedAsync(h, new Hosters.Hoster("misses-host", "www.misses-host.example", "203.0.113.52", 64506, NoticeChannel.EMAIL, "abuse@misses-host.example"));

        await h.RunUntilAsync(T0 + 76 * minute, [], () => Task.CompletedTask); // 0:15 online; 1:15 gone (first miss)
        Assert.Equal((1, T0 + 75 * minute), (h.Schedule.Find(notice.noticeId)!.misses, h.Schedule.Find(notice.noticeId)!.firstMissAt));

        await h.RestartStagesAsync();
        // The restore applies the topic's records in order: wait for the last one, not the first.
        await Until(() => h.Schedule.Find(notice.noticeId) is { checks: 2 }, TimeSpan.FromSeconds(60),
            () => $"the entry restored from recheck.schedule.v2 with its two checks: checks {h.Schedule.Find(notice.noticeId)?.checks.ToString() ?? "absent"}");
        var restored = h.Schedule.Find(notice.noticeId)!;
        Assert.Equal((1, T0 + 75 * minute, T0 + 80 * minute), (restored.misses, restored.firstMissAt, restored.nextCheckAt));

        await h.RunUntilAsync(T0 + 90 * minute, [], () => Task.CompletedTask); // 1:20 and 1:25 gone: the third miss in a row
        await Until(() => h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.removalConfirmed).Count > 0, TimeSpan.FromSeconds(30), () => "removal confirmed");
        var removal = Assert.Single(h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.removalConfirmed).DistinctBy(o => o.eventId));
        Assert.Equal((T0 + 85 * minute, T0 + 75 * minute, 3), (removal.observedAt, removal.offlineSince, removal.consecutiveMisses));
        var checks = h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.noticeId == notice.noticeId).DistinctBy(o => o.eventId).ToList();
        Assert.Equal(4, checks.Count); // one observation per check, none twice under two ids across the restart
    }

    /// <summary>The recheck stage on its own, and a notice for a URL at <paramref name="hoster"/> that goes away at 0:20
    /// (and whatever else <paramref name="script"/> makes of it), scheduled.</summary>
    private static async Task<(TakedownNotice Notice, string Url)> NoticedAsync(FlowHarness h, Hosters.Hoster hoster, Action<string>? script = null)
    {
        var url = hoster.Url("r/1.jpg");
        h.Web.RemoveAt(url, T0 + TimeSpan.FromMinutes(20));
        script?.Invoke(url);
        await h.StartStagesAsync([hoster.Host], recheckOnly: true);
        var notice = Hosters.Notice(hoster, url);
        await h.Clients.Publisher.PublishAsync(Topics.NoticesIssued, url, notice);
        await Until(() => h.Schedule.Find(notice.noticeId) is not null, TimeSpan.FromSeconds(30), () => "notice scheduled");
        return (notice, url);
    }
}
