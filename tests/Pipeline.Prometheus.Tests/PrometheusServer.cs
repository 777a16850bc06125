using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Pipeline.TestSupport;

namespace Pipeline.Prometheus.Tests;

/// <summary>
/// Debian's <c>prometheus</c> server on 127.0.0.1 (a free port, a temporary storage folder), scraping the given targets
/// every second and evaluating the repository's rule files every second. The rules are the real ones from
/// infra/prometheus/rules, copied with every <c>for:</c> shortened to <see cref="For"/> and every range window to
/// <see cref="Window"/>: minutes of patience do not fit a test, the expressions, labels and annotations stay the same.
/// </summary>
public sealed partial class PrometheusServer : IAsyncDisposable
{
    public const string For = "2s";
    public const string Window = "10s";

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Process process;
    private readonly string folder;
    private readonly ConcurrentQueue<string> output = new();

    private PrometheusServer(Process process, string folder, string url)
    {
        this.process = process;
        this.folder = folder;
        Url = url;
    }

    public string Url { get; }

    public string Log => string.Join(Environment.NewLine, output);

    public static async Task<PrometheusServer> StartAsync(IReadOnlyDictionary<string, string> targets, TimeSpan timeout)
    {
        var binary = Locate();
        var folder = Directory.CreateTempSubdirectory("pipeline-prometheus-").FullName;
        var rules = Directory.CreateDirectory(Path.Combine(folder, "rules")).FullName;
        foreach (var file in Directory.GetFiles(Path.Combine(RepoRoot(), "infra", "prometheus", "rules"), "*.yml"))
            await File.WriteAllTextAsync(Path.Combine(rules, Path.GetFileName(file)), Shorten(await File.ReadAllTextAsync(file)));
        var config = new StringBuilder()
            .AppendLine("global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }")
            .AppendLine(CultureInfo.InvariantCulture, $"rule_files: [\"{rules}/*.yml\"]")
            .AppendLine("scrape_configs:");
        foreach (var (job, address) in targets)
            config.AppendLine(CultureInfo.InvariantCulture, $"  - {{ job_name: {job}, static_configs: [{{ targets: [\"{address}\"] }}] }}");
        var configFile = Path.Combine(folder, "prometheus.yml");
        await File.WriteAllTextAsync(configFile, config.ToString());

        var port = FreePort();
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = folder,
        };
        foreach (var arg in new[]
                 {
                     $"--config.file={configFile}", $"--storage.tsdb.path={Path.Combine(folder, "data")}",
                     $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
                 })
            info.ArgumentList.Add(arg);
        var process = new Process { StartInfo = info };
        var server = new PrometheusServer(process, folder, $"http://127.0.0.1:{port}");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) server.output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) server.output.Enqueue(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.UntilAsync("Prometheus ready and its rules loaded", async () =>
            {
                if (process.HasExited) throw new InvalidOperationException($"prometheus exited with code {process.ExitCode}:\n{server.Log}");
                var groups = (await server.GetDataAsync("/api/v1/rules")).GetProperty("groups");
                return groups.GetArrayLength() > 0;
            }, timeout);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>The rule file with short <c>for:</c> and range windows; everything else untouched.</summary>
    public static string Shorten(string rules) =>
        RangeWindow().Replace(ForClause().Replace(rules, "${indent}for: " + For), "[" + Window + "]");

    /// <summary>The alerts Prometheus currently holds (pending or firing).</summary>
    public async Task<IReadOnlyList<Alert>> AlertsAsync()
    {
        var alerts = (await GetDataAsync("/api/v1/alerts")).GetProperty("alerts");
        return [.. alerts.EnumerateArray().Select(a => new Alert(
            a.GetProperty("labels").EnumerateObject().ToDictionary(l => l.Name, l => l.Value.GetString() ?? ""),
            a.GetProperty("state").GetString() ?? ""))];
    }

    /// <summary>The value of an instant query that returns one number per series, by the series' labels.</summary>
    public async Task<IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, double Value)>> QueryAsync(string promql)
    {
        var result = (await GetDataAsync("/api/v1/query?query=" + Uri.EscapeDataString(promql))).GetProperty("result");
        return [.. result.EnumerateArray().Select(r => (
            (IReadOnlyDictionary<string, string>)r.GetProperty("metric").EnumerateObject().ToDictionary(l => l.Name, l => l.Value.GetString() ?? ""),
            double.Parse(r.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture)))];
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes (then fails,
    /// saying what was awaited and what Prometheus held last).</summary>
    public async Task UntilAsync(string what, Func<Task<bool>> condition, TimeSpan timeout)
    {
        Exception? last = null;
        try
        {
            await Polling.Until(async () =>
            {
                try
                {
                    var met = await condition();
                    last = null;
                    return met;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or KeyNotFoundException or JsonException)
                {
                    last = e;
                    return false;
                }
            }, timeout, () => what, TimeSpan.FromMilliseconds(250));
            return;
        }
        catch (TimeoutException)
        {
            // said below, with what Prometheus holds
        }
        string alerts;
        try
        {
            alerts = string.Join("\n", (await AlertsAsync()).Select(a => a.ToString()));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            alerts = "(Prometheus did not answer: " + e.Message + ")";
        }
        throw new TimeoutException($"Not within {timeout.TotalSeconds:0} s: {what}.\nLast error: {last?.Message ?? "none"}\nAlerts now:\n{alerts}\nPrometheus log:\n{Log}");
    }

    private async Task<JsonElement> GetDataAsync(string path)
    {
        using var response = await Http.GetAsync(Url + path);
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK) throw new HttpRequestException($"GET {path}: {(int)response.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("data").Clone();
    }

    /// <summary>Debian's prometheus binary; without it the test fails and says how to get it (it is never skipped).</summary>
    private static string Locate() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "prometheus")).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException(
            "The prometheus server binary is not installed. Fix: install Debian's prometheus package " +
            "(sudo apt-get update && sudo apt-get install -y prometheus); .ci/run does this in CI.");

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
        process.Dispose();
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex(@"^(?<indent>[ \t]*)for:[ \t]*\S+", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex ForClause();

    [GeneratedRegex(@"\[\d+[smhdwy]\]", RegexOptions.CultureInvariant)]
    private static partial Regex RangeWindow();
}

public sealed record Alert(IReadOnlyDictionary<string, string> Labels, string State)
{
    public string Name => Labels["alertname"];

    public bool Firing => State == "firing";

    public bool Has(string label, string value) => Labels.TryGetValue(label, out var v) && v == value;

    public override string ToString() => $"{State} {{{string.Join(", ", Labels.Select(l => $"{l.Key}={l.Value}"))}}}";
}
