using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Pipeline.TestSupport;

namespace Pipeline.IntegrationTests.Infrastructure;

/// <summary>
/// One service running as its own operating-system process, started from its own build output (the same binary a
/// container would run), configured only through environment variables and a JSON file, and killable for real.
/// </summary>
public sealed partial class ServiceProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly ConcurrentQueue<string> output = new();
    private readonly TaskCompletionSource<string> listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(2) };

    private ServiceProcess(string name, Process process)
    {
        Name = name;
        this.process = process;
    }

    public string Name { get; }

    public string? BaseUrl => listening.Task.IsCompletedSuccessfully ? listening.Task.Result : null;

    public bool HasExited => process.HasExited;

    public int ExitCode => process.ExitCode;

    public Task WaitForExitAsync(CancellationToken ct) => process.WaitForExitAsync(ct);

    public string Log => string.Join(Environment.NewLine, output);

    public static ServiceProcess Start(string service, IReadOnlyDictionary<string, string> environment, string? configFile = null, string? assembly = null, params string[] arguments)
    {
        var dll = Locate(service, assembly);
        var info = new ProcessStartInfo("dotnet", [dll, .. arguments])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        foreach (var (k, v) in environment) info.Environment[k] = v;
        if (configFile is not null) info.Environment["PIPELINE_CONFIG"] = configFile;
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var sp = new ServiceProcess(service, process);
        process.OutputDataReceived += (_, e) => sp.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => sp.OnLine(e.Data);
        process.Exited += (_, _) => sp.listening.TrySetException(new InvalidOperationException($"{service} exited with code {process.ExitCode}:\n{sp.Log}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return sp;
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        output.Enqueue(line);
        while (output.Count > 2000) output.TryDequeue(out _);
        var m = ListeningLine().Match(line);
        if (m.Success) listening.TrySetResult(m.Groups[1].Value);
    }

    /// <summary>Waits until the service listens and /health/ready answers 200 (its consumers joined their group).</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var url = await listening.Task.WaitAsync(timeout);
        await Polling.Until(async () =>
        {
            if (process.HasExited) throw new InvalidOperationException($"{Name} exited with code {process.ExitCode}:\n{Log}");
            try
            {
                using var response = await Http.GetAsync(url + "/health/ready");
                return response.IsSuccessStatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, deadline - DateTime.UtcNow, () => $"{Name} ready (/health/ready) within {timeout}:\n{Log}", TimeSpan.FromMilliseconds(100));
    }

    public async Task<string> GetAsync(string path) => await Http.GetStringAsync(BaseUrl + path);

    /// <summary>Kills the process at once: no graceful shutdown, no final commit.</summary>
    public void Kill()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit(10_000);
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            // SIGTERM: the host stops gracefully and commits.
            using (var term = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await term.WaitForExitAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try { await process.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { Kill(); }
        }
        process.Dispose();
    }

    /// <summary>services/Pipeline.X/bin/&lt;Configuration&gt;/net10.0/Pipeline.X.dll, built alongside the tests.</summary>
    public static string Locate(string service, string? assembly = null)
    {
        var here = AppContext.BaseDirectory;
        var configuration = here.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var dir = new DirectoryInfo(here);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) dir = dir.Parent;
        if (dir is null) throw new DirectoryNotFoundException("Could not find the repository root (Pipeline.sln) above " + here);
        var dll = Path.Combine(dir.FullName, "services", service, "bin", configuration, "net10.0", (assembly ?? service) + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dll} does not exist. Fix: build the solution (dotnet build Pipeline.sln) before running the tests.", dll);
    }

    [GeneratedRegex(@"Now listening on: (http://[^\s]+)")]
    private static partial Regex ListeningLine();
}
