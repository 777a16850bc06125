using Microsoft.Extensions.Options;

namespace Pipeline.Intake;

public sealed class IntakeOptions
{
    public const string Section = "Intake";

    /// <summary>URLs (and parent URLs) longer than this are rejected (URL_TOO_LONG / FIELD_TOO_LONG).</summary>
    public int MaxUrlLength { get; set; } = 8192;

    /// <summary>Case keys (normalised URLs) longer than this are rejected (CASE_KEY_TOO_LONG): percent-encoding can make
    /// the key several times longer than the URL, and the key is a Kafka key and a state-store key.</summary>
    public int MaxCaseKeyLength { get; set; } = 16_384;

    /// <summary>Upper bound of every other string field (ids, references, contact, analyst); see <see cref="ReportValidator"/>.</summary>
    public int MaxIdLength { get; set; } = 128;

    /// <summary>Source hotlines whose reports are accepted. Empty: any hotline id is accepted.</summary>
    public List<string> KnownHotlines { get; set; } = [];

    /// <summary>How far in the future a receivedAt/reportedAt/submittedAt may lie (clock skew between systems).</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The earliest plausible receivedAt/reportedAt/submittedAt (UTC); earlier ones are rejected
    /// (RECEIVED_TOO_EARLY): a year 0001, 1582 or 1900 is a bug or an attack on the SLA arithmetic, not a report.</summary>
    public DateTime EarliestTimestamp { get; set; } = new(1995, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Whether a report at a new URL joins an open case that holds an identical sha256/sha1/md5:
    /// <c>SameHost</c> (default: the same content on the same site under another URL is one case, while the same
    /// content on another host opens its own case, so that hoster gets its own notice), <c>Anywhere</c> (one case per
    /// content, wherever it is — other hosters then get no notice of their own), or <c>Off</c> (group by URL only).</summary>
    public string GroupByContentHash { get; set; } = "SameHost";

    /// <summary>Whether the reporter's contact (name, e-mail, phone) travels on with an accepted report. Default false: it
    /// stays on reports.submitted.v1, intake's own input, and no other topic ever holds it. Set true only together with
    /// <c>Routing:ShareReporterWithPolice</c>: the contact then also reaches reports.accepted/located/classified (7 days) and
    /// the police referral; routing strips it from everything else it writes.</summary>
    public bool ForwardReporterContact { get; set; }

    /// <summary>The HTTP submission API (POST /v1/reports).</summary>
    public SubmissionApiOptions Api { get; set; } = new();

    /// <summary>Hashed API key per hotline: <c>Intake:ApiKeys:&lt;hotline&gt; = sha256:&lt;64 hex&gt;</c> of the key. Never the plain key.</summary>
    public Dictionary<string, string> ApiKeys { get; set; } = new(StringComparer.Ordinal);
}

public sealed class SubmissionApiOptions
{
    /// <summary>Serve POST /v1/reports. Off: the service consumes Kafka only.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Largest accepted request body; larger gives 413.</summary>
    public int MaxRequestBytes { get; set; } = 64 * 1024;

    /// <summary>How long reading the request body may take: a body slower than MaxRequestBytes per BodyTimeout on average
    /// (after this grace period) is answered 408 (REQUEST_TIMEOUT) and its connection closed.</summary>
    public TimeSpan BodyTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Submissions being published at once; one more gives 429 with Retry-After.</summary>
    public int MaxConcurrentSubmissions { get; set; } = 256;

    /// <summary>How long a submission may wait for Kafka's acknowledgement before it is answered 503 (and the
    /// message is abandoned by the producer: message.timeout.ms, so a 503'd report is never delivered later).</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Retry-After sent with 503 (Kafka unavailable) and 429 (overloaded).</summary>
    public int RetryAfterSeconds { get; set; } = 5;
}

internal sealed class IntakeOptionsValidator(IOptions<Pipeline.Platform.ProcessingOptions> processing) : IValidateOptions<IntakeOptions>
{
    public ValidateOptionsResult Validate(string? name, IntakeOptions o)
    {
        var errors = new List<string>();
        // A submission's Avro record is never larger than its JSON body plus a few hundred bytes of ids, and its
        // rejection wraps it whole: both must fit on the topic.
        var maxBody = processing.Value.MaxRecordBytes - Pipeline.Platform.OriginalBytes.EnvelopeReserve;
        if (o.MaxUrlLength is < 64 or > 1_048_576)
            errors.Add($"Intake:MaxUrlLength {o.MaxUrlLength} must be within 64–1048576. Fix: use e.g. 8192.");
        if (o.MaxIdLength is < 16 or > 4096)
            errors.Add($"Intake:MaxIdLength {o.MaxIdLength} must be within 16–4096. Fix: use e.g. 128.");
        if (o.MaxClockSkew < TimeSpan.Zero)
            errors.Add("Intake:MaxClockSkew must not be negative. Fix: use e.g. 00:05:00.");
        if (!new[] { "SameHost", "Anywhere", "Off" }.Contains(o.GroupByContentHash, StringComparer.OrdinalIgnoreCase))
            errors.Add($"Intake:GroupByContentHash '{o.GroupByContentHash}' is not SameHost, Anywhere or Off. Fix: use SameHost (the default).");
        if (o.KnownHotlines.Any(string.IsNullOrWhiteSpace))
            errors.Add("Intake:KnownHotlines contains an empty entry. Fix: remove it.");
        foreach (var (hotline, hash) in o.ApiKeys)
            if (!ApiKeys.IsValidStoredHash(hash))
                errors.Add($"Intake:ApiKeys:{hotline} is not a stored key hash. Fix: set it to sha256:<64 hex> of the key (`printf %s \"$KEY\" | sha256sum`), never the key itself.");
        if (o.Api.MaxRequestBytes < 1024 || o.Api.MaxRequestBytes > maxBody)
            errors.Add($"Intake:Api:MaxRequestBytes {o.Api.MaxRequestBytes} must be within 1024–{maxBody} (Processing:MaxRecordBytes {processing.Value.MaxRecordBytes} less {Pipeline.Platform.OriginalBytes.EnvelopeReserve} for the envelope), so that every accepted body fits on reports.submitted.v1. Fix: use e.g. 65536.");
        if (o.MaxCaseKeyLength is < 256 or > 1_048_576)
            errors.Add($"Intake:MaxCaseKeyLength {o.MaxCaseKeyLength} must be within 256–1048576. Fix: use e.g. 16384.");
        if (o.EarliestTimestamp.Year is < 1970 or > 2100)
            errors.Add($"Intake:EarliestTimestamp {o.EarliestTimestamp:O} must lie within the years 1970–2100. Fix: use e.g. 1995-01-01T00:00:00Z.");
        if (o.Api.BodyTimeout < TimeSpan.FromSeconds(1) || o.Api.BodyTimeout > TimeSpan.FromMinutes(5))
            errors.Add($"Intake:Api:BodyTimeout {o.Api.BodyTimeout} must be within 00:00:01–00:05:00 (Kestrel checks once a second). Fix: use e.g. 00:00:10.");
        if (o.Api.MaxConcurrentSubmissions < 1)
            errors.Add($"Intake:Api:MaxConcurrentSubmissions {o.Api.MaxConcurrentSubmissions} must be ≥ 1. Fix: use e.g. 256.");
        if (o.Api.PublishTimeout < TimeSpan.FromSeconds(1) || o.Api.PublishTimeout > TimeSpan.FromMinutes(5))
            errors.Add($"Intake:Api:PublishTimeout {o.Api.PublishTimeout} must be within 00:00:01–00:05:00. Fix: use e.g. 00:00:10.");
        if (o.Api.RetryAfterSeconds is < 1 or > 3600)
            errors.Add($"Intake:Api:RetryAfterSeconds {o.Api.RetryAfterSeconds} must be within 1–3600. Fix: use e.g. 5.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
