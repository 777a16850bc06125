using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Pipeline.Prometheus.Tests;

/// <summary>
/// A pass-through on 127.0.0.1 in front of the embedded Schema Registry that the test can close: while closed it
/// answers every request with 503, as a registry behind a failing load balancer does. The services are given its
/// address as their registry, so they see a real outage over HTTP.
/// </summary>
public sealed class RegistryGate : IAsyncDisposable
{
    private static readonly HttpClient Upstream = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly WebApplication app;
    private volatile bool closed;
    private volatile string? hidden;

    private RegistryGate(WebApplication app) => this.app = app;

    public string Url { get; private set; } = "";

    public void Close() => closed = true;

    public void Open() => closed = false;

    /// <summary>Answers 404 "subject not found" for every subject containing <paramref name="subject"/>, as a registry
    /// where the schema was never registered; null shows everything again.</summary>
    public void Hide(string? subject) => hidden = subject;

    public static async Task<RegistryGate> StartAsync(string registryUrl)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var gate = new RegistryGate(app);
        app.Run(async context =>
        {
            if (gate.closed)
            {
                context.Response.StatusCode = (int)HttpStatusCode.ServiceUnavailable;
                return;
            }
            if (gate.hidden is { } subject && context.Request.Path.Value?.Contains(subject, StringComparison.Ordinal) == true)
            {
                context.Response.StatusCode = (int)HttpStatusCode.NotFound;
                context.Response.ContentType = "application/vnd.schemaregistry.v1+json";
                await context.Response.WriteAsync("{\"error_code\":40401,\"message\":\"Subject '" + subject + "' not found.\"}");
                return;
            }
            using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), registryUrl.TrimEnd('/') + context.Request.Path + context.Request.QueryString);
            if (context.Request.ContentLength > 0 || context.Request.Method is "POST" or "PUT")
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                request.Content = new ByteArrayContent(body.ToArray());
                if (context.Request.ContentType is { } type) request.Content.Headers.TryAddWithoutValidation("Content-Type", type);
            }
            using var response = await Upstream.SendAsync(request);
            context.Response.StatusCode = (int)response.StatusCode;
            if (response.Content.Headers.ContentType is { } contentType) context.Response.ContentType = contentType.ToString();
            await response.Content.CopyToAsync(context.Response.Body);
        });
        await app.StartAsync();
        gate.Url = app.Urls.First();
        return gate;
    }

    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}
