using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Intake;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline bench intake`: intake on the embedded cluster. (1) Kafka path: --reports ReportSubmitted over --urls distinct
/// URLs are produced first, then intake starts; prints reports/s through validation, normalisation and case grouping
/// (both steps, state writes included). (2) HTTP path: --http-requests POST /v1/reports from --clients concurrent
/// connections on 127.0.0.1; prints accepted submissions/s and latency percentiles (each 202 waited for Kafka's ack).
/// </summary>
public static class BenchIntakeCommand
{
    public sealed record Settings(int Reports, int Urls, int HttpRequests, int Clients);

    public sealed record LoadSettings(string? Url, int Requests, int Clients, int Urls);

    public static async Task<int> RunAsync(Settings settings, CancellationToken ct)
    {
        var (reports, urls, httpRequests, clients) = (settings.Reports, settings.Urls, settings.HttpRequests, settings.Clients);
        if (reports < 1 || urls < 1 || httpRequests < 0 || clients < 1)
            throw new ArgumentException("--reports, --urls and --clients must be ≥ 1 and --http-requests ≥ 0. Fix: e.g. pipeline bench intake --reports 50000 --urls 10000 --http-requests 20000 --clients 32.");

        await using var runtime = await EmbeddedRuntime.StartAsync(3, ct);
        var kafka = new KafkaOptions { BootstrapServers = runtime.BootstrapServers, SchemaRegistryUrl = runtime.SchemaRegistryUrl };
        using var registry = new Confluent.SchemaRegistry.CachedSchemaRegistryClient(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, false);
        using (var publisher = new EventPublisher(Options.Create(kafka), serdes, "bench"))
        {
            var sw = Stopwatch.StartNew();
            var pending = new List<Task>(reports);
            for (var i = 0; i < reports; i++) pending.Add(publisher.PublishAsync(Topics.ReportsSubmitted, $"bench-{i}", Submitted(i, urls), ct: ct));
            await Task.WhenAll(pending);
            Console.WriteLine($"produced {reports:N0} ReportSubmitted over {Math.Min(urls, reports):N0} URLs in {sw.Elapsed.TotalSeconds:0.0} s");
        }

        const string key = "bench-key-0123456789abcdef";
        var builder = BenchHost.Create(runtime, new Dictionary<string, string?>
        {
            ["Intake:ApiKeys:bench-hotline"] = ApiKeys.Hash(key),
            ["Intake:Api:MaxConcurrentSubmissions"] = "100000",
        });
        await using var app = builder.AddIntake().Build().MapIntakeApi();
        double Outcomes() => new[] { "opened", "reopened", "joined" }.Sum(o => GroupingProcessor.Outcomes.WithLabels(o).Value);
        var start = Stopwatch.StartNew();
        await app.StartAsync(ct);
        var firstAt = TimeSpan.Zero;
        while (Outcomes() < reports)
        {
            ct.ThrowIfCancellationRequested();
            if (firstAt == TimeSpan.Zero && Outcomes() > 0) firstAt = start.Elapsed;
            if (start.Elapsed > TimeSpan.FromMinutes(10)) throw new TimeoutException($"intake grouped {Outcomes()} of {reports} reports in 10 minutes.");
            await Task.Delay(20, ct);
        }
        var total = start.Elapsed;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"intake (validate + normalise + group, 2 stages, embedded 3 brokers): {reports:N0} reports in {(total - firstAt).TotalSeconds:0.00} s from first outcome = {reports / (total - firstAt).TotalSeconds:N0} reports/s ({reports / total.TotalSeconds:N0} reports/s including start-up, group join and state restore)"));
        Console.WriteLine($"  opened {GroupingProcessor.Outcomes.WithLabels("opened").Value:N0} cases, joined {GroupingProcessor.Outcomes.WithLabels("joined").Value:N0}, redirected {GroupingProcessor.Outcomes.WithLabels("redirected").Value:N0}");

        if (httpRequests == 0) return 0;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        // The load comes from a second process (this command as `bench http-load`), so client and server do not share
        // a runtime, a thread pool or a garbage collector; both still share this machine's cores.
        var exitCode = await RunLoadProcessAsync(address, key, httpRequests, clients, urls, ct);
        await app.StopAsync(CancellationToken.None);
        return exitCode;
    }

    private static async Task<int> RunLoadProcessAsync(string address, string key, int requests, int clients, int urls, CancellationToken ct)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this process is unknown.");
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = false, RedirectStandardError = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(BenchIntakeCommand).Assembly.Location);
        foreach (var a in new[] { "bench", "http-load", "--url", address, "--requests", requests.ToString(CultureInfo.InvariantCulture),
                     "--clients", clients.ToString(CultureInfo.InvariantCulture), "--urls", urls.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        psi.Environment["PIPELINE_BENCH_API_KEY"] = key; // not on the command line, where ps would show it
        using var load = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {self} for the HTTP load.");
        await load.WaitForExitAsync(ct);
        return load.ExitCode;
    }

    /// <summary>`pipeline bench http-load`: the client side of `bench intake`'s HTTP measurement, run as its own process.
    /// POSTs --requests reports to --url from --clients concurrent connections and prints accepted/s and latency
    /// percentiles. The API key comes from PIPELINE_BENCH_API_KEY.</summary>
    public static async Task<int> RunLoadAsync(LoadSettings settings, CancellationToken ct)
    {
        var address = new Uri(settings.Url ?? throw new ArgumentException("--url is missing. Fix: pass the intake API's base address, e.g. --url http://127.0.0.1:8080."));
        var key = Environment.GetEnvironmentVariable("PIPELINE_BENCH_API_KEY")
            ?? throw new ArgumentException("PIPELINE_BENCH_API_KEY is not set. Fix: export the hotline's API key as PIPELINE_BENCH_API_KEY.");
        var (httpRequests, clients, urls) = (settings.Requests, settings.Clients, settings.Urls);
        if (httpRequests < 1 || clients < 1 || urls < 1)
            throw new ArgumentException("--requests, --clients and --urls must be ≥ 1. Fix: e.g. --requests 20000 --clients 32 --urls 10000.");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients }) { BaseAddress = address };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        await Post(http, -1, urls); // warm-up: connection, schema id, metadata
        var latencies = new double[httpRequests];
        var statuses = new int[httpRequests];
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < httpRequests)
            {
                ct.ThrowIfCancellationRequested();
                var t = Stopwatch.GetTimestamp();
                statuses[i] = await Post(http, i, urls);
                latencies[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
        }));
        var elapsed = clock.Elapsed;
        var ok = statuses.Count(s => s == 202);
        Array.Sort(latencies);
        double P(double q) => latencies[Math.Min(latencies.Length - 1, (int)(q * latencies.Length))];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"HTTP POST /v1/reports ({clients} concurrent clients in a second process, pid {Environment.ProcessId}, loopback): {ok:N0}/{httpRequests:N0} answered 202 in {elapsed.TotalSeconds:0.00} s = {ok / elapsed.TotalSeconds:N0} accepted/s; latency p50 {P(0.5):0.0} ms, p99 {P(0.99):0.0} ms, max {latencies[^1]:0.0} ms"));
        foreach (var g in statuses.Where(s => s != 202).GroupBy(s => s)) Console.WriteLine($"  status {g.Key}: {g.Count()}");
        return ok == httpRequests ? 0 : 1;
    }

    private static async Task<int> Post(HttpClient http, int i, int urls)
    {
        var sha = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var json = "{\"reference\":\"http-" + i.ToString(CultureInfo.InvariantCulture) + "\",\"url\":\"http://bench" + (i % 13).ToString(CultureInfo.InvariantCulture)
            + ".example/h/" + (i % urls).ToString(CultureInfo.InvariantCulture) + ".jpg\",\"contentType\":\"IMAGE\",\"hashes\":{\"sha256\":\"" + sha + "\"}}";
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("/v1/reports", content);
        return (int)response.StatusCode;
    }

    /// <summary>The URLs are written unnormalised (upper case, a default port, a dot segment, a fragment), as a hotline
    /// may receive them, so intake's normalisation is measured too.</summary>
    private static ReportSubmitted Submitted(int i, int urls) =>
        BenchReports.Submitted($"bench-{i}", $"HTTP://Site{i % urls % 97}.EXAMPLE:80/gallery/./{i % urls}.jpg#f{i}", i);
}
