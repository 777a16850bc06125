using Pipeline.Contracts;

namespace Pipeline.Geolocation;

/// <summary>
/// Where is this host, who hosts it and who receives the notice: the operator's tables first (host overrides, the
/// hoster directory, CDN origins), then DNS, the MaxMind databases and RDAP, each only when configured.
/// </summary>
public sealed class HostingLocator(HostingTable table, DnsResolver? dns, GeoIp? geo, RdapClient? rdap, TimeProvider time)
{
    public const string DnsSource = "dns";

    /// <summary>The MaxMind databases in service, if configured.</summary>
    public GeoIp? Databases => geo;

    public DnsResolver? Resolver => dns;

    /// <summary>The RDAP client, if any registry is configured (the takedown stage asks it for a domain's registrar).</summary>
    public RdapClient? Rdap => rdap;

    /// <param name="fresh">Bypass the DNS and RDAP caches (the answers found still refresh them): the takedown delivery's
    /// re-lookup just before a notice leaves.</param>
    public async ValueTask<HostingInfo> LocateAsync(string host, CancellationToken ct, bool fresh = false)
    {
        var resolution = await ResolveAsync(host, fresh, ct);
        var now = time.GetUtcNow().UtcDateTime;
        if (resolution.FailureReason is not null) return HostingAnswer.Unresolved(now, resolution, []);

        var facts = resolution.Addresses.Select(a => table.Facts(a, geo?.Lookup(a))).ToList();
        var primary = HostingAnswer.Primary(facts);
        if (primary is null) return HostingAnswer.Unresolved(now, resolution, facts);

        var behindCdn = primary.Directory is { BehindCdn: true };
        var origin = behindCdn && table.OriginOf(host) is { } o ? table.Facts(o, geo?.Lookup(o)) : null;
        var hoster = behindCdn ? origin is { Known: true } ? origin : null : primary;
        var lookupSources = new List<string>();
        var hosterContact = hoster is null ? null : await AbuseContactAsync(hoster, lookupSources, fresh, ct);
        var cdnContact = behindCdn ? await AbuseContactAsync(primary, lookupSources, fresh, ct) : null;
        return HostingAnswer.Build(now, resolution, facts, primary, origin, hosterContact, cdnContact, lookupSources);
    }

    private async ValueTask<Resolution> ResolveAsync(string host, bool fresh, CancellationToken ct)
    {
        if (HostingTable.Literal(host) is { } ip) return new([ip], [], [HostingTable.LiteralSource], null);
        if (table.ConfiguredAddresses(host) is { } configured) return new(configured, [], [HostingTable.HostsSource], null);
        if (dns is null) return Resolution.Failed($"no address known for host {host}");
        var answer = await dns.ResolveAsync(host, ct, fresh);
        if (answer.Outcome != DnsOutcome.Resolved) return new([], answer.CnameChain, [DnsSource], answer.Reason(HostingTable.Normalise(host)));
        var addresses = answer.Addresses.Select(HostingTable.Canonical).Distinct().ToList();
        return new(addresses, answer.CnameChain, [DnsSource], null);
    }

    /// <summary>The directory's abuse address when it overrides; else RDAP's; else the directory's as a fallback.</summary>
    private async ValueTask<AbuseContact?> AbuseContactAsync(AddressFacts facts, List<string> sources, bool fresh, CancellationToken ct)
    {
        var directory = HostingAnswer.DirectoryContact(facts.Directory);
        if (directory is not null && !facts.Directory!.AbuseIsFallback) return directory;
        if (rdap is { Enabled: true } && await rdap.LookupAsync(facts.Address, ct, fresh) is { } answer)
        {
            if (answer is { Ok: true, AbuseEmail: { } email })
            {
                var via = "rdap:" + answer.Registry;
                sources.Add(via);
                return new AbuseContact { address = email, channel = NoticeChannel.EMAIL, foundVia = via, approved = rdap.TrustContacts };
            }
            sources.Add(answer.Ok ? $"rdap:{answer.Registry}:no-abuse-contact" : $"rdap:failed ({answer.Failure})");
        }
        return directory;
    }
}
