using System.Net;
using Pipeline.Contracts;

namespace Pipeline.Geolocation;

/// <summary>Answers "where is this host, and who hosts it" from the configured table. Pure: no I/O.</summary>
public sealed class HostingTable
{
    private readonly Dictionary<string, IPAddress[]> hosts;
    private readonly (IPNetwork Network, NetworkEntry Entry)[] networks;

    public HostingTable(GeolocationOptions options)
    {
        hosts = options.Hosts.ToDictionary(h => h.Key.TrimEnd('.').ToLowerInvariant(), h => h.Value.Select(IPAddress.Parse).ToArray());
        networks = options.Networks.Select(n => (IPNetwork.Parse(n.Prefix), n)).OrderByDescending(n => n.Item1.PrefixLength).ToArray();
    }

    public HostingInfo Locate(string host, DateTime now)
    {
        var sources = new List<string>();
        IPAddress[] addresses;
        var literal = host.Trim('[', ']');
        if (IPAddress.TryParse(literal, out var ip))
        {
            addresses = [ip];
            sources.Add("ip-literal");
        }
        else if (hosts.TryGetValue(host.TrimEnd('.').ToLowerInvariant(), out var configured))
        {
            addresses = configured;
            sources.Add("hosts:table");
        }
        else
        {
            return Unresolved(now, [], sources, $"no address known for host {host}");
        }

        var matched = addresses.Select(a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a)
            .Select(a => (Address: a, Entry: networks.FirstOrDefault(n => n.Network.Contains(a)).Entry)).ToList();
        var first = matched.FirstOrDefault(m => m.Entry is not null);
        if (first.Entry is null)
            return Unresolved(now, addresses.Select(a => a.ToString()).ToList(), sources, "no network known for " + string.Join(", ", addresses.Select(a => a.ToString())));
        sources.Add("networks:table");
        var e = first.Entry;
        return new HostingInfo
        {
            resolved = true,
            ips = addresses.Select(a => a.ToString()).ToList(),
            asn = e.Asn,
            asOrganisation = e.AsOrganisation,
            country = e.Country,
            hosterId = e.HosterId,
            hosterName = e.HosterName,
            abuseContact = string.IsNullOrEmpty(e.AbuseAddress) ? null : new AbuseContact
            {
                address = e.AbuseAddress,
                channel = Enum.Parse<NoticeChannel>(e.AbuseChannel, ignoreCase: true),
                foundVia = "networks:table",
                approved = true,
            },
            behindCdn = e.BehindCdn,
            originIp = null,
            resolvedAt = now,
            sources = sources,
            unresolvedReason = null,
        };
    }

    private static HostingInfo Unresolved(DateTime now, List<string> ips, List<string> sources, string reason) => new()
    {
        resolved = false,
        ips = ips,
        resolvedAt = now,
        sources = sources,
        unresolvedReason = reason,
    };
}
