using System.Text.Json;
using Pipeline.Platform.Embedded;

namespace Pipeline.Operations.Tests;

/// <summary>`pipeline report` against the embedded Kafka cluster and registry: the known history of
/// <see cref="TransparencyTestHistory"/> on the real topics (replays included), read back from the beginning by the
/// command as a user runs it, gives the figures computed by hand.</summary>
public sealed class ReportCommandTests
{
    [Fact]
    public async Task The_report_computed_from_the_topics_has_the_figures_of_the_known_history_as_json_and_html()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync(brokers: 1);
        var history = new TransparencyTestHistory(Guid.NewGuid().ToString("N")[..8]);
        await TraceCommandTests.PublishAsync(runtime, history.Events().Select(e => (e.Topic, e.Key, (string?)null, e.Value)));
        string[] Args(params string[] more) => [.. Period("2026-01-01"), .. more];
        string[] Period(string from) => ["report", "--from", from, "--to", "2026-03-31", "--bootstrap", runtime.BootstrapServers, "--registry", runtime.SchemaRegistryUrl];

        var json = await CliParserTests.RunAsync(Args("--format", "json"));

        Assert.True(json.ExitCode == 0, json.Error);
        using (var doc = JsonDocument.Parse(json.Output))
        {
            var f = doc.RootElement;
            Assert.Equal(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), f.GetProperty("from").GetDateTime());
            Assert.Equal(new DateTime(2026, 4, 1, 0, 0, 0, DateTimeKind.Utc), f.GetProperty("to").GetDateTime()); // --to's day included
            Assert.Equal(10, f.GetProperty("reportsReceived").GetInt32());
            Assert.Equal(3, f.GetProperty("reportsRejected").GetInt32());
            Assert.Equal(7, f.GetProperty("reportsAccepted").GetInt32());
            Assert.Equal((5, 0.7143), (f.GetProperty("assessedIllegal").GetInt32(), f.GetProperty("illegalShare").GetDouble()));
            Assert.Equal((3, 2), (f.GetProperty("known").GetInt32(), f.GetProperty("new").GetInt32()));
            Assert.Equal(["NL:4", "DE:1"], f.GetProperty("byHostingCountry").EnumerateArray().Select(c => $"{c.GetProperty("key").GetString()}:{c.GetProperty("count").GetInt32()}"));
            Assert.Equal((4, 3, 1), (f.GetProperty("firstNotices").GetInt32(), f.GetProperty("reminders").GetInt32(), f.GetProperty("escalations").GetInt32()));
            var fromNotice = f.GetProperty("fromNotice");
            Assert.Equal((4, 10.0, 80.0, 0.5, 0.75), (fromNotice.GetProperty("removals").GetInt32(), fromNotice.GetProperty("medianHours").GetDouble(),
                fromNotice.GetProperty("p90Hours").GetDouble(), fromNotice.GetProperty("shareWithin24h").GetDouble(), fromNotice.GetProperty("shareWithin72h").GetDouble()));
            Assert.Equal(12, f.GetProperty("fromReport").GetProperty("medianHours").GetDouble());
            Assert.Equal((1, 1, 1), (f.GetProperty("forwardsIn").GetInt32(), f.GetProperty("forwardsOut").GetInt32(), f.GetProperty("policeReferrals").GetInt32()));
            Assert.Equal(4, f.GetProperty("slowestRemovals").GetArrayLength());
        }
        Assert.DoesNotContain(TraceHistory.ReporterEmail, json.Output, StringComparison.Ordinal);

        var anonymous = await CliParserTests.RunAsync(Args("--format", "json", "--anonymous"));
        Assert.Equal(0, anonymous.ExitCode);
        Assert.DoesNotContain("slowestRemovals", anonymous.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(history.Url("r1"), anonymous.Output, StringComparison.Ordinal);

        var file = Path.Combine(Path.GetTempPath(), "report-test-" + Guid.NewGuid().ToString("N"), "report.html");
        var html = await CliParserTests.RunAsync(Args("--out", file));
        Assert.Equal(0, html.ExitCode);
        Assert.Equal($"transparency report (html, 2026-01-01 to 2026-03-31) written to {file}", html.Output.TrimEnd());
        Assert.Contains("<div class=\"v\">10</div><div class=\"l\">reports received</div>", await File.ReadAllTextAsync(file), StringComparison.Ordinal);
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);

        var backwards = await CliParserTests.RunAsync(Period("2026-05-01"));
        Assert.Equal(2, backwards.ExitCode);
        Assert.StartsWith("error: --to 2026-03-31 is not after --from 2026-05-01.", backwards.Error, StringComparison.Ordinal);
    }
}
