using System.Net;
using Pipeline.Contracts;

namespace Pipeline.Geolocation;

/// <summary>What is known about one resolved address: its directory entry and its ASN, AS organisation and country
/// (the directory's values win over the databases').</summary>
public sealed record AddressFacts(IPAddress Address, NetworkEntry? Directory, long? Asn, string? AsOrganisation, string? Country, IReadOnlyList<string> Sources)
{
    public bool Known => Directory is not null || Asn is not null || Country is not null;
}

/// <summary>How a host name became addresses.</summary>
public sealed record Resolution(IReadOnlyList<IPAddress> Addresses, IReadOnlyList<string> CnameChain, IReadOnlyList<string> Sources, string? FailureReason)
{
    public static Resolution Failed(string reason, params string[] sources) => new([], [], sources, reason);
}

/// <summary>
/// The operator's tables: host overrides, the hoster directory (prefix or ASN → hoster) and CDN origins.
/// <see cref="Locate"/> answers from the tables alone (pure, no I/O); <see cref="HostingLocator"/> adds DNS, the
/// MaxMind databases and RDAP around the same rules.
/// </summary>
public sealed class HostingTable
{
    public const string HostsSource = "hosts:table";
    public const string DirectorySource = "networks:table";
    public const string OriginSource = "origins:table";
    public const string LiteralSource = "ip-literal";

    private readonly Dictionary<string, IPAddress[]> hosts;
    private readonly (IPNetwork Network, NetworkEntry Entry)[] networks;
    private readonly Dictionary<long, NetworkEntry> byAsn;
    private readonly Dictionary<string, IPAddress> origins;

    public HostingTable(GeolocationOptions options)
    {
        hosts = options.Hosts.ToDictionary(h => Normalise(h.Key), h => h.Value.Select(IPAddress.Parse).ToArray());
        networks = options.Networks.Where(n => !string.IsNullOrWhiteSpace(n.Prefix))
            .Select(n => (IPNetwork.Parse(n.Prefix), n)).OrderByDescending(n => n.Item1.PrefixLength).ToArray();
        byAsn = options.Networks.Where(n => string.IsNullOrWhiteSpace(n.Prefix) && n.Asn > 0)
            .GroupBy(n => n.Asn).ToDictionary(g => g.Key, g => g.First());
        origins = options.Origins.ToDictionary(o => Normalise(o.Key), o => Canonical(IPAddress.Parse(o.Value)));
    }

    public static string Normalise(string host) => host.Trim().TrimEnd('.').ToLowerInvariant();

    public static IPAddress Canonical(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    /// <summary>An IP literal host ("192.0.2.1", "[2001:db8::1]") is its own address.</summary>
    public static IPAddress? Literal(string host) =>
        IPAddress.TryParse(host.Trim().Trim('[', ']'), out var ip) ? Canonical(ip) : null;

    public IReadOnlyList<IPAddress>? ConfiguredAddresses(string host) =>
        hosts.TryGetValue(Normalise(host), out var a) ? a.Select(Canonical).ToArray() : null;

    public IPAddress? OriginOf(string host) => origins.GetValueOrDefault(Normalise(host));

    /// <summary>The most specific directory entry whose prefix holds the address.</summary>
    public NetworkEntry? MatchPrefix(IPAddress address)
    {
        address = Canonical(address);
        foreach (var (network, entry) in networks)
            if (network.Contains(address)) return entry;
        return null;
    }

    public NetworkEntry? MatchAsn(long asn) => byAsn.GetValueOrDefault(asn);

    /// <summary>Facts for an address: directory prefix first, then the databases, then a directory entry by ASN.</summary>
    public AddressFacts Facts(IPAddress address, GeoIpFacts? geo)
    {
        address = Canonical(address);
        var sources = new List<string>();
        var entry = MatchPrefix(address);
        if (entry is null && geo?.Asn is { } geoAsn) entry = MatchAsn(geoAsn);
        if (entry is not null) sources.Add(DirectorySource);
        long? asn = entry is { Asn: > 0 } ? entry.Asn : geo?.Asn;
        var org = entry is { AsOrganisation.Length: > 0 } ? entry.AsOrganisation : geo?.AsOrganisation;
        var country = entry is { Country.Length: > 0 } ? entry.Country : geo?.Country;
        if (geo?.Asn is not null && (entry is not { Asn: > 0 } || string.IsNullOrEmpty(entry.AsOrganisation))) sources.Add(GeoIp.AsnSource);
        if (geo?.Country is not null && entry is not { Country.Length: > 0 }) sources.Add(GeoIp.CountrySource);
        return new AddressFacts(address, entry, asn, org, country, sources);
    }

    /// <summary>Answers from the tables alone: no DNS, no databases, no RDAP.</summary>
    public HostingInfo Locate(string host, DateTime now)
    {
        Resolution resolution;
        if (Literal(host) is { } ip) resolution = new([ip], [], [LiteralSource], null);
        else if (ConfiguredAddresses(host) is { } configured) resolution = new(configured, [], [HostsSource], null);
        else resolution = Resolution.Failed($"no address known for host {host}");
        if (resolution.FailureReason is not null) return HostingAnswer.Unresolved(now, resolution, []);
        var facts = resolution.Addresses.Select(a => Facts(a, null)).ToList();
        var primary = HostingAnswer.Primary(facts);
        if (primary is null) return HostingAnswer.Unresolved(now, resolution, facts);
        var origin = primary.Directory is { BehindCdn: true } && OriginOf(host) is { } o ? Facts(o, null) : null;
        var hoster = origin is { Known: true } ? origin : primary;
        return HostingAnswer.Build(now, resolution, facts, primary, origin,
            HostingAnswer.DirectoryContact(hoster.Directory), HostingAnswer.DirectoryContact(primary.Directory), []);
    }
}

/// <summary>Puts the answers together into a <see cref="HostingInfo"/>: the rules shared by the table-only and
/// the live locator.</summary>
public static class HostingAnswer
{
    /// <summary>The address that decides: the first (in DNS order) with a directory entry, else the first with any
    /// database answer.</summary>
    public static AddressFacts? Primary(IReadOnlyList<AddressFacts> facts) =>
        facts.FirstOrDefault(f => f.Directory is not null) ?? facts.FirstOrDefault(f => f.Known);

    public static AbuseContact? DirectoryContact(NetworkEntry? entry) => string.IsNullOrEmpty(entry?.AbuseAddress) ? null : new AbuseContact
    {
        address = entry.AbuseAddress,
        channel = Enum.Parse<NoticeChannel>(entry.AbuseChannel, ignoreCase: true),
        foundVia = HostingTable.DirectorySource,
        approved = true,
    };

    public static HostingInfo Unresolved(DateTime now, Resolution resolution, IReadOnlyList<AddressFacts> facts) => new()
    {
        resolved = false,
        ips = resolution.Addresses.Select(a => a.ToString()).ToList(),
        resolvedAt = now,
        sources = resolution.Sources.ToList(),
        unresolvedReason = resolution.FailureReason
            ?? "no network known for " + string.Join(", ", resolution.Addresses.Select(a => a.ToString())),
        countries = [],
        cnameChain = resolution.CnameChain.Count > 0 ? resolution.CnameChain.ToList() : null,
        addresses = facts.Count > 0 ? facts.Select(ToHosted).ToList() : null,
    };

    /// <summary>
    /// <paramref name="primary"/> is the address that decides; <paramref name="origin"/> the disclosed origin behind
    /// a CDN (then the origin's network is the hoster, and the CDN is kept in cdnName / cdnAbuseContact).
    /// </summary>
    public static HostingInfo Build(DateTime now, Resolution resolution, IReadOnlyList<AddressFacts> facts, AddressFacts primary,
        AddressFacts? origin, AbuseContact? hosterContact, AbuseContact? cdnContact, IReadOnlyList<string> lookupSources)
    {
        var behindCdn = primary.Directory is { BehindCdn: true };
        var useOrigin = behindCdn && origin is { Known: true };
        var hoster = useOrigin ? origin! : primary;
        var sources = new List<string>(resolution.Sources);
        foreach (var s in primary.Sources) if (!sources.Contains(s)) sources.Add(s);
        if (behindCdn && origin is not null) sources.Add(HostingTable.OriginSource);
        if (useOrigin) foreach (var s in origin!.Sources) if (!sources.Contains(s)) sources.Add(s);
        foreach (var s in lookupSources) if (!sources.Contains(s)) sources.Add(s);
        var countries = facts.Select(f => f.Country).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        return new HostingInfo
        {
            resolved = true,
            ips = resolution.Addresses.Select(a => a.ToString()).ToList(),
            asn = hoster.Asn,
            asOrganisation = hoster.AsOrganisation,
            country = hoster.Country,
            hosterId = hoster.Directory?.HosterId ?? (hoster.Asn is { } asn ? $"AS{asn}" : null),
            hosterName = hoster.Directory is { HosterName.Length: > 0 } d ? d.HosterName : hoster.AsOrganisation,
            abuseContact = useOrigin ? hosterContact : behindCdn ? cdnContact : hosterContact,
            behindCdn = behindCdn,
            originIp = behindCdn ? origin?.Address.ToString() : null,
            resolvedAt = now,
            sources = sources,
            unresolvedReason = null,
            countries = countries.Count > 1 ? countries : [],
            cnameChain = resolution.CnameChain.Count > 0 ? resolution.CnameChain.ToList() : null,
            addresses = facts.Select(ToHosted).ToList(),
            codeOfConductMember = hoster.Directory?.CodeOfConductMember,
            cdnName = behindCdn ? (primary.Directory!.HosterName.Length > 0 ? primary.Directory.HosterName : primary.Directory.HosterId) : null,
            cdnAbuseContact = behindCdn ? cdnContact : null,
        };
    }

    private static HostedAddress ToHosted(AddressFacts f) => new()
    {
        ip = f.Address.ToString(),
        asn = f.Asn,
        asOrganisation = f.AsOrganisation,
        country = f.Country,
        hosterId = f.Directory?.HosterId,
        cdn = f.Directory?.BehindCdn ?? false,
        sources = f.Sources.ToList(),
    };
}
