using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Platform;

namespace Pipeline.Recheck;

/// <summary>
/// <c>POST /v1/notices/{noticeId}/confirmation</c>: a hoster tells us it removed the content of a notice. The body is
/// JSON (<c>{"removedAt": "2026-11-29T10:15:00Z"}</c>, removedAt optional) signed like the webhook notices it received:
/// <c>X-Signature: sha256=&lt;hex HMAC-SHA256(key, body)&gt;</c> with the hoster's key. A confirmation is not taken on
/// trust: it makes the URL due for a check at once, and removal counts (method HOSTER_CONFIRMATION) only when that
/// check finds the content gone. Every refusal is an RFC 7807 problem with a code; nothing is dropped silently.
/// </summary>
public sealed class HosterConfirmations(RecheckStateStore schedule, IOptions<RecheckOptions> options, TimeProvider time, ILogger<HosterConfirmations> log)
{
    public const int MaxBodyBytes = 4096;

    public static readonly Counter Answers = Metrics.CreateCounter(
        "pipeline_recheck_confirmations_total", "Hoster confirmations of removal received, by answer code.",
        new CounterConfiguration { LabelNames = ["code"] });

    private sealed record Body(DateTime? RemovedAt);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<IResult> ConfirmAsync(string noticeId, HttpContext http)
    {
        var settings = options.Value.Confirmations;
        if (http.Request.ContentLength > MaxBodyBytes)
            return Problem(413, "REQUEST_TOO_LARGE", "Request too large", $"A confirmation is at most {MaxBodyBytes} bytes.");
        var body = await ReadAsync(http.Request, http.RequestAborted);
        if (body is null) return Problem(413, "REQUEST_TOO_LARGE", "Request too large", $"A confirmation is at most {MaxBodyBytes} bytes.");
        var notice = schedule.Find(noticeId)?.notice;
        if (notice is null)
            return Problem(404, "NOTICE_UNKNOWN", "Unknown notice",
                $"No open or watched notice has id '{Cut(noticeId)}'. Use the id from the notice (X-Notice-Id header, X-ARF report_id); confirmations for notices whose checks ended are not needed.");
        var secret = settings.SecretFor(notice.hosterId);
        if (secret is null)
            return Problem(403, "CONFIRMATIONS_NOT_SET_UP", "No key for this hoster",
                "The hotline has no signing key for the hoster of this notice; ask the hotline to set one up (the same key as for webhook notices).");
        if (!SignatureValid(http.Request.Headers["X-Signature"].ToString(), body, secret))
            return Problem(401, "SIGNATURE_INVALID", "Signature missing or wrong",
                "Sign the exact request body with HMAC-SHA256 and your key and send it as X-Signature: sha256=<lower-case hex>.");
        Body? parsed;
        try
        {
            parsed = body.Length == 0 ? new Body(null) : JsonSerializer.Deserialize<Body>(body, Json);
        }
        catch (JsonException e)
        {
            return Problem(400, "JSON_INVALID", "Malformed JSON", $"The body is not a confirmation: {e.Message}");
        }
        var now = time.GetUtcNow().UtcDateTime;
        var claimed = parsed?.RemovedAt?.ToUniversalTime();
        if (claimed > now + settings.MaxClockSkew)
            return Problem(400, "REMOVED_AT_IN_FUTURE", "removedAt lies in the future", $"removedAt {claimed:O} is later than our clock ({now:O}); send the UTC time of the removal.");
        switch (schedule.Confirm(noticeId, new RecheckSchedule.HosterConfirmation(now, claimed)))
        {
            case RecheckSchedule.ConfirmationAnswer.AlreadyRemoved:
                Answers.WithLabels("ALREADY_REMOVED").Inc();
                return Results.Ok(new { noticeId, status = "removal-already-confirmed" });
            case RecheckSchedule.ConfirmationAnswer.Verifying:
                Answers.WithLabels("VERIFYING").Inc();
                log.LogInformation("Hoster {Hoster} confirmed removal for notice {NoticeId}; checking now", notice.hosterId, noticeId);
                return Results.Accepted(value: new { noticeId, status = "verifying", detail = "We check the URL now; the removal counts when the check finds it gone." });
            default: // the notice left the schedule between the lookup and now
                return Problem(404, "NOTICE_UNKNOWN", "Unknown notice", $"Notice '{Cut(noticeId)}' is no longer scheduled for checks.");
        }
    }

    private static bool SignatureValid(string header, byte[] body, string secret)
    {
        var expected = Encoding.ASCII.GetBytes(WebhookSignature.Sign(body, secret));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(header.Trim().ToLowerInvariant())); // hex in either case
    }

    private static async Task<byte[]?> ReadAsync(HttpRequest request, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes) return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static IResult Problem(int status, string code, string title, string detail)
    {
        Answers.WithLabels(code).Inc();
        return Results.Problem(detail: detail, statusCode: status, title: title,
            type: "https://github.com/pipeline/docs/operations.md#hoster-confirmations-" + code.ToLowerInvariant().Replace('_', '-'),
            extensions: new Dictionary<string, object?> { ["code"] = code });
    }

    private static string Cut(string s) => s.Length <= 64 ? s : s[..64] + "…";
}

public static class HosterConfirmationEndpoints
{
    /// <summary>Maps POST /v1/notices/{noticeId}/confirmation when Recheck:Confirmations:Enabled (the default).</summary>
    public static WebApplication MapHosterConfirmations(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<RecheckOptions>>().Value.Confirmations.Enabled)
            app.MapPost("/v1/notices/{noticeId}/confirmation", (string noticeId, HttpContext http, HosterConfirmations api) => api.ConfirmAsync(noticeId, http));
        return app;
    }
}
