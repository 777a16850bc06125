using System.Net.Sockets;
using System.Text.RegularExpressions;
using Pipeline.IntegrationTests.Infrastructure;

namespace Pipeline.IntegrationTests;

/// <summary>`pipeline demo` as a newcomer runs it: a process on the embedded default, /metrics answering while it
/// runs, and a summary with notices, police referrals and partner forwards.</summary>
public sealed partial class DemoTests
{
    [Fact]
    public async Task The_demo_serves_metrics_while_it_runs_and_ends_with_a_summary_where_every_report_reached_an_outcome()
    {
        var port = FreePort();
        await using var demo = ServiceProcess.Start("Pipeline.Cli", new Dictionary<string, string>(), assembly: "pipeline",
            // --drain is only a ceiling: --stop-when-done ends the demo as soon as every report has an outcome, so a slow
            // (loaded) machine gets the time it needs and a fast one does not wait.
            arguments: ["demo", "--rate", "100", "--duration", "5", "--drain", "600", "--speed", "7200", "--raw-bench", "5000", "--stop-when-done", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        string? metrics = null;
        // Generous: on a loaded 2-core machine the demo has taken over 20 s only to have every stage consuming.
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (metrics is null && DateTime.UtcNow < deadline && !demo.HasExited)
        {
            try
            {
                var text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
                if (text.Contains("pipeline_processor_consumed_total{stage=\"routing\"", StringComparison.Ordinal) && NoticesTimed().IsMatch(text)) metrics = text;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(200);
        }
        Assert.True(metrics is not null, $"waited {(demo.HasExited ? "until the demo exited" : "5 minutes")} for /metrics to show routing consuming and at least one notice timed, in vain:\n" + demo.Log);
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
        Assert.True(Number(log, "takedown notices") > 0, log);
        Assert.True(Number(log, "police referrals") > 0, log);
        Assert.True(Number(log, "partner forwards") > 0, log);
        var reached = ReachedLine().Match(log);
        Assert.True(reached.Success, log);
        Assert.Equal(reached.Groups[2].Value, reached.Groups[1].Value); // every report reached an outcome
        Assert.Matches("end-to-end: .* reports/s", log);
        Assert.Matches("embedded cluster raw: produce .* msg/s, consume .* msg/s", log);
    }

    private static int Number(string log, string label)
    {
        var m = Regex.Match(log, Regex.Escape(label) + @"\s+([\d,]+)");
        return m.Success ? int.Parse(m.Groups[1].Value.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture) : -1;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"^pipeline_takedown_submission_to_notice_seconds_count [1-9]", RegexOptions.Multiline)]
    private static partial Regex NoticesTimed();

    [GeneratedRegex(@"reports with an outcome\s+([\d,]+) of ([\d,]+)")]
    private static partial Regex ReachedLine();
}
