using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Pipeline.Takedown.Tests;

/// <summary>
/// The rules of an X-ARF v4 <c>content/csam</c> document as a strict receiver applies them, written by hand from the
/// specification's JSON schemas (github.com/xarf/xarf-spec, schemas/v4: <c>xarf-core.json</c>,
/// <c>types/content-base.json</c>, <c>types/content-csam.json</c>; JSON Schema 2020-12). A strict receiver asserts the
/// <c>format</c>s too (date-time, uuid, uri, email, hostname), so these rules do. Each rule names the schema file it
/// comes from. <see cref="Check"/> returns every violation (empty: the document conforms), each as
/// "<c>path: what is wrong (schema)</c>".
/// <para>Written by hand rather than with a JSON-schema library: the three schemas are small, and a hand-written rule
/// says in the test output which schema and which field a notice broke.</para>
/// </summary>
public static partial class XarfV4Rules
{
    private const string Core = "xarf-core.json";
    private const string Content = "content-base.json";
    private const string Csam = "content-csam.json";

    /// <summary>Project rules on top of the schemas (docs/architecture.md, "X-ARF v4 conformance"): no imagery in
    /// evidence, no empty evidence array, no <c>_internal</c> block on the wire.</summary>
    private const string Project = "project rule";

    public static IReadOnlyList<string> Check(string json)
    {
        JsonNode? doc;
        try
        {
            doc = JsonNode.Parse(json);
        }
        catch (System.Text.Json.JsonException e)
        {
            return [$"$: not JSON ({e.Message})"];
        }
        return Check(doc);
    }

    public static IReadOnlyList<string> Check(JsonNode? doc)
    {
        var errors = new List<string>();
        if (doc is not JsonObject o)
        {
            errors.Add($"$: a report is a JSON object ({Core} type: object)");
            return errors;
        }
        var v = new Violations(errors);

        // xarf-core.json: required, "additionalProperties": true (unknown fields such as reminder_of are allowed).
        foreach (var name in new[] { "xarf_version", "report_id", "timestamp", "reporter", "sender", "source_identifier", "category", "type" })
            v.Required(o, name, Core);
        v.String(o, "xarf_version", Core, s => VersionPattern().IsMatch(s), "matches ^4\\.[0-9]+\\.[0-9]+$");
        v.String(o, "report_id", Core, IsUuid, "is a UUID (format uuid)");
        v.String(o, "timestamp", Core, IsDateTime, "is an RFC 3339 date-time (format date-time)");
        ContactInfo(v, o, "reporter");
        ContactInfo(v, o, "sender");
        v.String(o, "source_identifier", Core);
        v.Integer(o, "source_port", Core, 1, 65535);
        v.Enum(o, "category", Core, "messaging", "content", "copyright", "connection", "vulnerability", "infrastructure", "reputation");
        v.String(o, "type", Core);
        v.String(o, "evidence_source", Core);
        if (v.Array(o, "evidence", Core, maxItems: 50) is { } evidence)
        {
            if (evidence.Count == 0) v.Add("evidence", "is an empty array: leave it out when there is no evidence", Project);
            for (var i = 0; i < evidence.Count; i++) EvidenceItem(v, evidence[i], $"evidence[{i}]");
        }
        if (v.Array(o, "tags", Core, maxItems: 20) is { } tags)
            for (var i = 0; i < tags.Count; i++)
                if (!IsString(tags[i], out var tag) || !TagPattern().IsMatch(tag))
                    v.Add($"tags[{i}]", "is a string namespace:predicate (^[a-z0-9][a-z0-9_+-]*:[a-z0-9][a-z0-9_+-]*$)", Core);
        v.Number(o, "confidence", Core, 0.0, 1.0);
        v.String(o, "description", Core, s => s.Length <= 1000, "is at most 1000 characters");
        v.Enum(o, "legacy_version", Core, "3");
        if (o.ContainsKey("_internal")) v.Add("_internal", "is internal metadata and is never transmitted", $"{Core} / {Project}");

        // content-base.json: category const "content", url required.
        v.Const(o, "category", "content", Content);
        v.Required(o, "url", Content);
        v.String(o, "url", Content, IsUri, "is an absolute URI (format uri)");
        v.String(o, "domain", Content, s => DomainPattern().IsMatch(s), "matches ^([a-z0-9]+(-[a-z0-9]+)*\\.)+[a-z]{2,}$");
        v.String(o, "registrar", Content);
        if (v.Array(o, "nameservers", Content) is { } nameservers)
            for (var i = 0; i < nameservers.Count; i++)
                if (!IsString(nameservers[i], out _)) v.Add($"nameservers[{i}]", "is a string", Content);
        if (v.Object(o, "dns_records", Content) is { } dns)
        {
            StringArray(v, dns, "a", "dns_records.", IsIPv4, "an IPv4 address (format ipv4)");
            StringArray(v, dns, "aaaa", "dns_records.", IsIPv6, "an IPv6 address (format ipv6)");
            StringArray(v, dns, "mx", "dns_records.", _ => true, "a string");
            StringArray(v, dns, "txt", "dns_records.", _ => true, "a string");
        }
        v.String(o, "screenshot_url", Content, IsUri, "is an absolute URI (format uri)");
        v.String(o, "verified_at", Content, IsDateTime, "is an RFC 3339 date-time (format date-time)");
        v.Enum(o, "verification_method", Content, "manual", "automated_crawler", "user_report", "honeypot", "threat_intelligence");
        v.Enum(o, "attack_vector", Content, "phishing", "malware", "fraud", "brand_infringement", "copyright_infringement", "data_leak", "remote_compromise", "suspicious_registration");
        v.String(o, "target_brand", Content);
        v.String(o, "hosting_provider", Content);
        v.Integer(o, "asn", Content, 1, 4294967295);
        v.String(o, "country_code", Content, s => CountryPattern().IsMatch(s), "matches ^[A-Z]{2}$");
        if (v.Object(o, "ssl_certificate", Content) is { } ssl)
        {
            v.String(ssl, "issuer", Content, prefix: "ssl_certificate.");
            v.String(ssl, "subject", Content, prefix: "ssl_certificate.");
            v.String(ssl, "valid_from", Content, IsDateTime, "is an RFC 3339 date-time", "ssl_certificate.");
            v.String(ssl, "valid_to", Content, IsDateTime, "is an RFC 3339 date-time", "ssl_certificate.");
            v.String(ssl, "fingerprint", Content, prefix: "ssl_certificate.");
        }
        if (v.Object(o, "whois", Content) is { } whois)
        {
            v.String(whois, "registrant", Content, prefix: "whois.");
            foreach (var date in new[] { "created_date", "updated_date", "expiry_date" })
                v.String(whois, date, Content, IsDateTime, "is an RFC 3339 date-time", "whois.");
            v.String(whois, "registrar_abuse_contact", Content, IsEmail, "is an e-mail address (format email)", "whois.");
        }
        if (v.Object(o, "dns_response", Content) is { } response)
        {
            v.String(response, "query_time", Content, IsDateTime, "is an RFC 3339 date-time", "dns_response.");
            v.Boolean(response, "authoritative", Content, "dns_response.");
            v.EnumAt(response, "response_code", Content, "dns_response.", "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED");
        }

        // content-csam.json: type const "csam"; classification and detection_method required.
        v.Const(o, "type", "csam", Csam);
        v.Required(o, "classification", Csam);
        v.Required(o, "detection_method", Csam);
        v.Enum(o, "classification", Csam, "baseline", "A1", "A2", "B1", "B2");
        v.Enum(o, "media_type", Csam, "image", "video", "audio", "text", "mixed");
        v.Enum(o, "detection_method", Csam, "hash_match", "ai_detection", "manual_review", "user_report", "automated_scan");
        if (v.Object(o, "hash_values", Csam) is { } hashes)
        {
            v.String(hashes, "md5", Csam, s => HexPattern().IsMatch(s) && s.Length == 32, "is 32 hex digits", "hash_values.");
            v.String(hashes, "sha1", Csam, s => HexPattern().IsMatch(s) && s.Length == 40, "is 40 hex digits", "hash_values.");
            v.String(hashes, "sha256", Csam, s => HexPattern().IsMatch(s) && s.Length == 64, "is 64 hex digits", "hash_values.");
            v.String(hashes, "photodna", Csam, prefix: "hash_values.");
        }
        v.String(o, "ncmec_report_id", Csam);
        v.Boolean(o, "content_removed", Csam);
        v.Boolean(o, "account_suspended", Csam);
        return errors;
    }

    /// <summary>xarf-core.json <c>$defs/contact_info</c>: org (≤ 200), contact (email), domain (hostname), all required,
    /// nothing else ("additionalProperties": false).</summary>
    private static void ContactInfo(Violations v, JsonObject o, string name)
    {
        if (!o.TryGetPropertyValue(name, out var node)) return;
        if (node is not JsonObject contact)
        {
            v.Add(name, "is an object (contact_info)", Core);
            return;
        }
        var prefix = name + ".";
        foreach (var field in new[] { "org", "contact", "domain" }) v.Required(contact, field, Core, prefix);
        v.String(contact, "org", Core, s => s.Length <= 200, "is at most 200 characters", prefix);
        v.String(contact, "contact", Core, IsEmail, "is an e-mail address (format email)", prefix);
        v.String(contact, "domain", Core, IsHostname, "is a host name (format hostname)", prefix);
        foreach (var extra in contact.Select(p => p.Key).Except(["org", "contact", "domain"]))
            v.Add(prefix + extra, "is not allowed in contact_info (additionalProperties: false)", Core);
    }

    /// <summary>xarf-core.json <c>$defs/evidence_item</c>: content_type and payload (base64) required; description
    /// ≤ 500; hash <c>algorithm:hex</c>; size 0..5242880; nothing else. Project rule: never imagery (image/*, video/*).</summary>
    private static void EvidenceItem(Violations v, JsonNode? node, string path)
    {
        if (node is not JsonObject item)
        {
            v.Add(path, "is an object (evidence_item)", Core);
            return;
        }
        var prefix = path + ".";
        v.Required(item, "content_type", Core, prefix);
        v.Required(item, "payload", Core, prefix);
        v.String(item, "content_type", Core, prefix: prefix);
        v.String(item, "payload", Core, IsBase64, "is base64 (contentEncoding base64)", prefix);
        v.String(item, "description", Core, s => s.Length <= 500, "is at most 500 characters", prefix);
        v.String(item, "hash", Core, s => EvidenceHashPattern().IsMatch(s), "matches ^(md5|sha1|sha256|sha512):[a-fA-F0-9]+$", prefix);
        v.Integer(item, "size", Core, 0, 5242880, prefix);
        foreach (var extra in item.Select(p => p.Key).Except(["content_type", "description", "payload", "hash", "size"]))
            v.Add(prefix + extra, "is not allowed in evidence_item (additionalProperties: false)", Core);
        if (item["content_type"] is JsonValue t && t.TryGetValue<string>(out var type)
            && (type.StartsWith("image/", StringComparison.OrdinalIgnoreCase) || type.StartsWith("video/", StringComparison.OrdinalIgnoreCase)))
            v.Add(prefix + "content_type", $"is {type}: a CSAM notice never carries imagery", Project);
    }

    private static void StringArray(Violations v, JsonObject o, string name, string prefix, Func<string, bool> valid, string what)
    {
        if (v.Array(o, name, Content, prefix: prefix) is not { } items) return;
        for (var i = 0; i < items.Count; i++)
            if (!IsString(items[i], out var s) || !valid(s)) v.Add($"{prefix}{name}[{i}]", "is " + what, Content);
    }

    private static bool IsString(JsonNode? node, out string value)
    {
        value = "";
        return node is JsonValue j && j.GetValueKind() == System.Text.Json.JsonValueKind.String && j.TryGetValue(out value!);
    }

    // JSON Schema regular expressions are ECMA-262; .NET's "$" also matches before a final newline, so "\z" here.
    [GeneratedRegex(@"^4\.[0-9]+\.[0-9]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex VersionPattern();

    [GeneratedRegex(@"^([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}\z", RegexOptions.CultureInvariant)]
    private static partial Regex DomainPattern();

    [GeneratedRegex(@"^[A-Z]{2}\z", RegexOptions.CultureInvariant)]
    private static partial Regex CountryPattern();

    [GeneratedRegex(@"^[a-fA-F0-9]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex HexPattern();

    [GeneratedRegex(@"^(md5|sha1|sha256|sha512):[a-fA-F0-9]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex EvidenceHashPattern();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9_+-]*:[a-z0-9][a-z0-9_+-]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex TagPattern();

    /// <summary>RFC 3339 <c>date-time</c>: full date, "T", full time with seconds, optional fraction, and an offset (Z or ±hh:mm) — a
    /// time without offset is not one.</summary>
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\z", RegexOptions.CultureInvariant)]
    private static partial Regex DateTimePattern();

    /// <summary>RFC 4122 textual UUID (format uuid): 8-4-4-4-12 hex digits.</summary>
    [GeneratedRegex(@"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\z", RegexOptions.CultureInvariant)]
    private static partial Regex UuidPattern();

    [GeneratedRegex(@"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\z", RegexOptions.CultureInvariant)]
    private static partial Regex HostLabel();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7E]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex UriCharacters();

    public static bool IsUuid(string s) => UuidPattern().IsMatch(s);

    public static bool IsDateTime(string s) =>
        DateTimePattern().IsMatch(s) && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _);

    /// <summary>RFC 1123 host name (format hostname): at most 253 characters of dot-separated labels of 1-63 letters,
    /// digits and inner hyphens.</summary>
    public static bool IsHostname(string s) => s.Length is > 0 and <= 253 && s.Split('.').All(l => HostLabel().IsMatch(l));

    /// <summary>Format email (RFC 5321 mailbox, as validators check it): a local part without spaces or "@", "@", a host name.</summary>
    public static bool IsEmail(string s)
    {
        var at = s.LastIndexOf('@');
        return at > 0 && at < s.Length - 1 && !s[..at].Any(c => char.IsWhiteSpace(c) || c == '@' || c > '\x7E') && IsHostname(s[(at + 1)..]);
    }

    /// <summary>Format uri (RFC 3986): absolute (a scheme), printable ASCII only (an IRI with raw Unicode is not a URI).</summary>
    public static bool IsUri(string s) => UriCharacters().IsMatch(s) && Uri.TryCreate(s, UriKind.Absolute, out _);

    public static bool IsIPv4(string s) => IPAddress.TryParse(s, out var a) && a.AddressFamily == AddressFamily.InterNetwork && s.Count(c => c == '.') == 3;

    public static bool IsIPv6(string s) => IPAddress.TryParse(s, out var a) && a.AddressFamily == AddressFamily.InterNetworkV6;

    private static bool IsBase64(string s)
    {
        var buffer = new byte[s.Length];
        return Convert.TryFromBase64String(s, buffer, out _);
    }

    /// <summary>The type and range checks of JSON Schema, collecting violations. A field that is absent is never wrong here
    /// (<see cref="Required"/> says when it must be there); a field that is there must have its type — null included.</summary>
    private sealed class Violations(List<string> errors)
    {
        public void Add(string path, string what, string source) => errors.Add($"{path}: {what} ({source})");

        public void Required(JsonObject o, string name, string source, string prefix = "")
        {
            if (!o.ContainsKey(name)) Add(prefix + name, "is required", source);
        }

        public void String(JsonObject o, string name, string source, Func<string, bool>? valid = null, string? rule = null, string prefix = "")
        {
            if (!o.TryGetPropertyValue(name, out var node)) return;
            if (!IsString(node, out var s)) Add(prefix + name, $"is a string, not {Kind(node)}", source);
            else if (valid is not null && !valid(s)) Add(prefix + name, $"'{s}' is not valid: must be one that {rule}", source);
        }

        public void Integer(JsonObject o, string name, string source, long min, long max, string prefix = "")
        {
            if (!o.TryGetPropertyValue(name, out var node)) return;
            if (node is not JsonValue j || j.GetValueKind() != System.Text.Json.JsonValueKind.Number
                || !decimal.TryParse(j.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || d != decimal.Truncate(d))
                Add(prefix + name, $"is an integer, not {Kind(node)}", source);
            else if (d < min || d > max)
                Add(prefix + name, $"{d} is outside {min}..{max}", source);
        }

        public void Number(JsonObject o, string name, string source, double min, double max)
        {
            if (!o.TryGetPropertyValue(name, out var node)) return;
            if (node is not JsonValue j || j.GetValueKind() != System.Text.Json.JsonValueKind.Number) Add(name, $"is a number, not {Kind(node)}", source);
            else if (j.GetValue<double>() is var x && (x < min || x > max)) Add(name, $"{x} is outside {min}..{max}", source);
        }

        public void Boolean(JsonObject o, string name, string source, string prefix = "")
        {
            if (!o.TryGetPropertyValue(name, out var node)) return;
            if (node is not JsonValue j || j.GetValueKind() is not (System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False))
                Add(prefix + name, $"is a boolean, not {Kind(node)}", source);
        }

        public void Enum(JsonObject o, string name, string source, params string[] allowed) => EnumAt(o, name, source, "", allowed);

        public void EnumAt(JsonObject o, string name, string source, string prefix, params string[] allowed) =>
            String(o, name, source, allowed.Contains, "is one of " + string.Join(", ", allowed), prefix);

        public void Const(JsonObject o, string name, string value, string source) =>
            String(o, name, source, s => s == value, $"is \"{value}\"");

        public JsonArray? Array(JsonObject o, string name, string source, int maxItems = int.MaxValue, string prefix = "")
        {
            if (!o.TryGetPropertyValue(name, out var node)) return null;
            if (node is not JsonArray a)
            {
                Add(prefix + name, $"is an array, not {Kind(node)}", source);
                return null;
            }
            if (a.Count > maxItems) Add(prefix + name, $"has {a.Count} items, at most {maxItems}", source);
            return a;
        }

        public JsonObject? Object(JsonObject o, string name, string source)
        {
            if (!o.TryGetPropertyValue(name, out var node)) return null;
            if (node is JsonObject x) return x;
            Add(name, $"is an object, not {Kind(node)}", source);
            return null;
        }

        private static string Kind(JsonNode? node) => node is null ? "null" : node.GetValueKind().ToString().ToLowerInvariant();
    }
}
