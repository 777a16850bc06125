using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Intake;

/// <summary>The JSON body of POST /v1/reports (docs/intake-api.md).</summary>
public sealed class ReportSubmission
{
    public string? SourceHotline { get; set; }
    public string? Reference { get; set; }
    public string? Url { get; set; }
    public DateTimeOffset? ReceivedAt { get; set; }
    public DateTimeOffset? ReportedAt { get; set; }
    public string? ParentUrl { get; set; }
    public bool? IsSourceUrl { get; set; }
    public ContentType? ContentType { get; set; }
    public SiteType? SiteType { get; set; }
    public bool? Commercial { get; set; }
    public ReporterType? ReporterType { get; set; }
    public Dictionary<string, string>? ExternalIds { get; set; }
    public HashesDto? Hashes { get; set; }
    public ContactDto? ReporterContact { get; set; }

    public sealed class HashesDto
    {
        public string? Md5 { get; set; }
        public string? Sha1 { get; set; }
        public string? Sha256 { get; set; }
        public string? Pdq { get; set; }
        public int? PdqQuality { get; set; }
    }

    public sealed class ContactDto
    {
        public string? Name { get; set; }
        public string? Email { get; set; }
        public string? Phone { get; set; }
    }
}

/// <summary>
/// POST /v1/reports for hotline systems and partners that don't speak Kafka. A 202 is answered only after Kafka
/// acknowledged the ReportSubmitted (acks=all); the report id is derived from (hotline, reference), so a repeated POST
/// gets the same id, and intake's grouping recognises the second copy as the same report.
/// </summary>
public sealed class SubmissionApi : IDisposable
{
    public static readonly Counter Responses = Metrics.CreateCounter(
        "pipeline_intake_http_responses_total", "Responses of POST /v1/reports, by status code.", new CounterConfiguration { LabelNames = ["status"] });
    public static readonly Histogram Latency = Metrics.CreateHistogram(
        "pipeline_intake_http_submission_seconds", "Time from request to answer of POST /v1/reports.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 14) });

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(allowIntegerValues: false) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private readonly IntakeOptions options;
    private readonly ApiKeys keys;
    private readonly AvroSerdes serdes;
    private readonly TimeProvider time;
    private readonly IntakeProcessor checks;
    private readonly ILogger<SubmissionApi> log;
    private readonly IProducer<byte[]?, byte[]?> producer;
    private readonly SemaphoreSlim slots;

    /// <summary>Submissions holding one of Intake:Api:MaxConcurrentSubmissions slots (waiting for Kafka's acknowledgement).</summary>
    public int InProgress => options.Api.MaxConcurrentSubmissions - slots.CurrentCount;
    private readonly int maxRecordBytes;

    /// <summary>Who holds a (hotline, reference): the case key of the report stored (or being stored) under it. A second,
    /// different report under the same reference waits for the holder's outcome: 409 if it was stored, another try if
    /// not. Checked and claimed in one step, so concurrent requests cannot both pass the check.</summary>
    private readonly ConcurrentDictionary<string, Claim> claims = new(StringComparer.Ordinal);

    private sealed class Claim(string caseKey)
    {
        public string CaseKey { get; } = caseKey;
        public TaskCompletionSource<bool> Stored { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private const int MaxRemembered = 100_000;

    public SubmissionApi(IOptions<IntakeOptions> options, IOptions<KafkaOptions> kafka, IOptions<ProcessingOptions> processing, AvroSerdes serdes, TimeProvider time, ILogger<SubmissionApi> log)
    {
        this.options = options.Value;
        keys = new ApiKeys(this.options.ApiKeys);
        this.serdes = serdes;
        this.time = time;
        this.log = log;
        checks = new IntakeProcessor(options, processing, time);
        maxRecordBytes = processing.Value.MaxRecordBytes - OriginalBytes.EnvelopeReserve;
        slots = new SemaphoreSlim(this.options.Api.MaxConcurrentSubmissions);
        // Its own producer: message.timeout.ms = PublishTimeout, so a report answered 503 is abandoned by the client
        // library and cannot reach Kafka later behind the submitter's back.
        producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig(KafkaClients.Config(kafka.Value))
        {
            ClientId = "intake-http", Acks = Acks.All, EnableIdempotence = true, LingerMs = 2, Partitioner = Confluent.Kafka.Partitioner.Murmur2Random,
            MessageTimeoutMs = (int)this.options.Api.PublishTimeout.TotalMilliseconds,
            RequestTimeoutMs = (int)Math.Min(this.options.Api.PublishTimeout.TotalMilliseconds, 30_000),
        }).SetLogHandler((_, m) => { if (m.Level <= SyslogLevel.Warning) log.LogDebug("intake-http producer: {Message}", m.Message); })
          .Build();
    }

    public async Task<IResult> SubmitAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        var result = await HandleAsync(http);
        Latency.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        return result;
    }

    private async Task<IResult> HandleAsync(HttpContext http)
    {
        var hotline = keys.HotlineOf(BearerKey(http.Request));
        if (hotline is null)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer realm=\"pipeline-intake\"";
            return Problem(401, "API_KEY_INVALID", "Missing or unknown API key", "Send the hotline's API key as `Authorization: Bearer <key>`.");
        }
        if (!IsJson(http.Request.ContentType))
            return Problem(415, "CONTENT_TYPE_UNSUPPORTED", "Unsupported media type", "Send the report as application/json (charset utf-8, if any).");
        var max = options.Api.MaxRequestBytes;
        if (http.Request.ContentLength > max)
            return Problem(413, "REQUEST_TOO_LARGE", "Request too large", $"The body is {http.Request.ContentLength} bytes; at most {max} are accepted.");
        byte[]? body;
        // A slow body (slowloris) is ended by Kestrel itself: after BodyTimeout the body must have arrived at an average
        // rate that brings the largest allowed body within BodyTimeout. Kestrel then fails the read (408) and closes the
        // connection cleanly; cancelling the read from here instead leaves Kestrel's own read pending.
        if (http.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.IHttpMinRequestBodyDataRateFeature>() is { } rate)
            rate.MinDataRate = new Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate(
                bytesPerSecond: Math.Max(240, max / options.Api.BodyTimeout.TotalSeconds), gracePeriod: options.Api.BodyTimeout);
        try
        {
            body = await ReadBodyAsync(http.Request, max, http.RequestAborted);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == 408)
        {
            return Problem(408, "REQUEST_TIMEOUT", "Request body too slow", $"The body was not received within {options.Api.BodyTimeout.TotalSeconds:0.#} s.");
        }
        catch (Exception e) when (e is OperationCanceledException or Microsoft.AspNetCore.Http.BadHttpRequestException or IOException)
        {
            // The client went away or sent a broken body: an answer (if anyone still listens), never an unhandled error.
            return Problem(400, "REQUEST_ABORTED", "Request body not received", "The connection ended before the body was read.");
        }
        if (body is null)
            return Problem(413, "REQUEST_TOO_LARGE", "Request too large", $"The body exceeds {max} bytes.");

        ReportSubmission? submission;
        try
        {
            submission = JsonSerializer.Deserialize<ReportSubmission>(body, Json);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException or FormatException or OverflowException)
        {
            return Problem(400, "JSON_INVALID", "Malformed JSON", $"The body is not a valid report: {Cut(e.Message)}");
        }
        if (submission is null) return Problem(400, "JSON_INVALID", "Malformed JSON", "The body is null.");
        if (submission.SourceHotline is { } claimed && claimed != hotline)
            return Problem(403, "HOTLINE_MISMATCH", "Key not valid for this hotline", $"This API key belongs to '{hotline}' and cannot submit as '{Cut(claimed)}'.");
        if (string.IsNullOrWhiteSpace(submission.Reference))
            return Problem(400, "SOURCE_REFERENCE_MISSING", "Invalid report", "reference (your own id of the report) is required; it makes the submission idempotent.");

        if (submission.ExternalIds?.FirstOrDefault(e => e.Value is null) is { Key: { } nullKey })
            return Problem(400, "FIELD_NULL", "Invalid report", $"externalIds.{Cut(nullKey)} is null; each external id must be a string.");

        var submitted = ToEvent(hotline, submission);
        var failure = checks.Check(submitted, out var url);
        if (failure is not null) return Problem(400, failure.Code, "Invalid report", failure.Message);

        if (!slots.Wait(0))
        {
            http.Response.Headers.RetryAfter = "1";
            return Problem(429, "OVERLOADED", "Too many submissions in progress", "Retry after the time given in Retry-After.");
        }
        var idempotencyKey = hotline + "\n" + submission.Reference;
        var claim = new Claim(url!.Key);
        var stored = false;
        try
        {
            while (claims.GetOrAdd(idempotencyKey, claim) is var holder && holder != claim && holder.CaseKey != url.Key)
            {
                // Another report holds this reference. Stored: a conflict. Failed: it let go; try to claim again.
                if (await holder.Stored.Task.WaitAsync(options.Api.PublishTimeout * 2, http.RequestAborted))
                    return Problem(409, "REFERENCE_REUSED", "Reference already used",
                        $"Reference '{Cut(submission.Reference)}' was already submitted for another URL; use a new reference for a new report.");
            }
            // Ours, or the same report again: publish (a re-submission is idempotent downstream, on the report id).
            var value = await serdes.SerializeAsync(submitted, Topics.ReportsSubmitted);
            if (value.Length > maxRecordBytes)
                return Problem(413, "REQUEST_TOO_LARGE", "Request too large", $"The report is {value.Length} bytes as Avro; at most {maxRecordBytes} fit on the topic.");
            // The report's trace starts here (under ASP.NET Core's request activity, which carries a caller's traceparent).
            using var activity = PipelineTracing.StartPublish("intake-api", Topics.ReportsSubmitted, out var headers);
            activity?.SetTag("pipeline.report.id", submitted.report.reportId);
            var delivery = await producer.ProduceAsync(Topics.ReportsSubmitted,
                new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(submitted.report.reportId), Value = value, Headers = headers });
            stored = true;
            Responses.WithLabels("202").Inc();
            return Results.Json(new { reportId = submitted.report.reportId, caseKey = url.Key, eventId = submitted.eventId, offset = delivery.Offset.Value },
                statusCode: 202);
        }
        catch (Exception e) when (e is KafkaException or HttpRequestException or TimeoutException or Confluent.SchemaRegistry.SchemaRegistryException or OperationCanceledException)
        {
            log.LogWarning("POST /v1/reports: {Report} not acknowledged by Kafka: {Error}", submitted.report.reportId, e.Message);
            http.Response.Headers.RetryAfter = options.Api.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Problem(503, "KAFKA_UNAVAILABLE", "Report not stored", "Kafka did not acknowledge the report; nothing was stored. Retry with the same reference.");
        }
        finally
        {
            slots.Release();
            Settle(idempotencyKey, claim, stored);
        }
    }

    /// <summary>Ends a claim: kept when its report was stored; released (and waiters told) when not. The same report
    /// stored by a request that held no claim leaves one behind, so a later different report still gets 409.</summary>
    private void Settle(string idempotencyKey, Claim claim, bool stored)
    {
        if (stored)
        {
            claim.Stored.TrySetResult(true);
            claims.TryAdd(idempotencyKey, claim);
        }
        else
        {
            claims.TryRemove(new KeyValuePair<string, Claim>(idempotencyKey, claim));
            claim.Stored.TrySetResult(false);
        }
        if (claims.Count > MaxRemembered)
            foreach (var (k, c) in claims)
                if (c.Stored.Task.IsCompleted) claims.TryRemove(new KeyValuePair<string, Claim>(k, c));
    }

    /// <summary>Exactly application/json (parameters allowed; a charset, if given, must be UTF-8): not application/jsonp,
    /// not application/json-seq.</summary>
    private static bool IsJson(string? contentType) =>
        System.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)
        && string.Equals(media.MediaType, "application/json", StringComparison.OrdinalIgnoreCase)
        && (media.CharSet is null || media.CharSet.Trim('"').Equals("utf-8", StringComparison.OrdinalIgnoreCase)
            || media.CharSet.Trim('"').Equals("utf8", StringComparison.OrdinalIgnoreCase));

    private ReportSubmitted ToEvent(string hotline, ReportSubmission s)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var report = new Report
        {
            reportId = EventIds.Derive("report", hotline, s.Reference),
            sourceHotline = hotline,
            sourceReference = s.Reference!,
            externalIds = s.ExternalIds ?? new Dictionary<string, string>(),
            receivedAt = s.ReceivedAt?.UtcDateTime ?? now,
            reportedAt = s.ReportedAt?.UtcDateTime,
            url = s.Url!,
            parentUrl = s.ParentUrl,
            isSourceUrl = s.IsSourceUrl ?? true,
            contentType = s.ContentType ?? ContentType.OTHER,
            siteType = s.SiteType ?? SiteType.WEBSITE,
            commercial = s.Commercial ?? false,
            hashes = new ContentHashes
            {
                md5 = s.Hashes?.Md5, sha1 = s.Hashes?.Sha1, sha256 = s.Hashes?.Sha256, pdq = s.Hashes?.Pdq, pdqQuality = s.Hashes?.PdqQuality,
            },
            reporterType = s.ReporterType ?? ReporterType.PUBLIC,
            reporterContact = s.ReporterContact is { } c ? new ReporterContact { name = c.Name, email = c.Email, phone = c.Phone } : null,
            assessment = null,
            hops = [],
        };
        return new ReportSubmitted { eventId = EventIds.Derive("submitted", hotline, s.Reference), caseKey = null, report = report, submittedAt = now };
    }

    private static string? BearerKey(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
    }

    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int max, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + n > max) return null;
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    private static IResult Problem(int status, string code, string title, string detail)
    {
        Responses.WithLabels(status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        return Results.Problem(detail: detail, statusCode: status, title: title,
            type: "https://github.com/pipeline/docs/intake-api.md#" + code.ToLowerInvariant().Replace('_', '-'),
            extensions: new Dictionary<string, object?> { ["code"] = code });
    }

    private static string Cut(string s) => s.Length <= 64 ? s : s[..64] + "…";

    public void Dispose()
    {
        producer.Flush(TimeSpan.FromSeconds(5));
        producer.Dispose();
        slots.Dispose();
    }
}

public static class SubmissionApiEndpoints
{
    /// <summary>Maps POST /v1/reports when Intake:Api:Enabled (the default).</summary>
    public static WebApplication MapIntakeApi(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<IntakeOptions>>().Value.Api.Enabled)
            app.MapPost("/v1/reports", (HttpContext http, SubmissionApi api) => api.SubmitAsync(http));
        return app;
    }
}
