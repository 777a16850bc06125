using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Pipeline.IntegrationTests.Infrastructure;

/// <summary>Hosters' web servers, simulated by one real HTTP server on 127.0.0.1: every path is online (200) until
/// the test removes it (404). It serves no content at all — the recheck only looks at the status.</summary>
public sealed class HosterWeb : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, byte> removed = new();
    private readonly WebApplication app;

    private HosterWeb(WebApplication app) => this.app = app;

    private int requests;

    public int Requests => Volatile.Read(ref requests);

    public string Endpoint { get; private set; } = "";

    public static async Task<HosterWeb> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var web = new HosterWeb(app);
        app.Run(context =>
        {
            Interlocked.Increment(ref web.requests);
            context.Response.StatusCode = web.removed.ContainsKey(context.Request.Path.Value ?? "") ? 404 : 200;
            return Task.CompletedTask;
        });
        await app.StartAsync();
        web.Endpoint = new Uri(app.Urls.First()).Authority; // 127.0.0.1:port
        return web;
    }

    public void Remove(string url) => removed[new Uri(url).AbsolutePath] = 0;

    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}
