using Pipeline.Contracts;

namespace Pipeline.Intake;

/// <summary>Checks a submitted report; each failure has a machine-readable code and a human message.</summary>
public sealed class ReportValidator(IntakeOptions options, TimeProvider time)
{
    public sealed record Failure(string Code, string Message);

    public Failure? Validate(ReportSubmitted submitted)
    {
        var r = submitted.report;
        if (r is null) return new("REPORT_MISSING", "The event carries no report.");
        if (string.IsNullOrWhiteSpace(submitted.eventId)) return new("EVENT_ID_MISSING", "The event has no eventId.");
        if (string.IsNullOrWhiteSpace(r.reportId)) return new("REPORT_ID_MISSING", "The report has no reportId.");
        if (string.IsNullOrWhiteSpace(r.sourceHotline)) return new("SOURCE_HOTLINE_MISSING", "The report names no source hotline.");
        if (options.KnownHotlines.Count > 0 && !options.KnownHotlines.Contains(r.sourceHotline))
            return new("SOURCE_HOTLINE_UNKNOWN", $"The source hotline '{Truncate(r.sourceHotline)}' is not known to this hotline.");
        if (r.url is null) return new("URL_MISSING", "The report has no URL.");
        if (r.url.Length > options.MaxUrlLength)
            return new("URL_TOO_LONG", $"The URL is {r.url.Length} characters long; at most {options.MaxUrlLength} are accepted.");
        if (r.receivedAt > time.GetUtcNow().UtcDateTime + options.MaxClockSkew)
            return new("RECEIVED_IN_FUTURE", $"receivedAt {r.receivedAt:O} lies in the future beyond the allowed skew of {options.MaxClockSkew}.");
        if (r.hashes is { } h)
        {
            if (BadHex(h.md5, 32)) return new("HASH_MALFORMED", "md5 must be 32 hexadecimal characters.");
            if (BadHex(h.sha1, 40)) return new("HASH_MALFORMED", "sha1 must be 40 hexadecimal characters.");
            if (BadHex(h.sha256, 64)) return new("HASH_MALFORMED", "sha256 must be 64 hexadecimal characters.");
            if (BadHex(h.pdq, 64)) return new("HASH_MALFORMED", "pdq must be 64 hexadecimal characters (256 bits).");
        }
        return null;
    }

    private static bool BadHex(string? value, int length) =>
        value is not null && (value.Length != length || !value.All(char.IsAsciiHexDigit));

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
