using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Prometheus;

namespace Pipeline.Geolocation;

/// <summary>An RDAP answer for the network holding an address. <see cref="Failure"/> is set when the registry could
/// not answer (404, 5xx, timeout, unreadable JSON).</summary>
public sealed record RdapAnswer(string Registry, string? AbuseEmail, string? NetworkName, string? Handle, string? Country, string? Failure, bool FromCache = false)
{
    public bool Ok => Failure is null;
}

/// <summary>A domain's registrar as its registry's RDAP answer names it: the entity with the role "registrar" (its vCard
/// fn, its IANA Registrar ID from publicIds) and that entity's abuse contact (the nested entity with the role "abuse"),
/// as the ICANN RDAP profile requires of gTLD answers. <see cref="Failure"/> is set when the registry could not answer
/// (404 for an unregistered name, 5xx, timeout, unreadable JSON).</summary>
public sealed record RdapRegistrar(string Registry, string Domain, string? Name, string? IanaId, string? AbuseEmail, string? Failure, bool FromCache = false)
{
    public bool Ok => Failure is null;
}

/// <summary>
/// RFC 9083 IP network lookups (<c>GET {base}ip/{address}</c>) for the network's abuse contact, and domain lookups
/// (<c>GET {base}domain/{name}</c>) for a domain's registrar (<see cref="LookupDomainAsync"/>). A network's abuse contact is the entity with the
/// role "abuse" (searched through nested entities, as the RIRs nest it under the registrant), its vCard email.
/// The registry comes from a configured bootstrap map (prefix → base URL). Answers are cached per network range
/// (startAddress–endAddress), failures per address for a shorter time.
/// </summary>
public sealed class RdapClient : IDisposable
{
    private static readonly Counter Lookups = Metrics.CreateCounter("pipeline_geolocation_rdap_lookups_total",
        "RDAP network lookups by outcome (found, noabuse, failed) and whether the cache answered.", "outcome", "cache");

    private static readonly Counter DomainLookups = Metrics.CreateCounter("pipeline_geolocation_rdap_domain_lookups_total",
        "RDAP domain lookups for a registrar by outcome (found, noabuse, failed) and whether the cache answered.", "outcome", "cache");

    private readonly RdapSettings settings;
    private readonly TimeProvider time;
    private readonly HttpClient http;
    private readonly (IPNetwork Prefix, Uri Base)[] registries;
    private readonly Lock gate = new();
    private readonly List<(byte[] Start, byte[] End, RdapAnswer Answer, DateTimeOffset Expires)> networks = [];
    private readonly Dictionary<IPAddress, (RdapAnswer Answer, DateTimeOffset Expires)> failures = [];
    private readonly (string Suffix, Uri Base)[] domainRegistries;
    private readonly Dictionary<string, (RdapRegistrar Answer, DateTimeOffset Expires)> domains = new(StringComparer.Ordinal);

    public RdapClient(RdapSettings settings, TimeProvider time, HttpMessageHandler? handler = null)
    {
        this.settings = settings;
        this.time = time;
        registries = settings.Registries
            .Select(r => (IPNetwork.Parse(r.Prefix), new Uri(r.BaseUrl.EndsWith('/') ? r.BaseUrl : r.BaseUrl + "/")))
            .OrderByDescending(r => r.Item1.PrefixLength).ToArray();
        domainRegistries = settings.Domains
            .Select(r => (r.Suffix.Trim('.').ToLowerInvariant(), new Uri(r.BaseUrl.EndsWith('/') ? r.BaseUrl : r.BaseUrl + "/")))
            .OrderByDescending(r => r.Item1.Length).ToArray();
        // No proxy: a lookup goes to the registry named in the configuration and nowhere else.
        http = new HttpClient(handler ?? new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromMilliseconds(settings.TimeoutMs),
        };
        http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/rdap+json"));
        http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json", 0.9));
    }

    public bool Enabled => registries.Length > 0;

    public bool TrustContacts => settings.TrustContacts;

    /// <summary>True for a domain suffix as Geolocation:Rdap:Domains takes it: LDH labels separated by dots.</summary>
    public static bool IsSuffix(string? suffix) =>
        !string.IsNullOrEmpty(suffix) && suffix.Split('.').All(l => l.Length is > 0 and <= 63 && l[0] != '-' && l[^1] != '-' && l.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'));

    /// <summary>The registered name of <paramref name="host"/> under a configured domain registry (its suffix plus one
    /// label) and that registry's base URL; null for an IP literal, a name no registry covers, or a bare suffix.</summary>
    public (string Domain, Uri Registry)? RegisteredDomain(string host)
    {
        var name = host.Trim().TrimEnd('.').ToLowerInvariant();
        if (name.Length == 0 || IPAddress.TryParse(name.Trim('[', ']'), out _)) return null;
        foreach (var (suffix, registry) in domainRegistries)
        {
            if (!name.EndsWith("." + suffix, StringComparison.Ordinal)) continue;
            var below = name[..^(suffix.Length + 1)];
            var label = below[(below.LastIndexOf('.') + 1)..];
            return label.Length == 0 ? null : (label + "." + suffix, registry);
        }
        return null;
    }

    /// <summary>The cached registrar answer for <paramref name="domain"/> (a registered name, see
    /// <see cref="RegisteredDomain"/>) while it is fresh, else null: a caller on a thread that must not wait (a stage's
    /// timer) reads this and starts <see cref="LookupDomainAsync"/> elsewhere when it is null.</summary>
    public RdapRegistrar? CachedDomain(string domain)
    {
        lock (gate)
            return domains.TryGetValue(domain, out var d) && d.Expires > time.GetUtcNow() ? d.Answer with { FromCache = true } : null;
    }

    /// <summary>RFC 9083 domain lookup (<c>GET {base}domain/{name}</c>) for the name's registrar and its abuse contact,
    /// cached per domain: an answer for Geolocation:Rdap:CacheMinutes, a failure for FailureCacheSeconds, each at least a
    /// minute. Null when no configured registry covers the name.</summary>
    public async ValueTask<RdapRegistrar?> LookupDomainAsync(string domain, CancellationToken ct)
    {
        if (RegisteredDomain(domain) is not { } target) return null;
        if (CachedDomain(target.Domain) is { } cached)
        {
            DomainLookups.WithLabels(Outcome(cached), "hit").Inc();
            return cached;
        }
        var label = target.Registry.Authority;
        var answer = await GetAsync(new Uri(target.Registry, "domain/" + target.Domain), label, root => ParseDomain(label, target.Domain, root),
            failure => new RdapRegistrar(label, target.Domain, null, null, null, failure), ct);
        var now = time.GetUtcNow();
        lock (gate)
        {
            foreach (var stale in domains.Where(d => d.Value.Expires <= now).Select(d => d.Key).ToList()) domains.Remove(stale);
            // At least a minute, even with the caches off: a stage timer that started this lookup reads the answer from
            // here when it fires again, and must find it there rather than start the lookup once more.
            domains[target.Domain] = (answer, now + TimeSpan.FromSeconds(Math.Max(60, answer.Ok ? settings.CacheMinutes * 60.0 : settings.FailureCacheSeconds)));
        }
        DomainLookups.WithLabels(Outcome(answer), "miss").Inc();
        return answer;
    }

    private static string Outcome(RdapRegistrar a) => !a.Ok ? "failed" : a.AbuseEmail is null ? "noabuse" : "found";

    /// <summary>Reads an RFC 9083 domain object: the top-level entity with the role "registrar", its name (vCard fn),
    /// its IANA Registrar ID (publicIds) and the email of its nested "abuse" entity.</summary>
    public static RdapRegistrar ParseDomain(string registry, string domain, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            return new RdapRegistrar(registry, domain, null, null, null, $"RDAP answer from {registry} is not a JSON object");
        if (!root.TryGetProperty("entities", out var entities) || entities.ValueKind != JsonValueKind.Array)
            return new RdapRegistrar(registry, domain, null, null, null, null);
        foreach (var entity in entities.EnumerateArray())
        {
            if (!HasRole(entity, "registrar")) continue;
            string? iana = null;
            if (entity.TryGetProperty("publicIds", out var ids) && ids.ValueKind == JsonValueKind.Array)
                foreach (var id in ids.EnumerateArray())
                    if (Text(id, "type") is { } type && type.Contains("IANA", StringComparison.OrdinalIgnoreCase) && Text(id, "identifier") is { } value)
                        iana = value;
            return new RdapRegistrar(registry, domain, VcardText(entity, "fn"), iana, AbuseEmail(entity, depth: 0), null);
        }
        return new RdapRegistrar(registry, domain, null, null, null, null);
    }

    private static bool HasRole(JsonElement entity, string role) =>
        entity.ValueKind == JsonValueKind.Object && entity.TryGetProperty("roles", out var roles) && roles.ValueKind == JsonValueKind.Array
        && roles.EnumerateArray().Any(r => r.ValueKind == JsonValueKind.String && string.Equals(r.GetString(), role, StringComparison.OrdinalIgnoreCase));

    /// <summary>Null when no configured registry covers the address.</summary>
    /// <param name="fresh">Ask the registry even when the cache holds an answer (the re-lookup before sending).</param>
    public async ValueTask<RdapAnswer?> LookupAsync(IPAddress address, CancellationToken ct, bool fresh = false)
    {
        address = HostingTable.Canonical(address);
        var registry = registries.FirstOrDefault(r => r.Prefix.Contains(address)).Base;
        if (registry is null) return null;
        var now = time.GetUtcNow();
        var bytes = address.GetAddressBytes();
        lock (gate)
        {
            foreach (var n in networks)
                if (!fresh && n.Expires > now && n.Start.Length == bytes.Length && Compare(n.Start, bytes) <= 0 && Compare(bytes, n.End) <= 0)
                {
                    Lookups.WithLabels(n.Answer.AbuseEmail is null ? "noabuse" : "found", "hit").Inc();
                    return n.Answer with { FromCache = true };
                }
            if (!fresh && failures.TryGetValue(address, out var f) && f.Expires > now)
            {
                Lookups.WithLabels("failed", "hit").Inc();
                return f.Answer with { FromCache = true };
            }
        }

        var (answer, start, end) = await FetchAsync(registry, address, ct);
        lock (gate)
        {
            if (answer.Ok && start is not null && end is not null)
            {
                networks.RemoveAll(n => n.Expires <= now);
                networks.Add((start, end, answer, now + TimeSpan.FromMinutes(settings.CacheMinutes)));
            }
            else if (!answer.Ok)
                failures[address] = (answer, now + TimeSpan.FromSeconds(settings.FailureCacheSeconds));
        }
        Lookups.WithLabels(!answer.Ok ? "failed" : answer.AbuseEmail is null ? "noabuse" : "found", "miss").Inc();
        return answer;
    }

    private Task<(RdapAnswer, byte[]?, byte[]?)> FetchAsync(Uri registry, IPAddress address, CancellationToken ct)
    {
        var label = registry.Authority;
        return GetAsync<(RdapAnswer, byte[]?, byte[]?)>(new Uri(registry, "ip/" + address), label, root => Parse(label, root),
            failure => (new RdapAnswer(label, null, null, null, null, failure), null, null), ct);
    }

    /// <summary>One RDAP request: the parsed answer, or <paramref name="failed"/> with why there is none (an HTTP error
    /// status, a timeout, a connection failure, unreadable JSON).</summary>
    private async Task<T> GetAsync<T>(Uri url, string label, Func<JsonElement, T> parse, Func<string, T> failed, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(url, ct);
            if (!response.IsSuccessStatusCode) return failed($"HTTP {(int)response.StatusCode} from {label}");
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            using var json = await JsonDocument.ParseAsync(body, cancellationToken: ct);
            return parse(json.RootElement);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return failed($"timeout after {settings.TimeoutMs} ms from {label}");
        }
        catch (HttpRequestException e)
        {
            return failed($"{e.Message} ({label})");
        }
        catch (JsonException e)
        {
            return failed($"unreadable RDAP JSON from {label}: {e.Message}");
        }
    }

    /// <summary>Reads an RFC 9083 "ip network" object.</summary>
    public static (RdapAnswer Answer, byte[]? Start, byte[]? End) Parse(string registry, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            return (new RdapAnswer(registry, null, null, null, null, $"RDAP answer from {registry} is not a JSON object"), null, null);
        var email = AbuseEmail(root, depth: 0);
        var answer = new RdapAnswer(registry, email, Text(root, "name"), Text(root, "handle"), Text(root, "country")?.ToUpperInvariant(), null);
        byte[]? start = null, end = null;
        if (IPAddress.TryParse(Text(root, "startAddress") ?? "", out var s) && IPAddress.TryParse(Text(root, "endAddress") ?? "", out var e))
        {
            start = HostingTable.Canonical(s).GetAddressBytes();
            end = HostingTable.Canonical(e).GetAddressBytes();
            if (start.Length != end.Length || Compare(start, end) > 0) start = end = null;
        }
        return (answer, start, end);
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string? AbuseEmail(JsonElement holder, int depth)
    {
        if (depth > 4 || !holder.TryGetProperty("entities", out var entities) || entities.ValueKind != JsonValueKind.Array) return null;
        foreach (var entity in entities.EnumerateArray())
        {
            if (HasRole(entity, "abuse") && VcardText(entity, "email") is { } email && email.Contains('@', StringComparison.Ordinal))
                return email;
        }
        foreach (var entity in entities.EnumerateArray())
            if (AbuseEmail(entity, depth + 1) is { } nested) return nested;
        return null;
    }

    /// <summary>A jCard (RFC 7095) property's text: ["vcard", [["version", {}, "text", "4.0"], ["email", {}, "text", "abuse@…"], …]].</summary>
    private static string? VcardText(JsonElement entity, string property)
    {
        if (!entity.TryGetProperty("vcardArray", out var vcard) || vcard.ValueKind != JsonValueKind.Array || vcard.GetArrayLength() < 2) return null;
        var properties = vcard[1];
        if (properties.ValueKind != JsonValueKind.Array) return null;
        foreach (var p in properties.EnumerateArray())
            if (p.ValueKind == JsonValueKind.Array && p.GetArrayLength() >= 4 && p[0].ValueKind == JsonValueKind.String
                && string.Equals(p[0].GetString(), property, StringComparison.OrdinalIgnoreCase) && p[3].ValueKind == JsonValueKind.String
                && p[3].GetString() is { Length: > 0 } text)
                return text.Trim();
        return null;
    }

    private static int Compare(byte[] a, byte[] b)
    {
        for (var i = 0; i < a.Length; i++)
            if (a[i] != b[i]) return a[i].CompareTo(b[i]);
        return 0;
    }

    public void Dispose() => http.Dispose();
}
