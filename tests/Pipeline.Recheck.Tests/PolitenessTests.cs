using Pipeline.Contracts;
using Pipeline.Platform;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>Per-host politeness against a real HTTP server on loopback that records when each request arrived.</summary>
public class PolitenessTests
{
    [Fact]
    public async Task A_host_with_many_urls_gets_spaced_requests_and_does_not_starve_the_others()
    {
        await using var h = await StartAsync();
        h.Web.Latency = TimeSpan.FromMilliseconds(250); // longer than the spacing: without the per-host limit three would overlap
        var busy = new Hosters.Hoster("busy-host", "www.busy-host.example", "192.0.2.31", 64500, NoticeChannel.EMAIL, "abuse@busy-host.example");
        var quiet = new[]
        {
            new Hosters.Hoster("quiet-a", "img.quiet-a.example", "198.51.100.32", 64501, NoticeChannel.EMAIL, "abuse@quiet-a.example"),
            new Hosters.Hoster("quiet-b", "img.quiet-b.example", "203.0.113.33", 64502, NoticeChannel.EMAIL, "abuse@quiet-b.example"),
        };
        var spacing = TimeSpan.FromMilliseconds(100);
        await h.StartStagesAsync([busy.Host, .. quiet.Select(q => q.Host)], new Dictionary<string, string?>
        {
            ["Recheck:FirstCheckAfter"] = "00:00:00",
            ["Recheck:Concurrency"] = "4",
            ["Recheck:PerHostConcurrency"] = "2",
            ["Recheck:PerHostSpacing"] = "00:00:00.100",
        }, recheckOnly: true);

        // 30 noticed URLs at one hoster, 3 at each of two others, all due at once.
        var notices = Enumerable.Range(0, 30).Select(i => Hosters.Notice(busy, busy.Url($"m/{i}.jpg")))
            .Concat(quiet.SelectMany(q => Enumerable.Range(0, 3).Select(i => Hosters.Notice(q, q.Url($"m/{i}.jpg"))))).ToList();
        await Task.WhenAll(notices.Select(n => h.Clients.Publisher.PublishAsync(Topics.NoticesIssued, n.caseKey, n)));
        await Until(() => h.Web.Hits.Count >= notices.Count, TimeSpan.FromSeconds(60), () => $"{h.Web.Hits.Count} of {notices.Count} checks arrived");

        var hits = h.Web.Hits.ToList();
        Assert.Equal(notices.Count, hits.Count); // one check each: the test clock did not move, so nothing else was due
        Assert.All(hits, hit => Assert.Equal("HEAD", hit.Method)); // status only: nothing of the content is fetched
        var byHost = hits.GroupBy(x => x.Host).ToDictionary(g => g.Key, g => g.OrderBy(x => x.RealTimestamp).ToList());
        Assert.Equal(30, byHost[busy.Host].Count);
        // Starts at one host are spaced, and never more than two requests are in flight there. The exact spacing of each
        // start is proven on a fake clock (RecheckAfterRemovalTests.Politeness_spaces_the_starts_…): measured here at the
        // server's arrival, a loaded machine delays one request and bunches it with the next, so only the whole run is
        // checked, with room for the first request's own delay.
        var arrivals = byHost[busy.Host];
        var span = TimeProvider.System.GetElapsedTime(arrivals[0].RealTimestamp, arrivals[^1].RealTimestamp);
        Assert.True(span >= (arrivals.Count - 1) * spacing - TimeSpan.FromMilliseconds(500), $"30 checks at the busy host arrived within {span.TotalMilliseconds:0} ms");
        Assert.Equal(2, h.Web.MaxInFlight[busy.Host]);
        Assert.All(byHost.Keys, host => Assert.InRange(h.Web.MaxInFlight[host], 1, 2));
        // The quiet hosters are not starved: all their checks arrive before the busy hoster's tenth.
        var tenthBusy = byHost[busy.Host][9].RealTimestamp;
        Assert.All(quiet, q => Assert.All(byHost[q.Host], hit => Assert.True(hit.RealTimestamp < tenthBusy, $"{q.Host} waited behind {busy.Host}")));
    }
}
