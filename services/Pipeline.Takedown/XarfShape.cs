using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Pipeline.Contracts;

namespace Pipeline.Takedown;

/// <summary>
/// How the fields of our notices are put into X-ARF v4 (xarf/xarf-spec, schemas/v4: xarf-core.json,
/// types/content-base.json, types/content-csam.json) so that a strict receiver accepts them: values that cannot conform
/// are left out (every field written here other than the required ones is optional), never written as null.
/// </summary>
public static partial class XarfShape
{
    /// <summary>xarf-core.json <c>xarf_version</c>: <c>^4\.[0-9]+\.[0-9]+$</c>.</summary>
    public const string Version = "4.0.0";

    /// <summary>Namespaced tag (xarf-core.json <c>tags</c>: <c>namespace:predicate</c>) on notices about material
    /// illegal under national law only: X-ARF's <c>classification</c> has no value for that.</summary>
    public const string NationalLawTag = "legal:national-law";

    /// <summary>content-base.json <c>domain</c>: lower-case DNS labels of letters, digits and single inner hyphens, and a
    /// top-level label of letters only. An IP literal fails it, and so does a punycode label (<c>xn--</c>).</summary>
    [GeneratedRegex(@"^([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}\z", RegexOptions.CultureInvariant)]
    private static partial Regex DomainPattern();

    /// <summary>content-base.json <c>country_code</c>: <c>^[A-Z]{2}$</c>.</summary>
    [GeneratedRegex(@"^[A-Z]{2}\z", RegexOptions.CultureInvariant)]
    private static partial Regex CountryPattern();

    /// <summary>The host as content-base's <c>domain</c>, or null where it cannot match the pattern (an IPv4 or IPv6
    /// literal, a punycode host, a single label): then the field is left out; <c>url</c> still names the host.</summary>
    public static string? Domain(string? host)
    {
        if (string.IsNullOrEmpty(host)) return null;
        var domain = host.ToLowerInvariant();
        return DomainPattern().IsMatch(domain) ? domain : null;
    }

    /// <summary>xarf-core.json <c>contact_info.domain</c> (format hostname, RFC 1123): dot-separated labels of 1-63
    /// letters, digits and inner hyphens, at most 253 characters.</summary>
    public static bool IsHostname(string name) =>
        name.Length is > 0 and <= 253 && name.Split('.').All(l => HostLabel().IsMatch(l));

    [GeneratedRegex(@"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\z", RegexOptions.CultureInvariant)]
    private static partial Regex HostLabel();

    /// <summary>The sender's domain in <c>reporter</c> and <c>sender</c> (required there): Takedown:SenderDomain, else
    /// the domain of Takedown:SenderContact.</summary>
    public static string SenderDomain(TakedownOptions options) => string.IsNullOrEmpty(options.SenderDomain)
        ? options.SenderContact[(options.SenderContact.LastIndexOf('@') + 1)..]
        : options.SenderDomain;

    /// <summary>content-base.json <c>asn</c>: an integer from 1 to 4294967295.</summary>
    public static bool IsAsn(long asn) => asn is >= 1 and <= uint.MaxValue;

    public static bool IsCountryCode(string country) => CountryPattern().IsMatch(country);

    /// <summary>xarf-core.json <c>source_identifier</c>: the first address serving the URL (an IPv6 address without
    /// brackets), else the host.</summary>
    public static string SourceIdentifier(IList<string> ips, string host) =>
        ips.Count > 0 && !string.IsNullOrEmpty(ips[0]) ? ips[0] : host.Trim('[', ']');

    /// <summary>xarf-core.json <c>timestamp</c> (format date-time, RFC 3339): UTC with a <c>Z</c>, milliseconds (the
    /// precision of our event times). A time read without a kind is UTC, as every time in the pipeline.</summary>
    public static string Timestamp(DateTime at)
    {
        var utc = at.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : at.ToUniversalTime();
        return utc.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// content-csam.json <c>classification</c> (<c>baseline, A1, A2, B1, B2</c>): the A1/A2/B1/B2 category the analyst
    /// recorded (for baseline and national material alike), else <c>baseline</c>. National-only material without a
    /// category is sent as <c>baseline</c> with the tag <see cref="NationalLawTag"/> and a description saying so: the
    /// field is required and has no value for it (docs/architecture.md, "X-ARF v4 conformance").
    /// </summary>
    public static string Classification(SeverityCategory? category) => category switch
    {
        SeverityCategory.A1 => "A1",
        SeverityCategory.A2 => "A2",
        SeverityCategory.B1 => "B1",
        SeverityCategory.B2 => "B2",
        _ => "baseline",
    };

    /// <summary>content-csam.json <c>media_type</c> (<c>image, video, audio, text, mixed</c>) from the report's content
    /// type: a container (an archive of files) is <c>mixed</c>; a link or other content has no media type of its own.</summary>
    public static string? MediaType(ContentType contentType) => contentType switch
    {
        ContentType.IMAGE => "image",
        ContentType.VIDEO => "video",
        ContentType.TEXT => "text",
        ContentType.CONTAINER => "mixed",
        _ => null,
    };

    /// <summary>content-base.json <c>verification_method</c> of a notice whose material an analyst assessed.</summary>
    public const string VerifiedManually = "manual";

    /// <summary>content-base.json <c>verification_method</c> of a notice whose URL our recheck found serving (ONLINE).</summary>
    public const string VerifiedByCrawler = "automated_crawler";

    /// <summary>
    /// content-base.json <c>verified_at</c> (format date-time) and <c>verification_method</c>: when and how the reported
    /// material was last confirmed at the URL. Written only for a real verification (an analyst's assessment, a check of
    /// ours that found the URL online, or the check that found it removed on a confirmation); a notice resting on a
    /// known-hash match alone carries neither.
    /// </summary>
    public static JsonObject Verified(JsonObject doc, DateTime at, string method)
    {
        doc["verified_at"] = Timestamp(at);
        doc["verification_method"] = method;
        return doc;
    }

    /// <summary>The document without <c>verified_at</c> and <c>verification_method</c> (a withdrawal claims no verification).</summary>
    public static JsonObject Unverified(JsonObject doc)
    {
        doc.Remove("verified_at");
        doc.Remove("verification_method");
        return doc;
    }

    /// <summary>The document's <c>verified_at</c> as a UTC time, or null when it has none (or none that parses).</summary>
    public static DateTime? VerifiedAt(JsonObject doc) =>
        doc["verified_at"] is JsonValue v && v.TryGetValue<string>(out var s)
            && DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at)
            ? at : null;

    private static readonly HashSet<string> Classifications = ["baseline", "A1", "A2", "B1", "B2"];

    /// <summary>
    /// Brings a document written by an earlier version into shape, for reminders that copy the first notice's document
    /// from state: null-valued fields (<c>"asn": null</c>, <c>"hosting_provider": null</c>) and an empty
    /// <c>evidence</c> array are removed, a <c>domain</c> that cannot match the pattern is removed, and
    /// <c>classification: "national"</c> becomes <c>baseline</c> with the national-law tag. A conforming document is
    /// left as it is.
    /// </summary>
    public static JsonObject Conform(JsonObject doc)
    {
        foreach (var name in doc.Where(p => p.Value is null).Select(p => p.Key).ToList()) doc.Remove(name);
        if (doc["evidence"] is JsonArray { Count: 0 }) doc.Remove("evidence");
        if (doc["domain"] is JsonValue d && (!d.TryGetValue<string>(out var domain) || Domain(domain) != domain)) doc.Remove("domain");
        if (doc["classification"] is JsonValue c && (!c.TryGetValue<string>(out var cls) || !Classifications.Contains(cls)))
        {
            var national = c.TryGetValue<string>(out var old) && old == "national";
            doc["classification"] = "baseline";
            if (national && doc["tags"] is null) doc["tags"] = new JsonArray(NationalLawTag);
        }
        return doc;
    }
}
