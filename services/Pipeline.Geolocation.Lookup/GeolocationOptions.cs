using System.Net;
using Microsoft.Extensions.Options;

namespace Pipeline.Geolocation;

/// <summary>
/// Where hosting answers come from. Section <c>Geolocation</c>.
/// <list type="bullet">
/// <item><c>Hosts</c>: operator overrides of DNS (host name → addresses); consulted before DNS.</item>
/// <item><c>Networks</c>: the hoster directory (prefix or ASN → hoster, abuse address, channel, CDN flag); the
/// operator's word, which overrides the MaxMind databases and RDAP.</item>
/// <item><c>Origins</c>: real origin addresses of hosts behind a CDN, once disclosed.</item>
/// <item><c>Dns</c>, <c>GeoIp</c>, <c>Rdap</c>: the live sources; each is off until configured, so a table-only
/// configuration makes no network traffic at all.</item>
/// </list>
/// </summary>
public sealed class GeolocationOptions
{
    public const string Section = "Geolocation";

    /// <summary>Host name → addresses (A/AAAA), e.g. "site1.hoster.example": ["192.0.2.10"]. Wins over DNS.</summary>
    public Dictionary<string, List<string>> Hosts { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The hoster directory. An entry matches by Prefix (longest wins) or, without a Prefix, by Asn (the AS
    /// the ASN database places the address in).</summary>
    public List<NetworkEntry> Networks { get; set; } = [];

    /// <summary>Host name → origin IP behind a CDN, e.g. "shop.example": "198.51.100.7" (disclosed by the CDN).</summary>
    public Dictionary<string, string> Origins { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public DnsSettings Dns { get; set; } = new();
    public GeoIpSettings GeoIp { get; set; } = new();
    public RdapSettings Rdap { get; set; } = new();
}

public sealed class NetworkEntry
{
    /// <summary>CIDR prefix, e.g. 192.0.2.0/25 or 2001:db8::/32. Empty: the entry matches every address in AS <see cref="Asn"/>.</summary>
    public string Prefix { get; set; } = "";
    /// <summary>AS number; with a Prefix it overrides the ASN database, without one it is what the entry matches.</summary>
    public long Asn { get; set; }
    public string AsOrganisation { get; set; } = "";
    /// <summary>ISO 3166-1 alpha-2 country code; empty: taken from the country database.</summary>
    public string Country { get; set; } = "";
    public string HosterId { get; set; } = "";
    public string HosterName { get; set; } = "";
    public string? AbuseAddress { get; set; }
    /// <summary>Email, Webhook or Topic.</summary>
    public string AbuseChannel { get; set; } = "Email";
    /// <summary>Override (default): the directory's abuse address wins and RDAP is not asked. Fallback: RDAP's answer
    /// wins and this address is used only when RDAP has none or fails.</summary>
    public string AbusePrecedence { get; set; } = "Override";
    /// <summary>The network is a CDN / reverse proxy: the real hoster is hidden behind it.</summary>
    public bool BehindCdn { get; set; }
    /// <summary>The hoster has signed the notice-and-takedown code of conduct (null: unknown).</summary>
    public bool? CodeOfConductMember { get; set; }

    internal bool AbuseIsFallback => string.Equals(AbusePrecedence, "Fallback", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Section <c>Geolocation:Dns</c>. No name servers: no DNS at all (only Hosts and IP literals resolve).</summary>
public sealed class DnsSettings
{
    /// <summary>Resolvers as address:port, e.g. "127.0.0.1:53" or "[::1]:5353" (port 53 when omitted).</summary>
    public List<string> NameServers { get; set; } = [];
    /// <summary>Time for one query to one name server.</summary>
    public int TimeoutMs { get; set; } = 2000;
    /// <summary>Attempts per query type when the servers time out; then the host is reported unresolved (timeout).</summary>
    public int Attempts { get; set; } = 2;
    /// <summary>Wait before the 2nd attempt, doubled for each further one.</summary>
    public int RetryBackoffMs { get; set; } = 100;
    /// <summary>Answers are cached for their TTL, but at least this long…</summary>
    public int MinCacheSeconds { get; set; } = 5;
    /// <summary>…and at most this long.</summary>
    public int MaxCacheSeconds { get; set; } = 3600;
    /// <summary>NXDOMAIN / no-address answers: cached for the SOA's negative TTL (RFC 2308), at most this long.</summary>
    public int NegativeCacheSeconds { get; set; } = 300;
    /// <summary>SERVFAIL and timeouts: cached this long, so a burst of reports for a dead name does not stall the stage.</summary>
    public int FailureCacheSeconds { get; set; } = 30;
    public int MaxCnameHops { get; set; } = 8;
    public int CacheEntries { get; set; } = 100_000;
}

/// <summary>Section <c>Geolocation:GeoIp</c>: MaxMind-format databases (GeoLite2-ASN / GeoLite2-Country or DB-IP layouts).</summary>
public sealed class GeoIpSettings
{
    public string? AsnDatabase { get; set; }
    public string? CountryDatabase { get; set; }
    /// <summary>How often the files' modification time and size are checked; a changed file is loaded and swapped in.</summary>
    public int ReloadCheckSeconds { get; set; } = 60;
}

/// <summary>Section <c>Geolocation:Rdap</c>: where to ask for a network's abuse contact (RFC 9083).</summary>
public sealed class RdapSettings
{
    /// <summary>Bootstrap: which registry answers for which addresses, e.g. { "Prefix": "198.51.100.0/24", "BaseUrl":
    /// "https://rdap.registry.example/" } (a list, not a map: IPv6 prefixes contain ':', the configuration key separator).
    /// The longest prefix holding the address wins. Empty: RDAP is not used.</summary>
    public List<RdapRegistry> Registries { get; set; } = [];
    /// <summary>Bootstrap for domain names (RFC 9224's dns.json, written out): which registry answers
    /// <c>GET {BaseUrl}domain/{name}</c> for the names under a public suffix, e.g. { "Suffix": "example", "BaseUrl":
    /// "https://rdap.nic.example/" }. The registered name asked for is the suffix plus one label (img.shop.example →
    /// shop.example); the longest matching suffix wins, so give a multi-label public suffix (co.uk) its own entry. The
    /// answer's registrar (the entity with role "registrar") and its abuse contact are the escalation ladder's REGISTRAR
    /// step. Empty: no domain lookups.</summary>
    public List<RdapDomainRegistry> Domains { get; set; } = [];
    public int TimeoutMs { get; set; } = 3000;
    /// <summary>How long a network's answer is reused.</summary>
    public int CacheMinutes { get; set; } = 720;
    /// <summary>How long a failure (404, 5xx, timeout) is remembered before the registry is asked again.</summary>
    public int FailureCacheSeconds { get; set; } = 300;
    /// <summary>Contacts found through RDAP are approved for automatic notices (false: an analyst confirms first).</summary>
    public bool TrustContacts { get; set; }
}

public sealed class RdapRegistry
{
    public string Prefix { get; set; } = "";
    public string BaseUrl { get; set; } = "";
}

public sealed class RdapDomainRegistry
{
    /// <summary>A public suffix without dots at either end, e.g. "example" or "co.uk".</summary>
    public string Suffix { get; set; } = "";
    public string BaseUrl { get; set; } = "";
}

internal sealed class GeolocationOptionsValidator : IValidateOptions<GeolocationOptions>
{
    public ValidateOptionsResult Validate(string? name, GeolocationOptions o)
    {
        var errors = new List<string>();
        for (var i = 0; i < o.Networks.Count; i++)
        {
            var n = o.Networks[i];
            var at = $"Geolocation:Networks:{i}";
            if (string.IsNullOrWhiteSpace(n.Prefix))
            {
                if (n.Asn <= 0)
                    errors.Add($"{at} has neither Prefix nor Asn. Fix: give a CIDR Prefix (e.g. 192.0.2.0/24) or an Asn (e.g. 64496) for the entry to match.");
            }
            else if (!IPNetwork.TryParse(n.Prefix, out _))
                errors.Add($"{at}:Prefix '{n.Prefix}' is not a CIDR prefix. Fix: write it as address/length, e.g. 192.0.2.0/24.");
            if (n.Country.Length != 0 && (n.Country.Length != 2 || !n.Country.All(char.IsAsciiLetterUpper)))
                errors.Add($"{at}:Country '{n.Country}' is not an ISO 3166-1 alpha-2 code. Fix: use two capital letters, e.g. NL (or leave it empty to take it from Geolocation:GeoIp:CountryDatabase).");
            if (string.IsNullOrWhiteSpace(n.HosterId))
                errors.Add($"{at}:HosterId is empty. Fix: give the hoster a stable id, e.g. hoster-a.");
            if (!Enum.TryParse<Contracts.NoticeChannel>(n.AbuseChannel, ignoreCase: true, out _))
                errors.Add($"{at}:AbuseChannel '{n.AbuseChannel}' is not one of Email, Webhook, Topic, None.");
            if (n.Asn is < 0 or > uint.MaxValue)
                errors.Add($"{at}:Asn {n.Asn} is not a 32-bit AS number.");
            if (!string.Equals(n.AbusePrecedence, "Override", StringComparison.OrdinalIgnoreCase) && !n.AbuseIsFallback)
                errors.Add($"{at}:AbusePrecedence '{n.AbusePrecedence}' is not Override or Fallback. Fix: Override (the directory wins over RDAP) or Fallback (RDAP first).");
        }
        foreach (var (host, addresses) in o.Hosts)
            foreach (var a in addresses)
                if (!IPAddress.TryParse(a, out _))
                    errors.Add($"Geolocation:Hosts:{host} contains '{a}', which is not an IP address. Fix: list IPv4 or IPv6 addresses.");
        foreach (var (host, origin) in o.Origins)
            if (!IPAddress.TryParse(origin, out _))
                errors.Add($"Geolocation:Origins:{host} is '{origin}', which is not an IP address. Fix: give the origin's IPv4 or IPv6 address.");

        var d = o.Dns;
        for (var i = 0; i < d.NameServers.Count; i++)
            if (DnsResolver.ParseNameServer(d.NameServers[i]) is null)
                errors.Add($"Geolocation:Dns:NameServers:{i} '{d.NameServers[i]}' is not address:port. Fix: an IP address with an optional port, e.g. 127.0.0.1:53 or [::1]:5353 (names are not allowed: a resolver cannot be found by DNS).");
        if (d.TimeoutMs is < 10 or > 60_000) errors.Add($"Geolocation:Dns:TimeoutMs {d.TimeoutMs} is out of range. Fix: 10–60000, e.g. 2000.");
        if (d.Attempts is < 1 or > 10) errors.Add($"Geolocation:Dns:Attempts {d.Attempts} is out of range. Fix: 1–10, e.g. 2.");
        if (d.RetryBackoffMs is < 0 or > 60_000) errors.Add($"Geolocation:Dns:RetryBackoffMs {d.RetryBackoffMs} is out of range. Fix: 0–60000, e.g. 100.");
        if (d.MinCacheSeconds < 0 || d.MaxCacheSeconds < d.MinCacheSeconds)
            errors.Add($"Geolocation:Dns:MinCacheSeconds ({d.MinCacheSeconds}) must be ≥ 0 and ≤ Geolocation:Dns:MaxCacheSeconds ({d.MaxCacheSeconds}). Fix: e.g. 5 and 3600.");
        if (d.NegativeCacheSeconds < 0) errors.Add("Geolocation:Dns:NegativeCacheSeconds must be ≥ 0. Fix: e.g. 300.");
        if (d.FailureCacheSeconds < 0) errors.Add("Geolocation:Dns:FailureCacheSeconds must be ≥ 0. Fix: e.g. 30.");
        if (d.MaxCnameHops is < 1 or > 32) errors.Add($"Geolocation:Dns:MaxCnameHops {d.MaxCnameHops} is out of range. Fix: 1–32, e.g. 8.");
        if (d.CacheEntries < 1) errors.Add("Geolocation:Dns:CacheEntries must be ≥ 1. Fix: e.g. 100000.");

        foreach (var (setting, path) in new[] { ("AsnDatabase", o.GeoIp.AsnDatabase), ("CountryDatabase", o.GeoIp.CountryDatabase) })
            if (!string.IsNullOrWhiteSpace(path) && !File.Exists(path))
                errors.Add($"Geolocation:GeoIp:{setting} '{path}' does not exist. Fix: point it at a MaxMind-format .mmdb file (e.g. GeoLite2-ASN.mmdb), or remove the setting.");
        if (o.GeoIp.ReloadCheckSeconds < 1) errors.Add("Geolocation:GeoIp:ReloadCheckSeconds must be ≥ 1. Fix: e.g. 60.");

        for (var i = 0; i < o.Rdap.Registries.Count; i++)
        {
            var r = o.Rdap.Registries[i];
            if (!IPNetwork.TryParse(r.Prefix, out _))
                errors.Add($"Geolocation:Rdap:Registries:{i}:Prefix '{r.Prefix}' is not a CIDR prefix. Fix: e.g. 198.51.100.0/24 or 2001:db8::/32.");
            if (!Uri.TryCreate(r.BaseUrl, UriKind.Absolute, out var u) || (u.Scheme != Uri.UriSchemeHttp && u.Scheme != Uri.UriSchemeHttps))
                errors.Add($"Geolocation:Rdap:Registries:{i}:BaseUrl '{r.BaseUrl}' is not an http(s) URL. Fix: the registry's RDAP base URL, e.g. https://rdap.registry.example/.");
        }
        for (var i = 0; i < o.Rdap.Domains.Count; i++)
        {
            var r = o.Rdap.Domains[i];
            if (!RdapClient.IsSuffix(r.Suffix))
                errors.Add($"Geolocation:Rdap:Domains:{i}:Suffix '{r.Suffix}' is not a domain suffix. Fix: a public suffix in lower-case letters, digits and hyphens, labels separated by dots, e.g. example or co.uk (no leading dot).");
            if (!Uri.TryCreate(r.BaseUrl, UriKind.Absolute, out var u) || (u.Scheme != Uri.UriSchemeHttp && u.Scheme != Uri.UriSchemeHttps))
                errors.Add($"Geolocation:Rdap:Domains:{i}:BaseUrl '{r.BaseUrl}' is not an http(s) URL. Fix: the registry's RDAP base URL, e.g. https://rdap.nic.example/.");
        }
        if (o.Rdap.TimeoutMs is < 10 or > 120_000) errors.Add($"Geolocation:Rdap:TimeoutMs {o.Rdap.TimeoutMs} is out of range. Fix: 10–120000, e.g. 3000.");
        if (o.Rdap.CacheMinutes < 0) errors.Add("Geolocation:Rdap:CacheMinutes must be ≥ 0. Fix: e.g. 720.");
        if (o.Rdap.FailureCacheSeconds < 0) errors.Add("Geolocation:Rdap:FailureCacheSeconds must be ≥ 0. Fix: e.g. 300.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
