using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Pipeline.Contracts;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Platform;
using Pipeline.TestSupport;
using Xunit.Abstractions;

namespace Pipeline.IntegrationTests;

/// <summary>Every stateful stage (classification, routing, takedown, sla, recheck) scaled out while reports flow: more
/// members of each join as their own processes (one more in CI; PIPELINE_SCALE_MEMBERS=3 for three replicas of each),
/// then the first members of routing and takedown are SIGKILLed
/// and restarted. Every report still reaches exactly one outcome, every takedown case gets exactly one first notice, and no
/// state partition is written by two members at once without the fence deciding — checked on the state topics
/// themselves: each state record carries its writer's epoch (the offset of the fence it wrote on assignment), so a record
/// whose epoch is below the latest fence before it was written late by a member that no longer owned the partition; every
/// restore passes over it, and the owner must have written that key again itself.</summary>
[Collection(KafkaCollection.Name)]
public sealed class ScaleOutTests(KafkaBackend backend, ITestOutputHelper output)
{
    private static readonly string[] Stateful = ["Pipeline.Classification", "Pipeline.Routing", "Pipeline.Takedown", "Pipeline.Sla", "Pipeline.Recheck"];
    private static readonly string[] StateTopics =
        [Topics.ClassificationWaiting, Topics.ClassificationMatches, Topics.RoutingHeld, Topics.TakedownReminders, Topics.SlaOpen, Topics.SlaPending, Topics.RecheckSchedule];

    /// <summary>Members of each stateful stage once the scale-out happened: 2 in CI (a second process per stage joins),
    /// PIPELINE_SCALE_MEMBERS=3 for three replicas of every stateful stage (17 processes; run by hand, README "Tests").</summary>
    private static int Members() => TestWorld.Setting("PIPELINE_SCALE_MEMBERS", 2, min: 2, max: 6)!.Value; // the stages' topics have 6 partitions

    [Fact]
    public async Task Members_joining_and_SIGKILLed_mid_stream_lose_nothing_duplicate_nothing_and_a_fenced_member_never_decides_the_state()
    {
        var run = Guid.NewGuid().ToString("N")[..10];
        const int total = 1200;
        var known = Enumerable.Range(0, total).Select(_ => TestWorld.RandomHex(32)).ToArray();
        await using var pipeline = await RunningPipeline.StartAsync(backend, p =>
            Task.WhenAll(known.Select(k => p.Publisher.PublishAsync(Topics.HashesKnown, $"police-nl:sha256:{k}", TestWorld.Known(k)))));
        using var watch = backend.Watch(Topics.TakedownRequested, Topics.ExchangeOutbound, Topics.ReportsReview, Topics.PoliceReferrals, Topics.NoticesIssued);
        await watch.Assigned.WaitAsync(TimeSpan.FromSeconds(120));

        var expected = new Dictionary<string, string>();
        var joined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var feed = Task.Run(async () =>
        {
            using var offered = OfferedLoad.PerSecond(1_000);
            for (var i = 0; i < total; i++)
            {
                if (i == total / 3) await joined.Task;
                if (i == 2 * total / 3) await killed.Task;
                await offered.NextAsync();
                var (r, kind) = TestWorld.Mixed(run, i, known[i]);
                lock (expected) expected[r.report.reportId] = kind;
                _ = pipeline.Publisher.PublishAsync(Topics.ReportsSubmitted, r.report.reportId, r);
            }
            pipeline.Publisher.Flush(TimeSpan.FromSeconds(30));
        });

        Dictionary<string, List<string>> Outcomes() => TestWorld.Outcomes(watch, run);
        List<TakedownNotice> FirstNotices() => watch.Events<TakedownNotice>(Topics.NoticesIssued, n => n.kind == NoticeKind.FIRST && n.caseKey.Contains(run, StringComparison.Ordinal));

        // Phase 1 → 2: a second member of every stateful stage joins.
        await watch.WaitUntilAsync(() => Outcomes().Count >= total / 6, TimeSpan.FromSeconds(120), () => $"outcomes: {Outcomes().Count}");
        var members = Members();
        await Task.WhenAll(Stateful.SelectMany(s => Enumerable.Repeat(s, members - 1)).Select(pipeline.StartReplicaAsync));
        output.WriteLine($"{members} members of each of {string.Join(", ", Stateful)}");
        joined.SetResult();

        // Phase 2 → 3: the first members of routing and takedown die without a goodbye, and come back.
        await watch.WaitUntilAsync(() => Outcomes().Count >= total / 2, TimeSpan.FromSeconds(180), () => $"outcomes: {Outcomes().Count}");
        pipeline["Pipeline.Routing"].Kill();
        pipeline["Pipeline.Takedown"].Kill();
        var atKill = Outcomes().Count;
        killed.SetResult();
        var restarts = await Task.WhenAll(new[] { "Pipeline.Routing", "Pipeline.Takedown" }.Select(async s =>
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            await pipeline.RestartAsync(s);
            return $"{s} {sw.Elapsed.TotalSeconds:0.0} s";
        }));
        output.WriteLine("restart after SIGKILL to ready (process start, group join, state restored): " + string.Join(", ", restarts));
        await feed;

        var takedowns = expected.Count(e => e.Value == "takedown");
        await watch.WaitUntilAsync(() => Outcomes().Count == total && FirstNotices().Select(n => n.caseKey).Distinct().Count() == takedowns,
            TimeSpan.FromSeconds(240), () => $"outcomes: {Outcomes().Count} of {total}, cases with a first notice: {FirstNotices().Select(n => n.caseKey).Distinct().Count()} of {takedowns} (killed at {atKill})");

        foreach (var (id, kinds) in Outcomes())
        {
            var single = Assert.Single(kinds); // distinct event ids: re-deliveries of one event are not a second outcome
            Assert.StartsWith(expected[id] + ":", single, StringComparison.Ordinal);
        }
        // One notice per case, under one id: a case noticed twice would reach its hoster twice.
        var byCase = FirstNotices().GroupBy(n => n.caseKey).Where(g => g.Select(n => n.noticeId).Distinct().Count() > 1).Select(g => g.Key).ToList();
        Assert.True(byCase.Count == 0, $"cases with more than one first-notice id: {string.Join(", ", byCase.Take(5))}");

        var (records, fences, owners, late, unredone) = ReadStateTopics();
        output.WriteLine($"killed at {atKill} of {total} outcomes; state topics: {records} records, {fences} fences, up to {owners} owners of one partition; " +
                         $"{late} written by a member after a successor had fenced the partition (passed over by every restore)");
        Assert.True(owners >= 2, "no state partition changed hands: the scale-out did not happen");
        // A late write (the embedded cluster's coordinator can assign a joining member partitions before the old owner has
        // rejoined, and the old owner keeps processing until it does) is fenced, and its input is processed again by
        // the new owner from the committed offset, which writes the same key under its own epoch.
        Assert.True(unredone.Count == 0, "late writes by a fenced member that the partition's owner never wrote again: " + string.Join("; ", unredone.Take(5)));
    }

    /// <summary>Reads every state topic from the beginning. A record whose epoch is not the offset of the latest fence before
    /// it in its partition was written late by a fenced member; each such key must be written again later by the owner.</summary>
    private (int Records, int Fences, int MaxOwners, int Late, List<string> Unredone) ReadStateTopics()
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = backend.BootstrapServers, GroupId = "scale-out-check-" + Guid.NewGuid(), EnableAutoCommit = false,
        }).Build();
        var (records, fences, maxOwners, lateCount) = (0, 0, 0, 0);
        var unredone = new List<string>();
        foreach (var topic in StateTopics)
        {
            for (var p = 0; p < TopicCatalog.Get(topic).Partitions; p++)
            {
                var tp = new TopicPartition(topic, p);
                var marks = consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(10));
                var end = marks.High.Value;
                if (end == 0) continue;
                // The embedded cluster keeps ~5 MiB per partition: a busy state partition (recheck rewrites its entries at
                // every check) may have lost its first records, fences included. Records before the first fence still
                // held cannot be checked.
                var evicted = marks.Low.Value > 0;
                consumer.Assign(new TopicPartitionOffset(tp, Offset.Beginning));
                long? latest = null;
                var members = new HashSet<string>();
                var late = new Dictionary<string, string>(); // key → where a fenced member wrote it, until the owner writes it again
                while (true)
                {
                    var r = consumer.Consume(TimeSpan.FromSeconds(10)) ?? throw new TimeoutException($"{tp}: nothing read before offset {end}");
                    var key = r.Message.Key is null ? "" : Encoding.UTF8.GetString(r.Message.Key);
                    if (key == StateFence.Key)
                    {
                        latest = r.Offset.Value;
                        fences++;
                        if (r.Message.Headers.TryGetLastBytes(StateFence.MemberHeader, out var m)) members.Add(Encoding.UTF8.GetString(m));
                    }
                    else
                    {
                        records++;
                        if (!(latest is null && evicted) && r.Message.Headers?.TryGetLastBytes(StateFence.EpochHeader, out var e) == true)
                        {
                            var epoch = long.Parse(Encoding.UTF8.GetString(e), CultureInfo.InvariantCulture);
                            Assert.True(latest is not null && epoch <= latest, $"{r.TopicPartitionOffset}: epoch {epoch} is ahead of the latest fence {latest}");
                            if (epoch < latest)
                            {
                                lateCount++;
                                late[key] = $"{r.TopicPartitionOffset} ({key}) epoch {epoch}, latest fence {latest}";
                            }
                            else late.Remove(key);
                        }
                    }
                    if (r.Offset.Value + 1 >= end) break;
                }
                maxOwners = Math.Max(maxOwners, members.Count);
                unredone.AddRange(late.Values);
            }
        }
        return (records, fences, maxOwners, lateCount, unredone);
    }
}
