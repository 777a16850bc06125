using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Platform;

namespace Pipeline.Sla.Tests;

public class HosterBoardTests
{
    [Fact]
    public async Task Exports_the_top_hosters_and_folds_the_rest_into_other_and_drops_series_that_leave_the_top()
    {
        var t0 = History.T0;
        var h = new History();
        for (var i = 0; i < 3; i++) h.Case("board-big", $"http://big.example/{i}", t0, TimeSpan.FromHours(1));
        h.Case("board-s1", "http://s1.example/1", t0, TimeSpan.FromHours(30));
        h.Case("board-s2", "http://s2.example/1", t0, null);
        var history = new ScorecardHistory();
        foreach (var n in h.Notices) history.Add(n);
        foreach (var o in h.Outcomes) history.Add(o);
        foreach (var e in h.Events) history.Add(e);
        var time = new Clock(t0.AddDays(2));
        var options = Options.Create(new SlaOptions { ScorecardTopHosters = 1 });
        using var board = new HosterBoard(history, options, time);

        var rows = board.Refresh();
        Assert.Equal(["(other)", "board-big"], rows.Select(r => r.Hoster).Order(StringComparer.Ordinal));
        var text = await Scrape();
        Assert.Contains("pipeline_sla_hoster_notices{hoster=\"board-big\"} 3", text, StringComparison.Ordinal);
        Assert.Contains("pipeline_sla_hoster_notices{hoster=\"(other)\"} 2", text, StringComparison.Ordinal);
        Assert.Contains("pipeline_sla_hoster_overdue_notices{hoster=\"(other)\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("pipeline_sla_hoster_time_to_removal_seconds{hoster=\"board-big\",quantile=\"0.9\"} 3600", text, StringComparison.Ordinal);
        Assert.Contains("pipeline_sla_scorecard_hosters 3", text, StringComparison.Ordinal);

        // board-s1 gets many more notices and takes the only named place: board-big's series go, it joins (other).
        for (var i = 0; i < 5; i++) history.Add(History.Notice("board-s1", $"http://s1.example/more{i}", t0.AddDays(1)));
        board.Refresh();
        text = await Scrape();
        Assert.DoesNotContain("hoster=\"board-big\"", text, StringComparison.Ordinal);
        Assert.Contains("pipeline_sla_hoster_notices{hoster=\"board-s1\"} 6", text, StringComparison.Ordinal);
        Assert.Contains("pipeline_sla_hoster_notices{hoster=\"(other)\"} 4", text, StringComparison.Ordinal);
    }

    private static async Task<string> Scrape()
    {
        using var stream = new MemoryStream();
        await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(stream);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private sealed class Clock(DateTime now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(now);
    }
}
