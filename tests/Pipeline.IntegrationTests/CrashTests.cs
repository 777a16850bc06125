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
        await watch.Assigned.WaitAsync(TimeSpan.FromSeconds(120));

        var expected = new Dictionary<string, string>();
        // The second half of the stream is held back until the victim has been killed, so the kill is always mid-stream
        // however fast the machine (a fast pipeline finished all 1,200 before the kill) and reports keep arriving while
        // the victim is down and restarting.
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var feed = Task.Run(async () =>
        {
            using var offered = OfferedLoad.PerSecond(1_000);
            for (var i = 0; i < total; i++)
            {
                if (i == total / 2) await killed.Task;
                await offered.NextAsync();
                var (r, kind) = TestWorld.Mixed(run, i, known[i]);
                lock (expected) expected[r.report.reportId] = kind;
                _ = pipeline.Publisher.PublishAsync(Topics.ReportsSubmitted, r.report.reportId, r);
            }
            pipeline.Publisher.Flush(TimeSpan.FromSeconds(30));
        });

        Dictionary<string, List<string>> Outcomes() => TestWorld.Outcomes(watch, run);

        // Kill the victim once it has handled part of the stream, while reports keep arriving.
        await watch.WaitUntilAsync(() => Outcomes().Count >= total / 10, TimeSpan.FromSeconds(120), () => $"outcomes: {Outcomes().Count}");
        pipeline[victim].Kill();
        var atKill = Outcomes().Count;
        killed.SetResult();
        Assert.True(atKill <= total / 2, $"{atKill} outcomes when {victim} was killed, though only {total / 2} reports had been fed");
        // Restart to ready (process start, group join, state restored), without a broker fault: printed, never asserted.
        var restarting = System.Diagnostics.Stopwatch.StartNew();
        await pipeline.RestartAsync(victim);
        var restart = restarting.Elapsed;
        await feed;

        await watch.WaitUntilAsync(() => Outcomes().Count == total, TimeSpan.FromSeconds(180), () => $"outcomes: {Outcomes().Count} of {total} (killed at {atKill})");
        var outcomes = Outcomes();
        Assert.Equal(total, outcomes.Count);
        foreach (var (id, kinds) in outcomes)
        {
            var single = Assert.Single(kinds); // distinct event ids: re-deliveries of the same event are not a second outcome
            Assert.StartsWith(expected[id] + ":", single, StringComparison.Ordinal);
        }
        var redelivered = watch.Deliveries(Topics.TakedownRequested).Count + watch.Deliveries(Topics.ExchangeOutbound).Count + watch.Deliveries(Topics.ReportsReview).Count
            - (watch.Events<TakedownRequested>(Topics.TakedownRequested).Count + watch.Events<ReportForwarded>(Topics.ExchangeOutbound).Count + watch.Events<ReviewRequested>(Topics.ReportsReview).Count);
        Console.WriteLine($"{victim} killed after {atKill} of {total} outcomes, ready again {restart.TotalSeconds:0.0} s after its restart; {redelivered} duplicate deliveries de-duplicated by eventId");
    }
}
