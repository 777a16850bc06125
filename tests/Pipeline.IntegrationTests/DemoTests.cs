using System.Text.RegularExpressions;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.TestSupport;

namespace Pipeline.IntegrationTests;

/// <summary>`pipeline demo` as a newcomer runs it: a process on the embedded default, /metrics answering while it
/// runs, and a summary with notices, police referrals and partner forwards.</summary>
public sealed partial class DemoTests
{
    [Fact]
    public async Task The_demo_serves_metrics_while_it_runs_and_ends_with_a_summary_where_every_report_reached_an_outcome()
    {
        await using var demo = ServiceProcess.Start("Pipeline.Cli", new Dictionary<string, string>(), assembly: "pipeline",
            // --drain is only a ceiling: --stop-when-done ends the demo as soon as every report has an outcome, so a slow
            // (loaded) machine gets the time it needs and a fast one does not wait.
            arguments: ["demo", "--rate", "100", "--duration", "5", "--drain", "600", "--speed", "7200", "--raw-bench", "5000", "--stop-when-done", "--port", "0", "--console-port", "0"]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        string? metrics = null;
        // Generous: on a loaded 2-core machine the demo has taken over 20 s only to have every stage consuming.
        await Polling.Until(async () =>
        {
            if (demo.HasExited) throw new InvalidOperationException("the demo exited before /metrics showed routing consuming and a notice timed:\n" + demo.Log);
            try
            {
                // The demo binds a free port itself (a port chosen here could be taken by another process before it binds).
                if (MetricsAt().Match(demo.Log) is not { Success: true } at) return false;
                var text = await http.GetStringAsync(at.Groups[1].Value);
                if (text.Contains("pipeline_processor_consumed_total{stage=\"routing\"", StringComparison.Ordinal) && NoticesTimed().IsMatch(text)) metrics = text;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            return metrics is not null;
        }, TimeSpan.FromMinutes(5), () => "/metrics showing routing consuming and at least one notice timed:\n" + demo.Log, TimeSpan.FromMilliseconds(200));
        Assert.NotNull(metrics);
        Assert.Contains("pipeline_consumer_lag_messages", metrics, StringComparison.Ordinal);
        // End to end on event time (submission to notice), and the embedded cluster's own health, on the same /metrics.
        Assert.Matches(NoticesTimed(), metrics);
        Assert.Contains("pipeline_embedded_broker_up{broker=\"3\"} 1", metrics, StringComparison.Ordinal);

        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(12));
        try
        {
            await demo.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail("waited 12 minutes for the demo to end (every report with an outcome, --stop-when-done), in vain:\n" + demo.Log);
        }
        var log = demo.Log;
        Assert.True(demo.ExitCode == 0, "demo failed:\n" + log);
        Assert.Contains("── summary", log, StringComparison.Ordinal);
        Assert.Matches(@"operator console at http://127\.0\.0\.1:\d+/  users demo-analyst, demo-manager, demo-admin, password demo-[0-9a-f]{12} \(this run only\)", log);
        Assert.True(Number(log, "takedown notices") > 0, log);
        Assert.True(Number(log, "police referrals") > 0, log);
        Assert.True(Number(log, "partner forwards") > 0, log);
        var reached = ReachedLine().Match(log);
        Assert.True(reached.Success, log);
        Assert.Equal(reached.Groups[2].Value, reached.Groups[1].Value); // every report reached an outcome
        Assert.Matches("end-to-end: .* reports/s", log);
        Assert.Matches("embedded cluster raw: produce .* msg/s, consume .* msg/s", log);
        // The world's own-network outage: nothing it touched was marked removed (a short run may end before it).
        Assert.Matches("own-network outage .* 0 removals confirmed in it", log);
        Assert.DoesNotContain("NOT handled", log, StringComparison.Ordinal);
        // The world's moving hoster: its sites move abroad once geolocation first looks one up; the notices still on their
        // way (and reminders of those sent before) are not sent but recorded MOVED, and every such case is routed again.
        var moved = Regex.Match(log, @"hoster moved abroad +nl-nomad → de-host \(DE\) at .*: (\d+) notices not sent \(MOVED\) for (\d+) cases, (\d+) cases re-routed \((\d+) forwarded to de-hotline, \d+ noticed at home\); handled");
        Assert.True(moved.Success, log);
        Assert.True(int.Parse(moved.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, log);
        Assert.Equal(moved.Groups[2].Value, moved.Groups[3].Value); // every moved case re-routed
        Assert.Equal(moved.Groups[3].Value, moved.Groups[4].Value); // abroad: each to the partner hotline
        // The run's transparency report, computed from the topics, its path last in the summary.
        var report = ReportLine().Match(log);
        Assert.True(report.Success, log);
        var html = await File.ReadAllTextAsync(report.Groups[1].Value);
        Assert.Contains("<h1>Transparency report</h1>", html, StringComparison.Ordinal);
        Assert.Contains("data:image/png;base64,", html, StringComparison.Ordinal);
    }

    private static int Number(string log, string label)
    {
        var m = Regex.Match(log, Regex.Escape(label) + @"\s+([\d,]+)");
        return m.Success ? int.Parse(m.Groups[1].Value.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture) : -1;
    }

    [GeneratedRegex(@"metrics at (http://127\.0\.0\.1:\d+/metrics)")]
    private static partial Regex MetricsAt();

    [GeneratedRegex(@"^pipeline_takedown_submission_to_notice_seconds_count [1-9]", RegexOptions.Multiline)]
    private static partial Regex NoticesTimed();

    [GeneratedRegex(@"^transparency report +(/\S+\.html) ", RegexOptions.Multiline)]
    private static partial Regex ReportLine();

    [GeneratedRegex(@"reports with an outcome\s+([\d,]+) of ([\d,]+)")]
    private static partial Regex ReachedLine();
}
