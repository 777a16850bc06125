using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Avro.Specific;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Pipeline.Classification;
using Pipeline.Cli.Commands;
using Pipeline.Contracts;
using Pipeline.Geolocation;
using Pipeline.Intake;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.Recheck;
using Pipeline.Routing;
using Pipeline.Sla;
using Pipeline.Takedown;
using Pipeline.TestSupport;

namespace Pipeline.Operations.Tests;

/// <summary>`pipeline trace` against the embedded Kafka cluster and registry: a report's events on the real topics,
/// read back from the beginning and put in order.</summary>
public sealed class TraceCommandTests
{
    [Fact]
    public async Task A_report_through_police_hold_release_notice_reminder_and_removal_is_traced_step_by_step_in_order()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync(brokers: 1);
        var run = Guid.NewGuid().ToString("N")[..8];
        var t0 = DateTime.UtcNow.AddDays(-3);
        t0 = t0.AddTicks(-(t0.Ticks % TimeSpan.TicksPerSecond));
        var h = new TraceHistory(run, t0);
        var (r1, r2) = ($"r-{run}-1", $"r-{run}-2");
        var events = h.PoliceHoldToRemoval(r1, r2);
        var other = new TraceHistory(run + "-other", t0);
        events.Add((Topics.ReportsSubmitted, "r-other", null, new ReportSubmitted { eventId = "submitted-other", report = other.Report($"r-{run}-other", other.Url), submittedAt = t0 }));
        // Published topic by topic, last stage first: the order must come from the events' times, not from reading.
        await PublishAsync(runtime, events.OrderByDescending(e => e.Topic, StringComparer.Ordinal));

        var text = await TraceAsync(runtime, r1);
        Assert.Equal(0, text.ExitCode);
        Assert.Empty(text.Error);
        Assert.StartsWith($"Trace of report id {r1}: report {r1}", text.Output, StringComparison.Ordinal);
        Assert.Equal(TraceHistory.PoliceHoldToRemovalSteps, Steps(text.Output));
        var stages = EventLines(text.Output).Select(l => l[58..76].Trim()).ToList();
        Assert.Equal(["-", "intake", "intake-grouping", "intake-grouping", "geolocation", "classification", "routing", "routing", "-", "routing"], stages.Take(10));
        Assert.Contains("rule=home+new→police-first; police-first: released by the police", text.Output, StringComparison.Ordinal);
        Assert.Equal(
        [
            $"received             {Time(t0)}",
            $"assessed             {Time(t0.AddSeconds(4))}  NEW (BASELINE)",
            $"referred to police   {Time(t0.AddSeconds(5))}",
            $"released by police   {Time(t0.AddHours(2))}",
            $"first notice sent    {Time(t0.AddHours(2).AddSeconds(1))}",
            $"reminder 1           {Time(t0.AddHours(26).AddSeconds(1).AddMilliseconds(1))}",
            $"removed              {Time(t0.AddHours(27))}  1 d 3 h 0 min after the report, 1 d 0 h 59 min after the first notice",
            $"confirmed gone       {Time(t0.AddHours(27).AddSeconds(600))}",
        ], TimelineLines(text.Output));
        Assert.EndsWith("  state: removed after 1 d 3 h 0 min (1 d 0 h 59 min after the first notice, after the deadline)" + Environment.NewLine, text.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(TraceHistory.ReporterEmail, text.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(TraceHistory.ReporterName, text.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("other", text.Output, StringComparison.Ordinal);

        var json = await TraceAsync(runtime, r1, "--json");
        Assert.Equal(0, json.ExitCode);
        Assert.DoesNotContain(TraceHistory.ReporterEmail, json.Output, StringComparison.Ordinal);
        using (var doc = JsonDocument.Parse(json.Output))
        {
            Assert.Equal(r1, doc.RootElement.GetProperty("query").GetString());
            Assert.Equal("report id", doc.RootElement.GetProperty("matchedAs").GetString());
            var report = Assert.Single(doc.RootElement.GetProperty("reports").EnumerateArray());
            Assert.Equal(r1, report.GetProperty("reportId").GetString());
            Assert.Equal([h.Url], report.GetProperty("caseKeys").EnumerateArray().Select(k => k.GetString()));
            Assert.StartsWith("removed after 1 d 3 h 0 min", report.GetProperty("state").GetString(), StringComparison.Ordinal);
            var timeline = report.GetProperty("timeline");
            Assert.Equal(t0, timeline.GetProperty("received").GetDateTime());
            Assert.Equal("NEW (BASELINE)", timeline.GetProperty("verdict").GetString());
            Assert.Equal(t0.AddHours(2), timeline.GetProperty("releasedByPolice").GetDateTime());
            Assert.Single(timeline.GetProperty("reminders").EnumerateArray());
            Assert.Equal(27 * 3600, timeline.GetProperty("removalAfterReportSeconds").GetDouble());
            Assert.Equal(JsonValueKind.Null, timeline.GetProperty("forwarded").ValueKind);
            var steps = report.GetProperty("events").EnumerateArray().ToList();
            Assert.Equal(TraceHistory.PoliceHoldToRemovalSteps, steps.Select(e => e.GetProperty("what").GetString()));
            var release = steps[8];
            Assert.Equal((Topics.PoliceReleases, JsonValueKind.Null, "PoliceRelease"), (release.GetProperty("topic").GetString(), release.GetProperty("stage").ValueKind, release.GetProperty("type").GetString()));
            Assert.Equal("referral-1", release.GetProperty("fields").GetProperty("referralId").GetString());
            var notice = steps[11];
            Assert.Equal(("takedown", "notice-1", h.Url), (notice.GetProperty("stage").GetString(), notice.GetProperty("fields").GetProperty("noticeId").GetString(),
                notice.GetProperty("fields").GetProperty("caseKey").GetString()));
            Assert.True(notice.GetProperty("offset").GetInt64() >= 0);
        }

        // The URL as pasted (it normalises to the case key) and the case key: both reports on the case, said so.
        foreach (var (query, matchedAs) in new[] { (h.PastedUrl, "URL"), (h.Url, "case key") })
        {
            var byUrl = await TraceAsync(runtime, query);
            Assert.Equal(0, byUrl.ExitCode);
            Assert.StartsWith($"Trace of {matchedAs} {query}: 2 reports match, each traced below ({r1}, {r2})", byUrl.Output, StringComparison.Ordinal);
            Assert.Contains($"  state: joined the open case {h.Url} as its report 2; trace the case key for its notices", byUrl.Output, StringComparison.Ordinal);
        }

        // A reminder's notice id leads to its report.
        var byNotice = await TraceAsync(runtime, "reminder-1");
        Assert.StartsWith($"Trace of notice id reminder-1: report {r1}", byNotice.Output, StringComparison.Ordinal);
        Assert.Equal(TraceHistory.PoliceHoldToRemovalSteps, Steps(byNotice.Output));

        var none = await TraceAsync(runtime, $"r-{run}-nothing");
        Assert.Equal(1, none.ExitCode);
        Assert.Empty(none.Output);
        Assert.StartsWith($"'r-{run}-nothing' matches no report", none.Error, StringComparison.Ordinal);
    }

    /// <summary>One synthetic report through the running stages (every stage in one process on the embedded runtime, on
    /// a clock 600 times faster than real time: a reminder interval of 30 minutes is 3 s): held for the police, released,
    /// noticed, reminded, removed at the simulated hoster and measured. The trace lists those steps in that order.</summary>
    [Fact]
    public async Task A_report_through_the_running_stages_is_traced_from_submission_to_removal()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync(brokers: 1);
        var clock = new AcceleratedTimeProvider(DateTimeOffset.UtcNow, 600);
        var probe = new Web();
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(runtime.Configuration);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Geolocation:Hosts:site-a.nl-host.test:0"] = "192.0.2.10",
            ["Geolocation:Networks:0:Prefix"] = "192.0.2.0/24", ["Geolocation:Networks:0:Asn"] = "64496", ["Geolocation:Networks:0:Country"] = "NL",
            ["Geolocation:Networks:0:AsOrganisation"] = "NL Host (test)", ["Geolocation:Networks:0:HosterId"] = "nl-host", ["Geolocation:Networks:0:HosterName"] = "NL Host",
            ["Geolocation:Networks:0:AbuseAddress"] = "abuse@nl-host.test", ["Geolocation:Networks:0:AbuseChannel"] = "Topic",
            ["Routing:HomeCountry"] = "NL", ["Routing:HomeHotline"] = "nl-hotline", ["Routing:PoliceReleaseTimeout"] = "7.00:00:00",
            ["Takedown:Deadline"] = "1.00:00:00", ["Takedown:SenderOrganisation"] = "Test Hotline", ["Takedown:SenderContact"] = "notices@hotline.test",
            ["Takedown:SenderDomain"] = "hotline.test", ["Takedown:Reminders:Interval"] = "00:30:00", ["Takedown:Reminders:MaxCount"] = "1",
            ["Recheck:HomeHotline"] = "nl-hotline", ["Recheck:FirstCheckAfter"] = "00:15:00", ["Recheck:Interval"] = "00:20:00", ["Recheck:MissSpacing"] = "00:05:00",
            ["Recheck:WatchFor"] = "00:00:00", ["Recheck:PerHostSpacing"] = "00:00:00",
            ["Recheck:Controls:0"] = "http://control.hotline.test/online", ["Recheck:ControlSpacing"] = "00:00:00",
            // Validated at start though this test's hoster takes its notices on the topic (set here: which service's
            // appsettings.json lands in this test's output folder depends on the build order).
            ["Takedown:Delivery:Smtp:Host"] = "127.0.0.1", ["Takedown:Delivery:Smtp:Port"] = "2525", ["Takedown:Delivery:Smtp:Security"] = "None",
            ["Takedown:Delivery:Webhook:Secret"] = "whsec-trace-test-0123456789",
        });
        builder.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock));
        builder.Services.AddSingleton<IContentProbe>(probe);
        builder.AddIntake().AddGeolocation().AddClassification().AddRouting().AddTakedown().AddNoticeDelivery().AddRecheck().AddSla();
        await using var app = builder.Build();
        await app.StartAsync();
        using var watch = new TopicWatcher(runtime.BootstrapServers, runtime.SchemaRegistryUrl, Topics.PoliceReferrals, Topics.NoticesIssued, Topics.NoticeOutcomes);
        await watch.Assigned.WaitAsync(TimeSpan.FromMinutes(2));

        var reportId = "r-" + Guid.NewGuid().ToString("N")[..8];
        var url = $"http://site-a.nl-host.test/{reportId}/new.jpg";
        var history = new TraceHistory(reportId, clock.GetUtcNow().UtcDateTime);
        var report = history.Report(reportId, url);
        var publisher = app.Services.GetRequiredService<EventPublisher>();
        await publisher.PublishAsync(Topics.ReportsSubmitted, reportId, new ReportSubmitted { eventId = "submitted-" + reportId, report = report, submittedAt = report.receivedAt });

        await watch.WaitUntilAsync(() => watch.Events<PoliceReferral>(Topics.PoliceReferrals).Count == 1, TimeSpan.FromMinutes(3), () => "no police referral");
        var referral = watch.Events<PoliceReferral>(Topics.PoliceReferrals).Single();
        await publisher.PublishAsync(Topics.PoliceReleases, referral.caseKey, new PoliceRelease
        {
            eventId = "release-" + reportId, caseKey = referral.caseKey, referralId = referral.referralId, releasedBy = "police-unit-7",
            releasedAt = clock.GetUtcNow().UtcDateTime, preserveEvidence = true,
        });
        await watch.WaitUntilAsync(() => watch.Events<TakedownNotice>(Topics.NoticesIssued, n => n.kind == NoticeKind.REMINDER).Count == 1, TimeSpan.FromMinutes(3),
            () => "no reminder: " + string.Join(", ", watch.Events<TakedownNotice>(Topics.NoticesIssued).Select(n => n.kind)));
        probe.Remove(url);
        await watch.WaitUntilAsync(() => watch.Events<NoticeOutcome>(Topics.NoticeOutcomes).Count == 1, TimeSpan.FromMinutes(3), () => "no outcome");
        await app.StopAsync();

        var trace = await TraceAsync(runtime, reportId);
        Assert.True(trace.ExitCode == 0, trace.Error);
        var steps = Steps(trace.Output);
        string[] milestones =
        [
            "report submitted", "validated; to case grouping", "accepted: new case", "located", "classified NEW", "referred to the police", "takedown held for the police",
            "released by the police", "takedown requested", "notice issued", "reminder 1 issued", "recheck: REMOVED, removal confirmed", "outcome: removed within the deadline",
            "close the case (removal outcome)", "case closed removed",
        ];
        Assert.Equal(milestones, steps.Where(milestones.Contains));
        // Issued by takedown and decided by sla from the same observation: in either order, after it.
        Assert.Single(steps, s => s == "removal confirmed to the recipient");
        Assert.Contains("sla: reminder sent", steps);
        Assert.Contains("delivery sent (topic, attempt 1)", steps);
        Assert.DoesNotContain("notice issued (kept by sla)", steps); // sla's copy of a notice notices.issued.v1 still holds
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(trace.Output, @"  state: removed after (\d+ h )?\d+ min( \d+ s)? \((\d+ h )?\d+ min( \d+ s)? after the first notice, within the deadline\)"), trace.Output);
        Assert.Equal(["received", "assessed", "referred to police", "released by police", "first notice sent", "reminder 1", "removed", "confirmed gone"],
            TimelineLines(trace.Output).Select(l => l[..20].Trim()));
        Assert.DoesNotContain(TraceHistory.ReporterEmail, trace.Output, StringComparison.Ordinal);
    }

    /// <summary>The simulated hosters' web: every URL online until removed.</summary>
    private sealed class Web : IContentProbe
    {
        private readonly ConcurrentDictionary<string, bool> removed = new(StringComparer.Ordinal);

        public void Remove(string url) => removed[url] = true;

        public Task<ProbeResult> ProbeAsync(string url, CancellationToken cancellationToken) =>
            Task.FromResult(removed.ContainsKey(url) ? new ProbeResult(ContentStatus.REMOVED, 404) : new ProbeResult(ContentStatus.ONLINE, 200));
    }

    private static string Time(DateTime t) => Pipeline.Inspection.Trace.TraceEvent.Time(t);

    private static IEnumerable<string> EventLines(string output) => output.Split(Environment.NewLine).Where(l => l.Length > 26 && l.StartsWith("  20", StringComparison.Ordinal));

    /// <summary>The "what" column of the event lines, in order.</summary>
    private static List<string> Steps(string output) => [.. EventLines(output).Select(l => l[77..])];

    private static List<string> TimelineLines(string output) =>
        [.. output.Split(Environment.NewLine).SkipWhile(l => l != "  timeline").Skip(1).TakeWhile(l => l.StartsWith("    ", StringComparison.Ordinal)).Select(l => l[4..])];

    private sealed record Run(int ExitCode, string Output, string Error);

    [Fact]
    public async Task A_case_whose_events_are_past_their_retention_is_still_traced_by_its_decisions_on_the_audit_log()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync(brokers: 1);
        var run = Guid.NewGuid().ToString("N")[..8];
        var t0 = DateTime.UtcNow.AddDays(-400);
        t0 = t0.AddTicks(-(t0.Ticks % TimeSpan.TicksPerMillisecond));
        var token = new Pipeline.Audit.CaseTokens(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()).Of($"https://gone-{run}.example/a.jpg");
        var reportId = $"r-{run}";
        AuditRecord Decision(int n, string action, string actor, string? rule, string? noticeId, DateTime at, params (string Key, string Value)[] details) => new()
        {
            eventId = $"audit-{run}-{n}", caseToken = token, action = action, at = at, stage = actor.StartsWith("stage:", StringComparison.Ordinal) ? actor[6..] : null,
            actor = actor, rule = rule, reportIds = [reportId], noticeId = noticeId, details = details.ToDictionary(d => d.Key, d => d.Value),
            sourceTopic = "x", sourceEventId = $"src-{n}",
        };
        var trail = new[]
        {
            Decision(1, "report.received", "reporter:public", null, null, t0),
            Decision(2, "takedown.requested", "rule:home+known→takedown", "home+known→takedown", null, t0.AddSeconds(3), ("country", "NL")),
            Decision(3, "notice.issued", "stage:takedown", null, $"notice-{run}", t0.AddSeconds(4), ("kind", "first")),
            Decision(4, "notice.outcome", "stage:sla", null, $"notice-{run}", t0.AddHours(5), ("withinNorm", "true")),
        };
        // Published newest first, and one replayed: the trail comes in decision order, once each.
        await PublishAsync(runtime, trail.Reverse().Append(trail[1]).Select(a => (Topics.AuditLog, token, (string?)"audit", (ISpecificRecord)a)));

        foreach (var query in new[] { token, reportId, $"notice-{run}" })
        {
            var text = await TraceAsync(runtime, query);
            Assert.Equal(0, text.ExitCode);
            Assert.Contains($"── audit log (audit.log.v1), case {token}: the events themselves are past their retention", text.Output, StringComparison.Ordinal);
            var at = trail.Select(t => text.Output.IndexOf(" " + t.action + " ", StringComparison.Ordinal)).ToList();
            Assert.True(at.All(i => i > 0) && at.SequenceEqual(at.Order()), $"decisions missing or out of order in:\n{text.Output}");
            Assert.Contains("rule=home+known→takedown", text.Output, StringComparison.Ordinal);
        }
        var json = await TraceAsync(runtime, token, "--json");
        using var doc = JsonDocument.Parse(json.Output);
        Assert.Empty(doc.RootElement.GetProperty("reports").EnumerateArray());
        Assert.Equal(trail.Select(t => t.action), doc.RootElement.GetProperty("audit").EnumerateArray().Select(a => a.GetProperty("action").GetString()));
        Assert.Equal(1, (await TraceAsync(runtime, "ct-aaaaaaaaaaaaaaaaaaaaaaaaaa")).ExitCode); // a token nobody recorded
    }

    private static async Task<Run> TraceAsync(EmbeddedRuntime runtime, string id, params string[] flags)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var code = await TraceCommand.RunAsync(new TraceCommand.Settings(id, runtime.BootstrapServers, runtime.SchemaRegistryUrl, flags.Contains("--json")), output, error, CancellationToken.None);
        return new Run(code, output.ToString(), error.ToString());
    }

    /// <summary>Produces the events as their stages do: Avro through the registry, keyed, with the pipeline.stage header.</summary>
    internal static async Task PublishAsync(EmbeddedRuntime runtime, IEnumerable<(string Topic, string Key, string? Stage, ISpecificRecord Value)> events)
    {
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        using var producer = KafkaClients.Producer(new KafkaOptions { BootstrapServers = runtime.BootstrapServers }, "trace-test");
        var serialise = typeof(AvroSerdes).GetMethod(nameof(AvroSerdes.Serialize))!;
        foreach (var (topic, key, stage, value) in events)
        {
            var bytes = (byte[])serialise.MakeGenericMethod(value.GetType()).Invoke(serdes, [value, topic])!;
            var headers = new Headers();
            if (stage is not null) headers.Add("pipeline.stage", Encoding.UTF8.GetBytes(stage));
            await producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = bytes, Headers = headers });
        }
    }
}
