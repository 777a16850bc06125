using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Audit;
using Pipeline.Cli.Commands;
using Pipeline.Inspection.Transparency;
using Pipeline.Classification;
using Pipeline.Contracts;
using Pipeline.Geolocation;
using Pipeline.Geolocation.Simulation;
using Pipeline.Loopback;
using Pipeline.Intake;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.Recheck;
using Pipeline.Routing;
using Pipeline.Sla;
using Pipeline.Takedown;

namespace Pipeline.Cli.Demo;

/// <summary>`pipeline demo`: every service in one process over the embedded runtime, fed with synthetic reports,
/// on a clock that runs <c>--speed</c> times faster than real time.</summary>
public static class DemoCommand
{
    private const int MaxOpenReports = 4000;

    /// <param name="Report">where the run's transparency report (HTML) is written</param>
    public sealed record Settings(double Rate, double Duration, double Speed, double Drain, int Port, int Seed, int KnownHashes, int RawBenchMessages, bool StopWhenDone = false,
        string? Report = null, int ConsolePort = -1);

    public static string DefaultReportPath { get; } = Path.Combine(Path.GetTempPath(), "pipeline-demo", "transparency-report.html");

    private static readonly DateTimeOffset ClockStart = new(2026, 11, 2, 8, 0, 0, TimeSpan.Zero);

    public static async Task<int> RunAsync(Settings s, CancellationToken ct)
    {
        var c = CultureInfo.InvariantCulture;
        if (s.RawBenchMessages is < 0 or > RawKafkaBench.MaxMessages)
            throw new ArgumentException($"--raw-bench {s.RawBenchMessages} is outside 0–{RawKafkaBench.MaxMessages}. Fix: 0 skips the raw measurement; the embedded cluster keeps about 5 MiB per partition, so more would lose records before they are read.");
        Console.WriteLine($"pipeline demo: {s.Rate.ToString(c)} reports/s for {s.Duration.ToString(c)} s, clock ×{s.Speed.ToString(c)} " +
                          $"(1 s = {SyntheticFeed.Describe(TimeSpan.FromSeconds(s.Speed))}), then {s.Drain.ToString(c)} s to drain. Synthetic data only.");
        await using var runtime = await EmbeddedRuntime.StartAsync(3, ct);
        Console.WriteLine($"embedded Kafka: {runtime.BootstrapServers}   schema registry: {runtime.SchemaRegistryUrl}   topics: {runtime.Cluster.Topics.Count}");

        RawKafkaBench.Result? raw = null;
        if (s.RawBenchMessages > 0)
        {
            raw = RawKafkaBench.Run(runtime.Cluster, s.RawBenchMessages);
            Console.WriteLine($"embedded cluster raw speed ({raw.Messages:N0} × 300 B, steady state): produce {raw.ProduceRate:N0} msg/s, consume {raw.ConsumeRate:N0} msg/s (the consumer's group join before its first record: {raw.JoinMilliseconds:0} ms)");
        }

        var clock = new AcceleratedTimeProvider(ClockStart, s.Speed);
        var web = new SimulatedWeb(clock, s.Seed);
        // The mover's sites are in DNS (a loopback server; nothing leaves the machine), its desk on e-mail (a loopback relay).
        await using var dns = new LoopbackDnsServer();
        await using var smtp = new LoopbackSmtpServer();
        await using var registry = await LoopbackRdapServer.StartAsync(); // the registrars of the world's domains
        DemoWorld.AddRegistrars(registry);
        var move = new DemoMove(dns);
        var builder = PipelineHost.CreateBuilder([$"--urls=http://127.0.0.1:{s.Port}"]);
        builder.Configuration.AddInMemoryCollection(runtime.Configuration);
        builder.Configuration.AddInMemoryCollection(DemoWorld.Configuration(dns.Address, smtp.Port, registry.BaseUrl));
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        });
        builder.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock));
        builder.Services.AddSingleton<IContentProbe>(web);
        builder.AddIntake().AddGeolocation().AddClassification().AddRouting().AddTakedown().AddNoticeDelivery().AddRecheck().AddSla().AddAudit();
        await using var app = builder.Build();

        var kafka = app.Services.GetRequiredService<IOptions<KafkaOptions>>().Value;
        var serdes = app.Services.GetRequiredService<AvroSerdes>();
        var known = SyntheticFeed.RandomHashes(s.KnownHashes, s.Seed + 1000);
        await SeedBankAsync(app.Services.GetRequiredService<EventPublisher>(), known, clock, ct);
        Console.WriteLine($"hash bank: {known.Count:N0} synthetic SHA-256 entries in {Topics.HashesKnown}");

        using var observer = new DemoObserver(kafka, serdes);
        var started = Stopwatch.StartNew();
        app.MapGet("/", () => Results.Text(Status(observer, clock, started.Elapsed), "text/plain"));
        await app.StartAsync(ct);
        await WaitUntilReadyAsync(app.Services.GetRequiredService<StageHealth>(), ct);
        var url = app.Urls.First(); // the bound address: --port 0 takes a free port
        Console.WriteLine($"all stages consuming after {started.Elapsed.TotalSeconds:0.0} s; metrics at {url}/metrics, status at {url}/");
        await using var console = s.ConsolePort >= 0 ? await StartConsoleAsync(runtime, s.ConsolePort, ct) : null;
        observer.Start();
        web.StartDesks(kafka, serdes);
        // The hotline's own network fails for half an hour, two hours (stage clock) into the feed: URLs are being checked.
        web.ScheduleOutage(TimeSpan.FromHours(2), TimeSpan.FromMinutes(30));

        var feed = new SyntheticFeed(s.Seed, known, clock);
        using var producer = KafkaClients.Producer(kafka, "demo-feed");
        var submitted = 0;
        var produceErrors = 0;
        // A fixed rate feeds rate × duration reports, paced at the rate: on a machine too loaded to keep the pace the feed
        // takes longer rather than sending fewer (a loaded CI machine once spent the whole 5 s on the first serialisation
        // and fed a single report). --rate 0 is bounded by time.
        var target = s.Rate > 0 ? (int)Math.Ceiling(s.Rate * s.Duration) : int.MaxValue;
        var feedClock = Stopwatch.StartNew();
        var nextProgress = TimeSpan.FromSeconds(2);
        Header();
        while ((s.Rate > 0 ? submitted < target : feedClock.Elapsed.TotalSeconds < s.Duration) && !ct.IsCancellationRequested)
        {
            // --rate 0: as fast as the pipeline finishes reports, with at most MaxOpenReports in flight, so the
            // embedded cluster's ~5 MiB per partition is never outrun (it would evict unread reports).
            var finished = observer.ReportsWithOutcome + (int)observer.Count(Topics.DeadLetter("intake"));
            var due = s.Rate <= 0 ? Math.Min(submitted + 500, finished + MaxOpenReports) : Math.Min(target, (int)(s.Rate * feedClock.Elapsed.TotalSeconds) + 1);
            while (submitted < due)
            {
                var item = feed.Next();
                var value = item.Malformed ?? await serdes.SerializeAsync(item.Report!, Topics.ReportsSubmitted);
                ProduceSubmission(producer, item.Key, value, () => Interlocked.Increment(ref produceErrors));
                submitted++;
            }
            if (feedClock.Elapsed >= nextProgress)
            {
                Progress(observer, clock, feedClock.Elapsed);
                nextProgress += TimeSpan.FromSeconds(2);
            }
            move.MoveIfDue(clock.GetUtcNow().UtcDateTime);
            await Task.Delay(s.Rate <= 0 ? 1 : 10, ct);
        }
        producer.Flush(TimeSpan.FromSeconds(30));
        var feedSeconds = feedClock.Elapsed.TotalSeconds;

        // Drain: every report must reach an outcome; then let the clock run so hosters act and rechecks see it.
        TimeSpan? allDone = null;
        var drainUntil = feedClock.Elapsed + TimeSpan.FromSeconds(s.Drain);
        while (feedClock.Elapsed < drainUntil && !ct.IsCancellationRequested)
        {
            if (allDone is null && observer.ReportsWithOutcome + observer.Count(Topics.DeadLetter("intake")) >= submitted) allDone = feedClock.Elapsed;
            // Done means every report has an outcome and notices have begun to go out (a notice waits
            // for its abuse desk's batching window; a fast pipeline reaches every outcome before the first one closes).
            if (allDone is not null && s.StopWhenDone
                && (observer.Count(Topics.TakedownRequested) == 0 || observer.Count(Topics.NoticesIssued) > 0) && MoveSettled(observer, move, clock)) break;
            if (feedClock.Elapsed >= nextProgress)
            {
                Progress(observer, clock, feedClock.Elapsed);
                nextProgress += TimeSpan.FromSeconds(2);
            }
            move.MoveIfDue(clock.GetUtcNow().UtcDateTime);
            await Task.Delay(100, ct);
        }
        Progress(observer, clock, feedClock.Elapsed);
        Summary(observer, submitted, produceErrors, feedSeconds, allDone, raw, clock);
        OutageSummary(observer, web);
        await MoveSummaryAsync(observer, move, ct);
        var reported = await WriteReportAsync(kafka, serdes, clock, s.Report ?? DefaultReportPath, ct);
        web.Dispose();
        await app.StopAsync(CancellationToken.None);
        return produceErrors == 0 && allDone is not null && reported ? 0 : 1;
    }

    /// <summary>The operator console beside the stages, on the wall clock (a session of 30 minutes on the demo's ×3600 clock
    /// would last half a second), with a demo analyst, manager and admin whose password is made for this run and printed.</summary>
    private static async Task<WebApplication?> StartConsoleAsync(EmbeddedRuntime runtime, int port, CancellationToken ct)
    {
        var password = "demo-" + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();
        var hash = Pipeline.Operator.PasswordHashes.Hash(password);
        var settings = new Dictionary<string, string?>(runtime.Configuration)
        {
            ["urls"] = $"http://127.0.0.1:{port}",
            ["Console:SecureCookies"] = "false", // plain HTTP on loopback
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        };
        string[] users = ["demo-analyst", "demo-manager", "demo-admin"];
        for (var i = 0; i < users.Length; i++)
        {
            settings[$"Console:Users:{i}:Name"] = users[i];
            settings[$"Console:Users:{i}:PasswordHash"] = hash;
            settings[$"Console:Users:{i}:Roles:0"] = users[i]["demo-".Length..];
        }
        var console = Pipeline.Operator.ConsoleApp.Create([], settings);
        try
        {
            await console.StartAsync(ct);
        }
        catch (IOException e)
        {
            // The demo runs on without it: a taken port should not cost the whole run.
            Console.WriteLine($"operator console NOT served on port {port}: {e.Message} (--console-port 0 takes a free port)");
            await console.DisposeAsync();
            return null;
        }
        Console.WriteLine($"operator console at {console.Urls.First()}/  users {string.Join(", ", users)}, password {password} (this run only)");
        return console;
    }

    /// <summary>The run's transparency report, computed from the topics as `pipeline report` does, over the simulated clock's
    /// whole run; its path is the summary's last line.</summary>
    private static async Task<bool> WriteReportAsync(KafkaOptions kafka, AvroSerdes serdes, TimeProvider clock, string path, CancellationToken ct)
    {
        try
        {
            var took = Stopwatch.StartNew();
            var history = await Task.Run(() => ReportCommand.Read(kafka, serdes, ct), ct);
            var figures = TransparencyFigures.Compute(history, ClockStart.UtcDateTime, clock.GetUtcNow().UtcDateTime.AddMinutes(1), anonymous: false);
            path = Path.GetFullPath(path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllTextAsync(path, TransparencyReportFormats.Html(figures), ct);
            Console.WriteLine($"transparency report      {path}   ({figures.ReportsReceived:N0} reports received, {figures.FirstNotices:N0} notices, median removal {TransparencyReportFormats.Hours(figures.FromNotice.MedianHours)} from the notice; "
                + $"{history.Count:N0} events read and computed in {took.Elapsed.TotalSeconds:0.0} s)");
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.WriteLine($"transparency report      NOT written to {path}: {e.GetType().Name}: {e.Message}");
            return false;
        }
    }

    /// <summary>Sends one submission without waiting for its acknowledgement (the feed of the demo and of bench pipeline),
    /// waiting only while the producer's queue is full.</summary>
    internal static void ProduceSubmission(IProducer<byte[]?, byte[]?> producer, string key, byte[] value, Action onError)
    {
        var message = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = value };
        while (true)
        {
            try
            {
                producer.Produce(Topics.ReportsSubmitted, message, r => { if (r.Error.IsError) onError(); });
                return;
            }
            catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                Thread.Sleep(2);
            }
        }
    }

    internal static async Task SeedBankAsync(EventPublisher publisher, IReadOnlyList<string> hashes, TimeProvider clock, CancellationToken ct)
    {
        var banks = new[] { "police-nl", "iwf", "ncmec" };
        var tasks = hashes.Select((h, i) =>
        {
            var entry = new KnownHash
            {
                eventId = EventIds.Derive("known-hash", banks[i % 3], h),
                algorithm = HashAlgorithm.SHA256, value = h, bank = banks[i % 3], category = "A1",
                addedBy = "demo-seed", addedAt = clock.GetUtcNow().UtcDateTime, reference = $"demo-{i}",
            };
            return publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(entry), entry, ct: ct);
        });
        await Task.WhenAll(tasks);
    }

    internal static async Task WaitUntilReadyAsync(StageHealth health, CancellationToken ct)
    {
        // Generous: on a loaded 2-core machine every stage joining its group has taken over 20 s.
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline)
        {
            var states = health.Snapshot;
            if (states.Count >= 7 && states.Values.All(v => v.Running && v.Joined)) return;
            if (states.Values.FirstOrDefault(v => v.Failure is not null) is { } failed) throw new InvalidOperationException("A stage failed to start: " + failed.Failure);
            await Task.Delay(100, ct);
        }
        var waiting = health.Snapshot.Where(s => !(s.Value.Running && s.Value.Joined)).Select(s => s.Key);
        throw new TimeoutException("Waited 3 minutes for every stage to join its consumer group; still waiting for: " + string.Join(", ", waiting) + ". Is the machine overloaded?");
    }

    private static void Header() =>
        Console.WriteLine($"{"real",6} {"sim clock",-16} {"submitted",9} {"accepted",8} {"rejected",8} {"located",8} {"classified",10} {"notices",7} {"police",6} {"forward",7} {"review",6} {"checks",7} {"removed",7} {"dlq",4}");

    private static void Progress(DemoObserver o, TimeProvider clock, TimeSpan real) =>
        Console.WriteLine($"{real.TotalSeconds,5:0}s {clock.GetUtcNow():MM-dd HH:mm}      {o.Count(Topics.ReportsSubmitted),9} {o.Count(Topics.ReportsAccepted),8} " +
                          $"{o.Count(Topics.ReportsRejected),8} {o.Count(Topics.ReportsLocated),8} {o.Count(Topics.ReportsClassified),10} " +
                          $"{o.Count(Topics.NoticesIssued),7} {o.Count(Topics.PoliceReferrals),6} {o.Count(Topics.ExchangeOutbound),7} " +
                          $"{o.Count(Topics.ReportsReview),6} {o.Count(Topics.ContentStatus),7} {o.Count(Topics.NoticeOutcomes),7} {o.DeadLetters,4}");

    private static string Status(DemoObserver o, TimeProvider clock, TimeSpan real)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"pipeline demo — running {real.TotalSeconds:0} s, simulated clock {clock.GetUtcNow():yyyy-MM-dd HH:mm} UTC");
        foreach (var topic in DemoObserver.Watched) text.AppendLine(CultureInfo.InvariantCulture, $"{topic,-32} {o.Count(topic),8}");
        return text.ToString();
    }

    private static void Summary(DemoObserver o, int submitted, int produceErrors, double feedSeconds, TimeSpan? allDone, RawKafkaBench.Result? raw, TimeProvider clock)
    {
        var outcomes = o.Outcomes;
        var fromNotice = outcomes.Select(x => TimeSpan.FromMilliseconds(x.timeToRemovalFromNoticeMs)).Order().ToList();
        var fromReport = outcomes.Select(x => TimeSpan.FromMilliseconds(x.timeToRemovalFromReportMs)).Order().ToList();
        var notices = o.FirstNotices;
        Console.WriteLine();
        Console.WriteLine("── summary ─────────────────────────────────────────────────────────────");
        Console.WriteLine($"reports in               {submitted,8:N0}   (producer errors: {produceErrors})");
        Console.WriteLine($"rejected by intake       {o.Count(Topics.ReportsRejected),8:N0}   (with reason codes on {Topics.ReportsRejected})");
        Console.WriteLine($"dead-lettered            {o.DeadLetters,8:N0}   (not Avro at all; kept with origin on deadletter.*)");
        Console.WriteLine($"accepted                 {o.Count(Topics.ReportsAccepted),8:N0}");
        Console.WriteLine($"takedown notices         {notices,8:N0}   (first notices; reminders: {o.Reminders:N0})");
        Console.WriteLine($"police referrals         {o.Count(Topics.PoliceReferrals),8:N0}");
        Console.WriteLine($"partner forwards         {o.Count(Topics.ExchangeOutbound),8:N0}");
        Console.WriteLine($"review queue             {o.Count(Topics.ReportsReview),8:N0}");
        foreach (var (outcome, count) in o.OutcomeCounts.OrderByDescending(x => x.Value))
            Console.WriteLine($"  outcome: {outcome,-30} {count,6:N0}");
        Console.WriteLine($"reports with an outcome  {o.ReportsWithOutcome + o.Count(Topics.DeadLetter("intake")),8:N0} of {submitted:N0}");
        Console.WriteLine($"removals observed        {outcomes.Count,8:N0} of {notices:N0} notices; still online at the end: {notices - outcomes.Count:N0}");
        if (fromNotice.Count > 0)
        {
            Console.WriteLine($"time to removal (notice) median {SyntheticFeed.Describe(Percentile(fromNotice, 0.5))}, p90 {SyntheticFeed.Describe(Percentile(fromNotice, 0.9))}");
            Console.WriteLine($"time to removal (report) median {SyntheticFeed.Describe(Percentile(fromReport, 0.5))}, p90 {SyntheticFeed.Describe(Percentile(fromReport, 0.9))}");
            var within = outcomes.Count(x => x.withinNorm);
            Console.WriteLine($"removed within 24 h      {100.0 * within / Math.Max(1, notices),7:0.0} % of notices ({within:N0}); {100.0 * within / outcomes.Count:0.0} % of observed removals");
        }
        Console.WriteLine($"deadline breaches        {o.SlaEvents(SlaEventKind.DEADLINE_BREACHED),8:N0}   (SLA events at the 24 h deadline; escalated to the authority: {o.SlaEvents(SlaEventKind.ESCALATED):N0})");
        Console.WriteLine("per hoster (notices, removed, median, within 24 h):");
        var byHoster = outcomes.GroupBy(x => x.hosterId ?? "unknown").ToDictionary(g => g.Key, g => g.ToList());
        foreach (var (hoster, count) in o.NoticesByHoster.OrderBy(h => h.Key))
        {
            var removed = byHoster.GetValueOrDefault(hoster) ?? [];
            var median = removed.Count == 0 ? "-" : SyntheticFeed.Describe(Percentile(removed.Select(x => TimeSpan.FromMilliseconds(x.timeToRemovalFromNoticeMs)).Order().ToList(), 0.5));
            Console.WriteLine($"  {hoster,-14} {count,6:N0} {removed.Count,6:N0} {median,9} {100.0 * removed.Count(x => x.withinNorm) / Math.Max(1, count),6:0.0} %");
        }
        if (allDone is { } done)
            Console.WriteLine($"end-to-end: {submitted:N0} reports reached an outcome {done.TotalSeconds:0.0} s after the feed began → {submitted / done.TotalSeconds:N0} reports/s (offered {submitted / feedSeconds:N0}/s)");
        else
        {
            Console.WriteLine("end-to-end: NOT every report reached an outcome before the drain ended (a longer --drain may help); without an outcome yet:");
            foreach (var (id, last) in o.WithoutOutcome.Take(10)) Console.WriteLine($"  {id,-24} last seen on {last}");
        }
        if (raw is not null)
            Console.WriteLine($"embedded cluster raw: produce {raw.ProduceRate:N0} msg/s, consume {raw.ConsumeRate:N0} msg/s (same run, steady state)");
        Console.WriteLine($"simulated clock at the end: {clock.GetUtcNow():yyyy-MM-dd HH:mm} UTC");
    }

    /// <summary>Done with the move: it did not happen (no report of the mover), or its MOVED notices were all re-routed (and
    /// routing decided each; a loaded machine may need a while), or two days passed on the stage clock without any MOVED
    /// (notices sent before the move meet it at their first reminder, a day later).</summary>
    private static bool MoveSettled(DemoObserver o, DemoMove move, TimeProvider clock) =>
        move.MovedAt is not { } at
        || (o.Moved > 0 ? o.Moved == o.Rerouted && o.ReroutedForwards + o.ReroutedNotices >= o.Rerouted
            : clock.GetUtcNow().UtcDateTime > at + TimeSpan.FromDays(2));

    /// <summary>How the pipeline took the hoster that moved abroad: notices not sent (MOVED) and cases routed again. A
    /// MOVED record can still arrive after the run was found settled (a reminder of a notice sent before the move meets it
    /// at any time): its re-route is waited for, up to 30 s, and the line is printed from one reading of the counts.</summary>
    private static async Task MoveSummaryAsync(DemoObserver o, DemoMove move, CancellationToken ct)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while ((o.Moved != o.Rerouted || o.ReroutedForwards + o.ReroutedNotices < o.Rerouted) && waited.Elapsed < TimeSpan.FromSeconds(30))
            await Task.Delay(100, ct);
        var (moved, rerouted, forwards, noticed, movedNotices) = (o.Moved, o.Rerouted, o.ReroutedForwards, o.ReroutedNotices, o.MovedNotices);
        var mover = DemoWorld.Mover;
        var to = DemoWorld.MovesTo;
        var when = move.MovedAt is { } at ? $"at {at:MM-dd HH:mm} (sim clock)" : "(not yet: the run ended first)";
        var handled = moved == rerouted ? "handled" : $"{moved - rerouted:N0} re-routes still under way";
        Console.WriteLine($"hoster moved abroad      {mover.Id} → {to.Id} ({to.Country}) {when}: {movedNotices:N0} notices not sent (MOVED) for {moved:N0} cases, "
            + $"{rerouted:N0} cases re-routed ({forwards:N0} forwarded to {DemoWorld.Partners[to.Country]}, {noticed:N0} noticed at home); {handled}");
    }

    /// <summary>How the recheck took the own-network outage: every check during it could not look, and none counted.</summary>
    private static void OutageSummary(DemoObserver o, SimulatedWeb web)
    {
        if (web.Outage is not { } outage) return;
        var during = o.Observations.Where(x => x.At >= outage.From && x.At < outage.To).ToList();
        var blind = during.Count(x => x.Status == ContentStatus.NETWORK_DOWN);
        var removed = during.Count(x => x.RemovalConfirmed);
        // A check that ended just before the cut may be recorded in it (online); one cut at the very end may meet a control
        // round after the network is back and count one miss: three in a row are needed, so no removal comes of it.
        var misses = during.Count(x => new ProbeResult(x.Status, null).IsMiss);
        Console.WriteLine($"own-network outage       {outage.From:MM-dd HH:mm}–{outage.To:HH:mm} (sim clock): {web.ProbesDuringOutage:N0} connections refused; {blind:N0} checks recorded NETWORK_DOWN, "
            + $"{misses:N0} counted as misses, {removed:N0} removals confirmed in it{(web.ProbesDuringOutage == 0 ? " (no check fell in it: the run was too short)" : removed == 0 ? ": handled, nothing marked removed" : ": NOT handled")}");
    }

    private static TimeSpan Percentile(List<TimeSpan> sorted, double p) =>
        sorted.Count == 0 ? TimeSpan.Zero : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
}
