using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Pipeline.Loopback;

/// <summary>Hosters' web servers, simulated by one real HTTP server on 127.0.0.1: every path is online (200) until
/// the test removes it (404), now or at a scheduled time on the test's clock, and it can come back (a re-upload). It
/// serves no content at all — the recheck only looks at the status. Every request is recorded with its Host header,
/// the real time it arrived and the test clock's time, so tests can check politeness per host.</summary>
public sealed class HosterWeb : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, List<(DateTime From, bool Online)>> plans = new();
    private readonly WebApplication app;
    private readonly TimeProvider clock;

    /// <summary>One request as the server saw it.</summary>
    public sealed record Hit(string Host, string Path, string Method, long RealTimestamp, DateTime ClockTime, int Status);

    private HosterWeb(WebApplication app, TimeProvider clock)
    {
        this.app = app;
        this.clock = clock;
    }

    private int requests;

    public int Requests => Volatile.Read(ref requests);

    public ConcurrentQueue<Hit> Hits { get; } = new();

    public string Endpoint { get; private set; } = "";

    /// <summary>Requests now being answered, and the most at once so far, per host (politeness).</summary>
    public ConcurrentDictionary<string, int> InFlight { get; } = new(StringComparer.OrdinalIgnoreCase);
    public ConcurrentDictionary<string, int> MaxInFlight { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long each answer takes (real time), to make concurrency visible.</summary>
    public TimeSpan Latency { get; set; }

    /// <param name="clock">The clock scheduled removals follow (the test's); the system clock by default.</param>
    public static async Task<HosterWeb> StartAsync(TimeProvider? clock = null)
    {
        var app = LoopbackWeb.Create();
        var web = new HosterWeb(app, clock ?? TimeProvider.System);
        app.Run(web.AnswerAsync);
        await app.StartAsync();
        web.Endpoint = new Uri(LoopbackWeb.BaseUrl(app)).Authority; // 127.0.0.1:port
        return web;
    }

    private async Task AnswerAsync(HttpContext context)
    {
        Interlocked.Increment(ref requests);
        var host = context.Request.Host.Host;
        var now = InFlight.AddOrUpdate(host, 1, (_, n) => n + 1);
        MaxInFlight.AddOrUpdate(host, now, (_, max) => Math.Max(max, now));
        try
        {
            var path = context.Request.Path.Value ?? "";
            var status = IsOnline(path, clock.GetUtcNow().UtcDateTime) ? 200 : 404;
            Hits.Enqueue(new Hit(host, path, context.Request.Method, TimeProvider.System.GetTimestamp(), clock.GetUtcNow().UtcDateTime, status));
            if (Latency > TimeSpan.Zero) await Task.Delay(Latency);
            context.Response.StatusCode = status;
        }
        finally
        {
            InFlight.AddOrUpdate(host, 0, (_, n) => n - 1);
        }
    }

    private bool IsOnline(string path, DateTime at)
    {
        if (!plans.TryGetValue(path, out var plan)) return true;
        lock (plan)
        {
            var online = true;
            foreach (var (from, state) in plan.Where(p => p.From <= at).OrderBy(p => p.From)) online = state;
            return online;
        }
    }

    private void Plan(string url, DateTime from, bool online)
    {
        var plan = plans.GetOrAdd(new Uri(url).AbsolutePath, _ => []);
        lock (plan) plan.Add((from, online));
    }

    /// <summary>Takes the URL offline now.</summary>
    public void Remove(string url) => Plan(url, DateTime.MinValue, online: false);

    /// <summary>Takes the URL offline at <paramref name="at"/> on the test's clock (the hoster acting on a notice).</summary>
    public void RemoveAt(string url, DateTime at) => Plan(url, at, online: false);

    /// <summary>Puts the URL back online at <paramref name="at"/> on the test's clock (a re-upload).</summary>
    public void RestoreAt(string url, DateTime at) => Plan(url, at, online: true);

    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}
