using Pipeline.Contracts;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.TestSupport;
using Pipeline.Platform;

namespace Pipeline.IntegrationTests;

/// <summary>Kill a stage mid-stream (SIGKILL: no graceful stop, no final commit), restart it, and prove that every
/// report still reaches exactly one outcome.</summary>
[Collection(KafkaCollection.Name)]
public sealed class CrashTests(KafkaBackend backend)
{
    [Theory]
    [InlineData("Pipeline.Routing")]
    [InlineData("Pipeline.Classification")]
    public async Task A_stage_killed_mid_stream_and_restarted_loses_nothing_and_each_report_has_exactly_one_outcome(string victim)
    {
        var run = Guid.NewGuid().ToString("N")[..10];
        const int total = 1200;
        // A distinct known hash per report: the same content on the same host would be grouped into one case by intake.
        var known = Enumerable.Range(0, total).Select(_ => TestWorld.RandomHex(32)).ToArray();
        await using var pipeline = await RunningPipeline.StartAsync(backend, p =>
            Task.WhenAll(known.Select(k => p.Publisher.PublishAsync(Topics.HashesKnown, $"police-nl:sha256:{k}", TestWorld.Known(k)))));
        using var watch = backend.Watch(Topics.TakedownRequested, Topics.ExchangeOutbound, Topics.ReportsReview, Topics.PoliceReferrals);
        await watch.Assigned.WaitAsync(TimeSpan.FromSeconds(30));

        var expected = new Dictionary<string, string>();
        var feed = Task.Run(async () =>
        {
            for (var i = 0; i < total; i++)
            {
                var (url, kind) = (i % 3) switch
                {
                    0 => ($"http://{TestWorld.HomeHosterHost}/{run}/{i}.jpg", "takedown"),
                    1 => ($"http://{TestWorld.PartnerHost}/{run}/{i}.jpg", "forward"),
                    _ => ($"http://{TestWorld.NoPartnerHost}/{run}/{i}.jpg", "review"),
                };
                var r = TestWorld.Report($"{run}-{i:D5}", url, known[i]);
                lock (expected) expected[r.report.reportId] = kind;
                _ = pipeline.Publisher.PublishAsync(Topics.ReportsSubmitted, r.report.reportId, r);
                if (i % 50 == 49) await Task.Delay(50); // ≈ 1,000 reports/s offered
            }
            pipeline.Publisher.Flush(TimeSpan.FromSeconds(30));
        });

        Dictionary<string, List<string>> Outcomes()
        {
            var o = new Dictionary<string, List<string>>();
            void Add(string id, string kind, string eventId)
            {
                if (!id.StartsWith(run, StringComparison.Ordinal)) return;
                if (!o.TryGetValue(id, out var list)) o[id] = list = [];
                list.Add(kind + ":" + eventId);
            }
            foreach (var e in watch.Events<TakedownRequested>(Topics.TakedownRequested)) Add(e.report.reportId, "takedown", e.eventId);
            foreach (var e in watch.Events<ReportForwarded>(Topics.ExchangeOutbound)) Add(e.report.reportId, "forward", e.eventId);
            foreach (var e in watch.Events<ReviewRequested>(Topics.ReportsReview)) Add(e.report.reportId, "review", e.eventId);
            foreach (var e in watch.Events<PoliceReferral>(Topics.PoliceReferrals)) Add(e.report.reportId, "police", e.eventId);
            return o;
        }

        // Kill the victim once it has handled part of the stream, while reports keep arriving.
        await watch.WaitUntilAsync(() => Outcomes().Count >= total / 10, TimeSpan.FromSeconds(60), () => $"outcomes: {Outcomes().Count}");
        pipeline[victim].Kill();
        var atKill = Outcomes().Count;
        Assert.True(atKill < total, $"the stream had already finished ({atKill}) when {victim} was killed");
        await pipeline.RestartAsync(victim);
        await feed;

        await watch.WaitUntilAsync(() => Outcomes().Count == total, TimeSpan.FromSeconds(90), () => $"outcomes: {Outcomes().Count} of {total} (killed at {atKill})");
        var outcomes = Outcomes();
        Assert.Equal(total, outcomes.Count);
        foreach (var (id, kinds) in outcomes)
        {
            var single = Assert.Single(kinds); // distinct event ids: re-deliveries of the same event are not a second outcome
            Assert.StartsWith(expected[id] + ":", single, StringComparison.Ordinal);
        }
        var redelivered = watch.Deliveries(Topics.TakedownRequested).Count + watch.Deliveries(Topics.ExchangeOutbound).Count + watch.Deliveries(Topics.ReportsReview).Count
            - (watch.Events<TakedownRequested>(Topics.TakedownRequested).Count + watch.Events<ReportForwarded>(Topics.ExchangeOutbound).Count + watch.Events<ReviewRequested>(Topics.ReportsReview).Count);
        Console.WriteLine($"{victim} killed after {atKill} of {total} outcomes; {redelivered} duplicate deliveries de-duplicated by eventId");
    }
}
