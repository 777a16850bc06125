using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Pipeline.Loopback;

/// <summary>A hoster's abuse endpoint on 127.0.0.1 (Kestrel): verifies the HMAC signature over the exact body,
/// records every request with its Idempotency-Key, and answers what <see cref="Status"/> says (default 202).
/// Like a careful receiver it accepts a known Idempotency-Key again without creating a second ticket.</summary>
public sealed class LoopbackWebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication app;

    /// <summary>A POST as received, at <see cref="At"/> (wall clock). A batch carries its id in <c>X-Notice-Batch-Id</c>
    /// (<see cref="BatchId"/>).</summary>
    public sealed record Request(string Path, string? IdempotencyKey, string Body, bool SignatureValid)
    {
        public DateTimeOffset At { get; init; } = DateTimeOffset.UtcNow;

        public string? BatchId { get; init; }

        /// <summary>The X-ARF documents posted: a single notice is one document, a batch a JSON array of them.</summary>
        public IReadOnlyList<JsonObject> Reports() => JsonNode.Parse(Body) switch
        {
            JsonArray batch => [.. batch.OfType<JsonObject>()],
            JsonObject one => [one],
            _ => [],
        };
    }

    private LoopbackWebhookReceiver(WebApplication app) => this.app = app;

    public ConcurrentQueue<Request> Requests { get; } = new();

    /// <summary>Tickets created: one per distinct Idempotency-Key with a valid signature.</summary>
    public ConcurrentDictionary<string, string> Tickets { get; } = new();

    public Func<Request, int>? Status { get; set; }

    public TimeSpan Delay { get; set; }

    public string BaseUrl { get; private set; } = "";

    public static async Task<LoopbackWebhookReceiver> StartAsync(string secret)
    {
        var app = LoopbackWeb.Create();
        var receiver = new LoopbackWebhookReceiver(app);
        app.MapPost("/abuse/{hoster}", async (HttpContext http) =>
        {
            using var ms = new MemoryStream();
            await http.Request.Body.CopyToAsync(ms);
            var body = ms.ToArray();
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));
            var given = http.Request.Headers["X-Signature"].ToString();
            var valid = CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(given));
            var request = new Request(http.Request.Path, http.Request.Headers["Idempotency-Key"].FirstOrDefault(), Encoding.UTF8.GetString(body), valid)
            {
                BatchId = http.Request.Headers["X-Notice-Batch-Id"].FirstOrDefault(),
            };
            receiver.Requests.Enqueue(request);
            if (receiver.Delay > TimeSpan.Zero) await Task.Delay(receiver.Delay);
            if (!valid) return Results.StatusCode(401);
            var status = receiver.Status?.Invoke(request) ?? 202;
            if (status is >= 200 and < 300 && request.IdempotencyKey is { } key) receiver.Tickets.TryAdd(key, request.Body);
            return Results.StatusCode(status);
        });
        await app.StartAsync();
        receiver.BaseUrl = LoopbackWeb.BaseUrl(app);
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
