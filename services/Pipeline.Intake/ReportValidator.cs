using Pipeline.Contracts;

namespace Pipeline.Intake;

/// <summary>Checks a submitted report; each failure has a machine-readable code and a human message. The first
/// failure wins, in the order of the table in docs/architecture.md and docs/intake-api.md.</summary>
public sealed class ReportValidator(IntakeOptions options, TimeProvider time)
{
    public sealed record Failure(string Code, string Message);

    /// <summary>Contact fields and list sizes are bounded too, so one report can never grow a record past Kafka's limits.</summary>
    public const int MaxContactLength = 256;
    public const int MaxListEntries = 32;

    public Failure? Validate(ReportSubmitted submitted)
    {
        var r = submitted.report;
        if (r is null) return new("REPORT_MISSING", "The event carries no report.");
        if (string.IsNullOrWhiteSpace(submitted.eventId)) return new("EVENT_ID_MISSING", "The event has no eventId.");
        if (string.IsNullOrWhiteSpace(r.reportId)) return new("REPORT_ID_MISSING", "The report has no reportId.");
        if (string.IsNullOrWhiteSpace(r.sourceHotline)) return new("SOURCE_HOTLINE_MISSING", "The report names no source hotline.");
        if (TooLong("eventId", submitted.eventId, options.MaxIdLength) is { } f0) return f0;
        if (TooLong("report.reportId", r.reportId, options.MaxIdLength) is { } f1) return f1;
        if (TooLong("report.sourceHotline", r.sourceHotline, options.MaxIdLength) is { } f2) return f2;
        if (options.KnownHotlines.Count > 0 && !options.KnownHotlines.Contains(r.sourceHotline))
            return new("SOURCE_HOTLINE_UNKNOWN", $"The source hotline '{Truncate(r.sourceHotline)}' is not known to this hotline.");
        if (r.sourceReference is null) return new("SOURCE_REFERENCE_MISSING", "The report has no sourceReference.");
        if (r.url is null) return new("URL_MISSING", "The report has no URL.");
        if (r.url.Length > options.MaxUrlLength)
            return new("URL_TOO_LONG", $"The URL is {r.url.Length} characters long; at most {options.MaxUrlLength} are accepted.");
        if (FieldsTooLong(r) is { } f3) return f3;
        if (r.parentUrl is not null && !UrlNormaliser.TryNormalise(r.parentUrl, out _, out _, out var parentProblem))
            return new("PARENT_URL_INVALID", "parentUrl: " + parentProblem);
        var earliest = options.EarliestTimestamp.ToUniversalTime();
        if (r.receivedAt < earliest)
            return new("RECEIVED_TOO_EARLY", $"receivedAt {r.receivedAt:O} lies before {earliest:O}, the earliest plausible time (Intake:EarliestTimestamp).");
        if (r.reportedAt < earliest)
            return new("RECEIVED_TOO_EARLY", $"reportedAt {r.reportedAt:O} lies before {earliest:O}, the earliest plausible time (Intake:EarliestTimestamp).");
        if (submitted.submittedAt < earliest)
            return new("RECEIVED_TOO_EARLY", $"submittedAt {submitted.submittedAt:O} lies before {earliest:O}, the earliest plausible time (Intake:EarliestTimestamp).");
        var latest = time.GetUtcNow().UtcDateTime + options.MaxClockSkew;
        if (r.receivedAt > latest)
            return new("RECEIVED_IN_FUTURE", $"receivedAt {r.receivedAt:O} lies in the future beyond the allowed skew of {options.MaxClockSkew}.");
        if (r.reportedAt > latest)
            return new("RECEIVED_IN_FUTURE", $"reportedAt {r.reportedAt:O} lies in the future beyond the allowed skew of {options.MaxClockSkew}.");
        if (submitted.submittedAt > latest)
            return new("RECEIVED_IN_FUTURE", $"submittedAt {submitted.submittedAt:O} lies in the future beyond the allowed skew of {options.MaxClockSkew}.");
        if (r.hashes is { } h)
        {
            if (BadHex(h.md5, 32)) return new("HASH_MALFORMED", "md5 must be 32 hexadecimal characters.");
            if (BadHex(h.sha1, 40)) return new("HASH_MALFORMED", "sha1 must be 40 hexadecimal characters.");
            if (BadHex(h.sha256, 64)) return new("HASH_MALFORMED", "sha256 must be 64 hexadecimal characters.");
            if (BadHex(h.pdq, 64)) return new("HASH_MALFORMED", "pdq must be 64 hexadecimal characters (256 bits).");
            if (h.pdqQuality is { } q && (q < 0 || q > 100)) return new("HASH_MALFORMED", $"pdqQuality {q} must be within 0–100.");
            if (h.pdqQuality is not null && h.pdq is null) return new("HASH_MALFORMED", "pdqQuality is given without a pdq hash.");
        }
        return null;
    }

    private Failure? FieldsTooLong(Report r)
    {
        if (TooLong("report.sourceReference", r.sourceReference, options.MaxIdLength) is { } f) return f;
        if (TooLong("report.parentUrl", r.parentUrl, options.MaxUrlLength) is { } p) return p;
        if (r.externalIds is { Count: > MaxListEntries })
            return new("FIELD_TOO_LONG", $"report.externalIds has {r.externalIds.Count} entries; at most {MaxListEntries} are accepted.");
        foreach (var entry in r.externalIds ?? new Dictionary<string, string>())
        {
            if (TooLong("report.externalIds key", entry.Key, options.MaxIdLength) is { } k) return k;
            if (TooLong($"report.externalIds[{Truncate(entry.Key)}]", entry.Value, options.MaxIdLength) is { } v) return v;
        }
        if (r.hops is { Count: > MaxListEntries })
            return new("FIELD_TOO_LONG", $"report.hops has {r.hops.Count} entries; at most {MaxListEntries} are accepted.");
        foreach (var hop in r.hops ?? [])
            if (TooLong("report.hops entry", hop, options.MaxIdLength) is { } e) return e;
        if (r.reporterContact is { } c)
        {
            if (TooLong("report.reporterContact.name", c.name, MaxContactLength) is { } n) return n;
            if (TooLong("report.reporterContact.email", c.email, MaxContactLength) is { } m) return m;
            if (TooLong("report.reporterContact.phone", c.phone, MaxContactLength) is { } ph) return ph;
        }
        if (r.assessment is { } a && TooLong("report.assessment.analyst", a.analyst, options.MaxIdLength) is { } an) return an;
        return null;
    }

    private static Failure? TooLong(string field, string? value, int max) =>
        value is not null && value.Length > max ? new("FIELD_TOO_LONG", $"{field} is {value.Length} characters long; at most {max} are accepted.") : null;

    private static bool BadHex(string? value, int length) =>
        value is not null && (value.Length != length || !value.All(char.IsAsciiHexDigit));

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
