using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using Pipeline.Contracts;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Loopback;
using Pipeline.Platform;
using Pipeline.TestSupport;
using Xunit.Abstractions;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The project's own fault run, as an operator would break it: every service its own process, a feed of synthetic reports
/// at a fixed rate, and meanwhile every stage SIGKILLed in turn (takedown right after a notice reached a receiver, so
/// mid-delivery), a broker taken down while each stateful stage restores its state, and partition leaders moved. Notices
/// go to real receivers on loopback: an SMTP server, a webhook receiver, and the notice topic itself.
/// It prints the figures the README quotes and fails on any loss or double: every report exactly one outcome, no notice
/// received under two Message-IDs / Idempotency-Keys, a notice received twice only inside a fault window (a takedown kill
/// or a broker outage, up to 30 s after), no
/// delivery record lost, every stage ready again after every kill.
/// CI runs it small (700 reports, one round of faults). The full run:
/// <c>PIPELINE_CHAOS_REPORTS=100000 PIPELINE_CHAOS_ROUNDS=5 PIPELINE_TEST_PARTITIONS=48 dotnet test tests/Pipeline.IntegrationTests -c Release --filter ChaosTests --logger "console;verbosity=detailed"</c>
/// (README, "Fault run"); PIPELINE_CHAOS_SUMMARY=file gets the lines as they happen; PIPELINE_CHAOS_OUTAGES=0 leaves the
/// broker outages out (restart to ready under load alone).
/// </summary>
[Collection(KafkaCollection.Name)]
public sealed class ChaosTests(KafkaBackend backend, ITestOutputHelper output)
{
    private const string WebhookSecret = "whsec-chaos-0123456789abcdef";
    /// <summary>Home hosters per channel, each with its own abuse desk. Batches are keyed by desk: with one desk per
    /// channel, the 100,000-report run put every batched notice in two partitions of takedown.batching.v1, beyond the
    /// embedded cluster's ~5 MiB per partition, which evicted notices before the batching stage read them.</summary>
    private const int Desks = 16;

    private static string MailHost(int d) => $"site-a{d}.nl-mail.test";   // abuse desk by e-mail, 192.0.2.(100 + d)
    private static string HookHost(int d) => $"site-d{d}.nl-hook.test";   // abuse desk by webhook, 192.0.2.(200 + d)
    private const string TopicHost = "site-e.nl-topic.test";               // consumes the notice topic, 192.0.2.70

    /// <summary>The order of the kills in each round: takedown first, while the first notices are being delivered.</summary>
    private static readonly string[] Victims =
        ["Pipeline.Takedown", "Pipeline.Intake", "Pipeline.Geolocation", "Pipeline.Classification", "Pipeline.Routing", "Pipeline.Recheck", "Pipeline.Sla"];

    /// <summary>Stages that restore state from a changelog when they start: each restart of one of these happens under a
    /// broker outage.</summary>
    private static readonly HashSet<string> Stateful = ["Pipeline.Classification", "Pipeline.Routing", "Pipeline.Takedown", "Pipeline.Recheck", "Pipeline.Sla"];

    /// <summary>Topics whose partition leaders are moved between faults (busy ones, inputs and state).</summary>
    private static readonly string[] LeaderTopics =
        [Topics.ReportsSubmitted, Topics.ReportsLocated, Topics.TakedownRequested, Topics.NoticesIssued, Topics.RoutingHeld, Topics.TakedownReminders, Topics.SlaOpen];

    [Fact]
    public async Task Every_stage_SIGKILLed_brokers_down_during_restore_and_leaders_moved_lose_nothing_and_no_notice_reaches_a_receiver_under_two_ids()
    {
        var total = TestWorld.Setting("PIPELINE_CHAOS_REPORTS", 700)!.Value;
        var rounds = TestWorld.Setting("PIPELINE_CHAOS_ROUNDS", 1)!.Value;
        var rate = TestWorld.Setting("PIPELINE_CHAOS_RATE", 150)!.Value;
        // PIPELINE_CHAOS_OUTAGES=0: no broker outage during the restores, to measure restart to ready under load alone.
        var withOutages = TestWorld.Setting("PIPELINE_CHAOS_OUTAGES", 1, min: 0, max: 1) == 1;
        var run = Guid.NewGuid().ToString("N")[..10];
        var clock = Stopwatch.StartNew();
        // PIPELINE_CHAOS_SUMMARY: a file that gets every line as it happens (the test's own output appears only at its end).
        var file = Environment.GetEnvironmentVariable("PIPELINE_CHAOS_SUMMARY");
        if (!string.IsNullOrEmpty(file)) File.WriteAllText(file, "");
        void Log(string line)
        {
            var stamped = $"[{clock.Elapsed.TotalSeconds,7:0.0} s] {line}";
            output.WriteLine(stamped);
            if (!string.IsNullOrEmpty(file)) lock (clock) File.AppendAllLines(file, [stamped]);
        }

        await using var smtp = new LoopbackSmtpServer();
        await using var hooks = await LoopbackWebhookReceiver.StartAsync(WebhookSecret);
        // A distinct known hash per report: the same content on the same host would be grouped into one case by intake.
        var known = Enumerable.Range(0, total).Select(_ => TestWorld.RandomHex(32)).ToArray();
        await using var pipeline = await RunningPipeline.StartAsync(backend,
            async p =>
            {
                for (var i = 0; i < known.Length; i += 5000)
                    await Task.WhenAll(known.Skip(i).Take(5000).Select(k => p.Publisher.PublishAsync(Topics.HashesKnown, $"police-nl:sha256:{k}", TestWorld.Known(k))));
            },
            config => Configure(config, smtp, hooks), new Dictionary<string, string> { ["Takedown__Delivery__Webhook__Secret"] = WebhookSecret });
        using var watch = backend.Watch(Topics.TakedownRequested, Topics.ExchangeOutbound, Topics.ReportsReview, Topics.PoliceReferrals,
            Topics.NoticesIssued, Topics.NoticeDeliveries);
        await watch.Assigned.WaitAsync(TimeSpan.FromSeconds(120));
        Log($"{RunningPipeline.Services.Length} services started on the {backend.Kind} backend; feeding {total:N0} reports at {rate}/s, {rounds} round(s) of faults");

        // The feed: a fixed rate, five kinds of report (home hoster by e-mail, by webhook, by topic; partner; nowhere).
        // It is released segment by segment: one segment per fault and one after the last, the next one as soon as a
        // fault has struck, so every fault meets reports in flight and reports keep arriving while the victim is down,
        // however fast this machine is.
        var faults = rounds * Victims.Length;
        var segment = total / (faults + 1);
        var released = segment;
        var fed = 0;
        var expected = new Dictionary<string, string>();
        var feed = Task.Run(async () =>
        {
            using var offered = OfferedLoad.PerSecond(rate);
            for (var i = 0; i < total; i++)
            {
                if (i >= Volatile.Read(ref released))
                {
                    await Polling.Until(() => i < Volatile.Read(ref released), TimeSpan.FromHours(3), () => "the next segment of the feed", TimeSpan.FromMilliseconds(10));
                }
                await offered.NextAsync();
                var (report, kind) = Mixed(run, i, known[i]);
                lock (expected) expected[report.report.reportId] = kind;
                _ = pipeline.Publisher.PublishAsync(Topics.ReportsSubmitted, report.report.reportId, report);
                Interlocked.Increment(ref fed);
            }
            pipeline.Publisher.Flush(TimeSpan.FromSeconds(60));
        });

        Dictionary<string, List<string>> Outcomes() => TestWorld.Outcomes(watch, run);
        List<TakedownNotice> Notices() => watch.Events<TakedownNotice>(Topics.NoticesIssued, n => n.url.Contains(run, StringComparison.Ordinal));
        int Received() => smtp.Messages.Count + hooks.Requests.Count;

        // The faults, spread over the feed.
        var restarts = new Dictionary<string, List<double>>();
        var faultWindows = new List<(DateTimeOffset From, DateTimeOffset To)>();
        var broker = 0;
        var (outages, leaderMoves, midDelivery) = (0, 0, 0);
        var random = new Random(20261203);
        for (var k = 0; k < faults; k++)
        {
            var victim = Victims[k % Victims.Length];
            // Spread over the stream by progress, not by time: each fault waits until half of its segment has an outcome.
            var at = k * segment + segment / 2;
            await Polling.Until(() => Outcomes().Count >= at, TimeSpan.FromMinutes(15),
                () => $"{at:N0} outcomes before fault {k + 1} ({victim}); {Outcomes().Count:N0} so far, fed {Volatile.Read(ref fed):N0}", TimeSpan.FromMilliseconds(500));
            if (victim == "Pipeline.Takedown")
            {
                // Mid-delivery: right after a receiver got a notice, while the stage is still recording it.
                var before = Received();
                try
                {
                    await Polling.Until(() => Received() > before, TimeSpan.FromSeconds(30), () => "a notice reaching a receiver", TimeSpan.FromMilliseconds(1));
                    midDelivery++;
                }
                catch (TimeoutException)
                {
                    Log("no notice reached a receiver for 30 s before the takedown kill: killed anyway");
                }
            }
            var killedAt = DateTimeOffset.UtcNow;
            pipeline[victim].Kill();
            Volatile.Write(ref released, k == faults - 1 ? total : (k + 2) * segment);
            Log($"SIGKILL {victim} (fed {Volatile.Read(ref fed):N0}, outcomes {Outcomes().Count:N0}, receptions {Received():N0})");

            var sw = Stopwatch.StartNew();
            var restart = pipeline.RestartAsync(victim, TimeSpan.FromMinutes(3));
            int? downBroker = null;
            if (withOutages && Stateful.Contains(victim) && backend.Cluster is { } cluster)
            {
                // A broker outage while the new process starts and restores its state.
                var id = broker++ % cluster.BrokerCount + 1;
                // Down once the new process has joined its consumer group (it logs "consuming" just before), so the outage
                // meets the assignment and the state restore that follows it.
                var starting = pipeline[victim];
                await Polling.Until(() => starting.HasExited || starting.Log.Contains(": consuming ", StringComparison.Ordinal), TimeSpan.FromSeconds(60),
                    () => $"{victim} starting to consume after its restart:\n{starting.Log}", TimeSpan.FromMilliseconds(20));
                var down = DateTimeOffset.UtcNow;
                cluster.SetBrokerDown(id);
                downBroker = id;
                Log($"broker {id} down while {victim} restores");
                await Task.Delay(TimeSpan.FromSeconds(5)); // the outage: a fixed 5 s, as an operator's maintenance would be
                cluster.SetBrokerUp(id);
                // An outage stalls acknowledgements: a takedown member that loses its group meanwhile hands its batches to
                // the next owner, which sends what was not yet recorded again (under the same id).
                faultWindows.Add((down, DateTimeOffset.UtcNow.AddSeconds(30)));
                outages++;
            }
            await restart;
            lock (restarts) (restarts.TryGetValue(victim, out var l) ? l : restarts[victim] = []).Add(sw.Elapsed.TotalSeconds);
            // Which of its consumer groups had their coordinator on the broker taken down: the embedded cluster never moves a
            // coordinator, so such a group can join only once the broker is back.
            var coordinated = downBroker is { } downId && backend.Cluster is { } clusterNow
                ? "; coordinator on the downed broker: " + (string.Join(", ", System.Text.RegularExpressions.Regex.Matches(pipeline[victim].Log, @" as group (\S+)")
                    .Select(m => m.Groups[1].Value).Distinct().Where(g => clusterNow.GroupCoordinator(g) == downId)) is { Length: > 0 } g ? g : "none of its groups")
                : "";
            Log($"{victim} ready again {sw.Elapsed.TotalSeconds:0.0} s after the kill{coordinated}");
            if (victim == "Pipeline.Takedown") faultWindows.Add((killedAt, DateTimeOffset.UtcNow.AddSeconds(30)));

            if (backend.Cluster is { } c)
            {
                var topic = LeaderTopics[random.Next(LeaderTopics.Length)];
                var partition = random.Next(PartitionCount(topic));
                var leader = random.Next(c.BrokerCount) + 1;
                c.SetPartitionLeader(topic, partition, leader);
                leaderMoves++;
                Log($"leader of {topic}[{partition}] moved to broker {leader}");
            }
        }
        var lastFault = Stopwatch.StartNew();
        await feed;
        Log($"all {total:N0} reports fed");

        // Drain: every report has its outcome, every first notice its SENT record, every e-mail/webhook notice a reception.
        var takedowns = 0;
        lock (expected) takedowns = expected.Count(e => e.Value.StartsWith("takedown", StringComparison.Ordinal));
        HashSet<string> Sent() => watch.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.status == DeliveryStatus.SENT).Select(d => d.noticeId).ToHashSet();
        string Progress()
        {
            var notices = Notices();
            var sent = Sent();
            return $"outcomes {Outcomes().Count:N0} of {total:N0}; cases noticed {notices.Select(n => n.caseKey).Distinct().Count():N0} of {takedowns:N0}; " +
                   $"notices without a SENT record {notices.Count(n => !sent.Contains(n.noticeId)):N0}; watcher errors {watch.ConsumerErrors}";
        }
        var nextProgress = Stopwatch.StartNew();
        try
        {
            await Polling.Until(() =>
            {
                if (watch.Failure is { } f) throw new InvalidOperationException("the topic watcher stopped", f);
                if (nextProgress.Elapsed > TimeSpan.FromSeconds(15)) { Log("draining: " + Progress()); nextProgress.Restart(); }
                if (Outcomes().Count < total) return false;
                var notices = Notices();
                if (notices.Select(n => n.caseKey).Distinct().Count() < takedowns) return false;
                var sent = Sent();
                return notices.All(n => sent.Contains(n.noticeId));
            }, TimeSpan.FromMinutes(Math.Max(5, total / 2000.0)), Progress, TimeSpan.FromSeconds(1));
        }
        finally
        {
            Log("drain: " + Progress());
        }
        var drain = lastFault.Elapsed;

        // The receivers' view: which ids each notice arrived under, and when.
        var receptions = Receptions(smtp, hooks).ToList();
        var byNotice = receptions.GroupBy(r => r.Notice).ToDictionary(g => g.Key, g => g.ToList());
        var issued = Notices();
        var outbound = issued.Where(n => n.recipient.channel is NoticeChannel.EMAIL or NoticeChannel.WEBHOOK).ToList();
        var neverReceived = outbound.Count(n => !byNotice.ContainsKey(n.noticeId));
        var twice = byNotice.Where(g => g.Value.Count > 1).ToList();
        var twoKeys = byNotice.Where(g => g.Value.Select(r => r.Key).Distinct().Count() > 1).Select(g => g.Key).ToList();
        bool InFaultWindow(DateTimeOffset t) => faultWindows.Any(w => t >= w.From && t <= w.To);
        var outsideWindow = twice.Where(g => g.Value.OrderBy(r => r.At).Skip(1).Any(r => !InFaultWindow(r.At))).Select(g => g.Key).ToList();
        var sentIds = Sent();
        var recordsLost = issued.Count(n => !sentIds.Contains(n.noticeId));
        var outcomes = Outcomes();
        var one = outcomes.Count(o => o.Value.Count == 1);
        var more = outcomes.Count(o => o.Value.Count > 1);
        var wrong = outcomes.Where(o => !expected[o.Key].StartsWith(o.Value[0].Split(':')[0], StringComparison.Ordinal)).Select(o => o.Key).ToList();
        var firstNoticeIdsPerCase = issued.Where(n => n.kind == NoticeKind.FIRST).GroupBy(n => n.caseKey).Count(g => g.Select(n => n.noticeId).Distinct().Count() > 1);

        var summary = new List<string>
        {
            $"fault run: {total:N0} reports fed at {rate}/s on the {backend.Kind} backend ({PartitionCount(Topics.ReportsSubmitted)} partitions per topic), " +
            $"{faults} SIGKILLs ({midDelivery} of takedown right after a notice reached a receiver), {outages} broker outages of 5 s during a state restore, {leaderMoves} leader moves",
            $"reports: {one:N0} with exactly one outcome, {total - outcomes.Count:N0} with none, {more:N0} with more; {wrong.Count} with the wrong kind",
            $"notices: {issued.Count:N0} issued ({outbound.Count:N0} by e-mail or webhook, {issued.Count - outbound.Count:N0} on the topic), " +
            $"{receptions.Count:N0} receptions at the loopback SMTP server and webhook receiver; {twice.Count} received more than once, " +
            $"{twoKeys.Count} under more than one Message-ID/Idempotency-Key, {outsideWindow.Count} re-sent outside a fault window (takedown kill → ready + 30 s, broker down → up + 30 s), {neverReceived} never received",
            $"delivery records lost (issued, no SENT on {Topics.NoticeDeliveries}): {recordsLost}; cases with two first-notice ids: {firstNoticeIdsPerCase}",
            $"restart to ready after SIGKILL (process start, group join, state restored; {(withOutages ? "stateful stages under a 5 s broker outage" : "no broker outage")}): " +
            string.Join(", ", Victims.Where(restarts.ContainsKey).Select(v => $"{v["Pipeline.".Length..].ToLowerInvariant()} {Median(restarts[v]):0.0} s (max {restarts[v].Max():0.0} s)")),
            $"drain after the last fault: {drain.TotalSeconds:0.0} s; whole run {clock.Elapsed.TotalMinutes:0.0} min",
        };
        foreach (var line in summary) Log(line);

        Assert.Equal(total, one);
        Assert.Empty(wrong);
        // One notice under two ids would reach a desk that de-duplicates by Message-ID / Idempotency-Key twice. The batch id
        // is fixed in the members' state before the batch is sent, and an effect starts only once that state is written.
        Assert.True(twoKeys.Count == 0, "notices received under more than one id: " + string.Join("; ", twoKeys.Take(5).Select(n => n + " as " + string.Join(", ", byNotice[n].Select(r => r.Key).Distinct()))));
        Assert.True(outsideWindow.Count == 0, "notices re-sent outside a fault window: " + string.Join("; ", outsideWindow.Take(5).Select(n => n + " at " + string.Join(", ", byNotice[n].Select(r => r.At.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture))))));
        Assert.Equal(0, neverReceived);
        Assert.Equal(0, recordsLost);
        Assert.Equal(0, firstNoticeIdsPerCase);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private readonly Dictionary<string, int> partitionCounts = [];

    /// <summary>The topic's partition count on the backend (PIPELINE_TEST_PARTITIONS may have changed the catalog's),
    /// asked once per topic.</summary>
    private int PartitionCount(string topic)
    {
        if (partitionCounts.TryGetValue(topic, out var known)) return known;
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = backend.BootstrapServers }).Build();
        return partitionCounts[topic] = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Count;
    }

    /// <summary>Report <paramref name="i"/> of the run and the outcome it must reach.</summary>
    private static (ReportSubmitted Report, string Kind) Mixed(string run, int i, string sha256)
    {
        var (url, kind) = (i % 5) switch
        {
            0 => ($"http://{MailHost(i / 5 % Desks)}/{run}/{i}.jpg", "takedown"),
            1 => ($"http://{HookHost(i / 5 % Desks)}/{run}/{i}.jpg", "takedown"),
            2 => ($"http://{TopicHost}/{run}/{i}.jpg", "takedown"),
            3 => ($"http://{TestWorld.PartnerHost}/{run}/{i}.jpg", "forward"),
            _ => ($"http://{TestWorld.NoPartnerHost}/{run}/{i}.jpg", "review"),
        };
        return (TestWorld.Report($"{run}-{i:D6}", url, sha256), kind);
    }

    /// <summary>Home hosters with their own abuse desks (e-mail, webhook, topic), real delivery to the loopback receivers, quick
    /// retries and short batch windows (so kills land inside batches), and a recheck slow enough not to swamp two cores.</summary>
    private static void Configure(JsonObject config, LoopbackSmtpServer smtp, LoopbackWebhookReceiver hooks)
    {
        var geo = config["Geolocation"]!.AsObject();
        var web = config["Recheck"]!["ResolveOverrides"]![TestWorld.HomeHosterHost]!.GetValue<string>();
        void Hoster(string host, string ip, int asn, string id, string address, string channel)
        {
            geo["Hosts"]![host] = new JsonArray(ip);
            config["Recheck"]!["ResolveOverrides"]![host] = web;
            geo["Networks"]!.AsArray().Add(new JsonObject
            {
                ["Prefix"] = ip + "/32", ["Asn"] = asn, ["AsOrganisation"] = $"{id} (test)", ["Country"] = "NL",
                ["HosterId"] = id, ["HosterName"] = id, ["AbuseAddress"] = address, ["AbuseChannel"] = channel,
            });
        }
        for (var d = 0; d < Desks; d++)
        {
            Hoster(MailHost(d), $"192.0.2.{100 + d}", 64497, $"nl-mail-{d}", $"abuse@nl-mail-{d}.test", "Email");
            Hoster(HookHost(d), $"192.0.2.{200 + d}", 64498, $"nl-hook-{d}", $"{hooks.BaseUrl}/abuse/nl-hook-{d}", "Webhook");
        }
        Hoster(TopicHost, "192.0.2.70", 64499, "nl-topic", "nl-topic", "Topic");
        config["Takedown"]!["Delivery"] = new JsonObject
        {
            ["Smtp"] = new JsonObject { ["Host"] = "127.0.0.1", ["Port"] = smtp.Port, ["Security"] = "None", ["Timeout"] = "00:00:30" },
            ["Webhook"] = new JsonObject { ["Timeout"] = "00:00:20" },
            ["InitialBackoff"] = "00:00:00.500", ["MaxBackoff"] = "00:00:05", ["MaxAttempts"] = 20, ["BatchWindow"] = "00:00:00.500",
        };
        var recheck = config["Recheck"]!.AsObject();
        recheck["FirstCheckAfter"] = "00:00:05";
        recheck["Interval"] = "00:10:00";
        config["Logging"] = new JsonObject { ["LogLevel"] = new JsonObject { ["Default"] = "Warning", ["Pipeline"] = "Information", ["Microsoft.Hosting.Lifetime"] = "Information" } };
    }

    /// <summary>Every notice each receiver got, with the id it came under (Message-ID, Idempotency-Key) and when.</summary>
    private static IEnumerable<(string Notice, string Key, DateTimeOffset At)> Receptions(LoopbackSmtpServer smtp, LoopbackWebhookReceiver hooks)
    {
        foreach (var m in smtp.Messages)
        {
            var ids = m.Message.Headers["X-Notice-Ids"] ?? m.Message.Headers["X-Notice-Id"] ?? "";
            foreach (var id in ids.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                yield return (id, m.Message.MessageId ?? "", m.At);
        }
        foreach (var r in hooks.Requests.Where(r => r.SignatureValid))
        {
            foreach (var report in r.Reports())
                yield return (report["report_id"]!.GetValue<string>(), r.IdempotencyKey ?? "", r.At);
        }
    }
}
