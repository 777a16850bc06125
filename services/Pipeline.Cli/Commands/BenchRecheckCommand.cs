using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pipeline.Contracts;
using Pipeline.Loopback;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.Recheck;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline bench recheck`: rechecks per second. --urls noticed URLs over --hosts host names, all due at once, are
/// checked by the recheck stage (HEAD over HTTP to a simulated hoster web server on 127.0.0.1; every other URL is
/// removed, so both answers occur) and each observation is acknowledged on content.status.v1. Politeness is set by
/// --per-host-concurrency and --per-host-spacing-ms (0 = off, so the figure is the stage's own ceiling).
/// Prints figures; never fails on timing.
/// </summary>
public static class BenchRecheckCommand
{
    public sealed record Settings(int Urls, int Hosts, int Concurrency, int PerHostConcurrency, int PerHostSpacingMs);

    public static async Task<int> RunAsync(Settings bench, CancellationToken ct)
    {
        // 10,000 notices (~1.5 KB each) fit in the embedded cluster's ~5 MiB per partition; they are produced before the stage
        // starts, so more would be evicted before they are read and the bench would wait for checks that never come.
        var (urls, hosts, concurrency, perHost, spacingMs) = (bench.Urls, bench.Hosts, bench.Concurrency, bench.PerHostConcurrency, bench.PerHostSpacingMs);
        if (urls < 1 || hosts < 1 || concurrency < 1 || perHost < 1 || perHost > concurrency || spacingMs < 0)
            throw new ArgumentException("--urls, --hosts, --concurrency and --per-host-concurrency (≤ --concurrency) must be ≥ 1 and --per-host-spacing-ms ≥ 0. Fix: e.g. pipeline bench recheck --urls 10000 --hosts 500 --concurrency 64.");

        await using var runtime = await EmbeddedRuntime.StartAsync(3, ct);
        await using var web = await HosterWeb.StartAsync();
        using var clients = PipelineClients.For(runtime, "bench-recheck");
        var now = DateTime.UtcNow;
        var host = (int i) => $"www.bench-host{i % hosts}.example";
        var notices = Enumerable.Range(0, urls).Select(i => Notice($"http://{host(i)}/m/{i}.jpg", now)).ToList();
        foreach (var n in notices.Where((_, i) => i % 2 == 1)) web.Remove(n.url);

        var settings = new Dictionary<string, string?>
        {
            ["Recheck:FirstCheckAfter"] = "00:00:00",
            ["Recheck:Concurrency"] = concurrency.ToString(CultureInfo.InvariantCulture),
            ["Recheck:PerHostConcurrency"] = perHost.ToString(CultureInfo.InvariantCulture),
            ["Recheck:PerHostSpacing"] = TimeSpan.FromMilliseconds(spacingMs).ToString("c", CultureInfo.InvariantCulture),
            ["Recheck:HomeHotline"] = "bench-hotline",
            ["Recheck:Controls:0"] = "http://control.bench.example/online",
            ["Recheck:ResolveOverrides:control.bench.example"] = web.Endpoint,
        };
        for (var i = 0; i < Math.Min(urls, hosts); i++) settings[$"Recheck:ResolveOverrides:{host(i)}"] = web.Endpoint;
        var builder = BenchHost.Create(runtime, settings);
        await using var app = builder.AddRecheck().Build();

        var sw = Stopwatch.StartNew();
        await Task.WhenAll(notices.Select(n => clients.Publisher.PublishAsync(Topics.NoticesIssued, n.caseKey, n, ct: ct)));
        Console.WriteLine($"produced {urls:N0} notices over {Math.Min(urls, hosts):N0} hosts in {sw.Elapsed.TotalSeconds:0.0} s");
        var store = app.Services.GetRequiredService<RecheckStateStore>();
        await app.StartAsync(ct);
        var start = Stopwatch.StartNew();
        var firstAt = TimeSpan.Zero;
        // Done when the server saw every check and the stage wrote every outcome (the entry's check count, written with the
        // observation, is applied once both are handed to the producer).
        while (!(web.Requests >= urls && store.State.Count == urls && store.State.Entries.All(e => e.Value.checks >= 1)))
        {
            ct.ThrowIfCancellationRequested();
            if (firstAt == TimeSpan.Zero && web.Requests > 0) firstAt = start.Elapsed;
            if (start.Elapsed > TimeSpan.FromMinutes(10)) throw new TimeoutException($"{web.Requests} of {urls} checks in 10 minutes.");
            await Task.Delay(5, ct);
        }
        var total = start.Elapsed;
        var hits = web.Hits.ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"recheck (HEAD to 127.0.0.1, observation acknowledged on {Topics.ContentStatus}; concurrency {concurrency}, per host {perHost}, spacing {spacingMs} ms): {urls:N0} checks in {(total - firstAt).TotalSeconds:0.00} s from the first = {urls / (total - firstAt).TotalSeconds:N0} rechecks/s ({urls / total.TotalSeconds:N0}/s including start-up, group join and state restore)"));
        Console.WriteLine($"  answers: {hits.Count(h => h.Status == 200):N0} online, {hits.Count(h => h.Status == 404):N0} removed; most in flight at one host: {web.MaxInFlight.Values.DefaultIfEmpty(0).Max()}");
        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    private static TakedownNotice Notice(string url, DateTime issuedAt) => new()
    {
        eventId = EventIds.Derive("notice-issued", url),
        noticeId = EventIds.Derive("notice", url, "0"),
        caseKey = url,
        sequence = 0,
        kind = NoticeKind.FIRST,
        recipient = new NoticeRecipient { role = RecipientRole.HOSTER, name = "Bench hoster", address = "abuse@bench-host.example", channel = NoticeChannel.EMAIL, foundVia = "directory" },
        hosterId = "bench-host",
        hosterName = "Bench hoster",
        url = url,
        ips = ["192.0.2.10"],
        asn = 64500,
        country = "NL",
        hashes = new ContentHashes { sha256 = new string('c', 64) },
        classification = Pipeline.Contracts.Classification.BASELINE,
        detectionMethod = "hash_match",
        reportIds = ["bench"],
        deadline = issuedAt.AddDays(1),
        policeHold = false,
        timeline = new Timeline { receivedAt = issuedAt, noticeSentAt = issuedAt },
        xarf = "{}",
        text = "bench",
        issuedAt = issuedAt,
    };
}
