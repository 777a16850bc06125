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

/// <summary>
/// RFC 9083 IP network lookups (<c>GET {base}ip/{address}</c>) for the network's abuse contact: the entity with the
/// role "abuse" (searched through nested entities, as the RIRs nest it under the registrant), its vCard email.
/// The registry comes from a configured bootstrap map (prefix → base URL). Answers are cached per network range
/// (startAddress–endAddress), failures per address for a shorter time.
/// </summary>
public sealed class RdapClient : IDisposable
{
    private static readonly Counter Lookups = Metrics.CreateCounter("pipeline_geolocation_rdap_lookups_total",
        "RDAP network lookups by outcome (found, noabuse, failed) and whether the cache answered.", "outcome", "cache");

    private readonly RdapSettings settings;
    private readonly TimeProvider time;
    private readonly HttpClient http;
    private readonly (IPNetwork Prefix, Uri Base)[] registries;
    private readonly Lock gate = new();
    private readonly List<(byte[] Start, byte[] End, RdapAnswer Answer, DateTimeOffset Expires)> networks = [];
    private readonly Dictionary<IPAddress, (RdapAnswer Answer, DateTimeOffset Expires)> failures = [];

    public RdapClient(RdapSettings settings, TimeProvider time, HttpMessageHandler? handler = null)
    {
        this.settings = settings;
        this.time = time;
        registries = settings.Registries
            .Select(r => (IPNetwork.Parse(r.Prefix), new Uri(r.BaseUrl.EndsWith('/') ? r.BaseUrl : r.BaseUrl + "/")))
            .OrderByDescending(r => r.Item1.PrefixLength).ToArray();
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

    private async Task<(RdapAnswer, byte[]?, byte[]?)> FetchAsync(Uri registry, IPAddress address, CancellationToken ct)
    {
        var label = registry.Authority;
        try
        {
            using var response = await http.GetAsync(new Uri(registry, "ip/" + address), ct);
            if (!response.IsSuccessStatusCode)
                return (new RdapAnswer(label, null, null, null, null, $"HTTP {(int)response.StatusCode} from {label}"), null, null);
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            using var json = await JsonDocument.ParseAsync(body, cancellationToken: ct);
            return Parse(label, json.RootElement);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (new RdapAnswer(label, null, null, null, null, $"timeout after {settings.TimeoutMs} ms from {label}"), null, null);
        }
        catch (HttpRequestException e)
        {
            return (new RdapAnswer(label, null, null, null, null, $"{e.Message} ({label})"), null, null);
        }
        catch (JsonException e)
        {
            return (new RdapAnswer(label, null, null, null, null, $"unreadable RDAP JSON from {label}: {e.Message}"), null, null);
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
            if (entity.TryGetProperty("roles", out var roles) && roles.ValueKind == JsonValueKind.Array
                && roles.EnumerateArray().Any(r => r.ValueKind == JsonValueKind.String && string.Equals(r.GetString(), "abuse", StringComparison.OrdinalIgnoreCase))
                && VcardEmail(entity) is { } email)
                return email;
        }
        foreach (var entity in entities.EnumerateArray())
            if (AbuseEmail(entity, depth + 1) is { } nested) return nested;
        return null;
    }

    /// <summary>jCard (RFC 7095): ["vcard", [["version", {}, "text", "4.0"], ["email", {}, "text", "abuse@…"], …]].</summary>
    private static string? VcardEmail(JsonElement entity)
    {
        if (!entity.TryGetProperty("vcardArray", out var vcard) || vcard.ValueKind != JsonValueKind.Array || vcard.GetArrayLength() < 2) return null;
        var properties = vcard[1];
        if (properties.ValueKind != JsonValueKind.Array) return null;
        foreach (var p in properties.EnumerateArray())
            if (p.ValueKind == JsonValueKind.Array && p.GetArrayLength() >= 4 && p[0].ValueKind == JsonValueKind.String
                && string.Equals(p[0].GetString(), "email", StringComparison.OrdinalIgnoreCase) && p[3].ValueKind == JsonValueKind.String
                && p[3].GetString() is { Length: > 0 } email && email.Contains('@', StringComparison.Ordinal))
                return email.Trim();
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
