using Pipeline.Contracts;
using Pipeline.Geolocation;

namespace Pipeline.Services.Tests;

// GeolocationOptionsValidator is internal and the service grants no InternalsVisibleTo, so it is not tested here.
public class HostingTableTests
{
    private static readonly DateTime Now = Fixtures.T0;

    private static HostingTable Table() => new(new GeolocationOptions
    {
        Hosts = new(StringComparer.OrdinalIgnoreCase)
        {
            ["www.hoster-a.example"] = ["192.0.2.10"],
            ["big.hoster-a.example"] = ["192.0.2.200"],
            ["v6.hoster-c.example"] = ["2001:db8:c::10"],
            ["nowhere.example"] = ["203.0.113.5"],
            ["multi.example"] = ["203.0.113.6", "198.51.100.7"],
            ["192.0.2.50"] = ["198.51.100.7"], // must never be consulted: an IP literal is its own address
        },
        Networks =
        [
            new() { Prefix = "192.0.2.0/24", Asn = 64496, AsOrganisation = "Hoster A B.V. (example)", Country = "NL",
                    HosterId = "hoster-a", HosterName = "Hoster A", AbuseAddress = "abuse@hoster-a.example", AbuseChannel = "Email" },
            new() { Prefix = "192.0.2.0/28", Asn = 64497, AsOrganisation = "Reseller B (example)", Country = "DE",
                    HosterId = "reseller-b", HosterName = "Reseller B", AbuseAddress = "https://reseller-b.example/abuse", AbuseChannel = "webhook" },
            new() { Prefix = "2001:db8::/32", Asn = 64498, AsOrganisation = "Hoster C Ltd (example)", Country = "GB",
                    HosterId = "hoster-c", HosterName = "Hoster C", AbuseAddress = null, BehindCdn = true },
            new() { Prefix = "198.51.100.0/24", Asn = 64499, AsOrganisation = "Hoster D (example)", Country = "FR",
                    HosterId = "hoster-d", HosterName = "Hoster D", AbuseAddress = "abuse@hoster-d.example" },
        ],
    });

    [Fact]
    public void Host_resolves_through_the_hosts_table_to_its_network()
    {
        var info = Table().Locate("big.hoster-a.example", Now);
        Assert.True(info.resolved);
        Assert.Equal(["192.0.2.200"], info.ips);
        Assert.Equal(64496L, info.asn);
        Assert.Equal("Hoster A B.V. (example)", info.asOrganisation);
        Assert.Equal("NL", info.country);
        Assert.Equal("hoster-a", info.hosterId);
        Assert.Equal("Hoster A", info.hosterName);
        Assert.False(info.behindCdn);
        Assert.Null(info.originIp);
        Assert.Null(info.unresolvedReason);
        Assert.Equal(Now, info.resolvedAt);
    }

    [Fact]
    public void Longest_prefix_wins_over_the_enclosing_network()
    {
        var info = Table().Locate("www.hoster-a.example", Now); // 192.0.2.10 lies in /24 and /28
        Assert.Equal(64497L, info.asn);
        Assert.Equal("reseller-b", info.hosterId);
        Assert.Equal("DE", info.country);
    }

    [Fact]
    public void Host_lookup_ignores_case()
    {
        var info = Table().Locate("WWW.Hoster-A.Example", Now);
        Assert.True(info.resolved);
        Assert.Equal("reseller-b", info.hosterId);
    }

    [Fact]
    public void Ipv6_address_resolves_to_its_network()
    {
        var info = Table().Locate("v6.hoster-c.example", Now);
        Assert.True(info.resolved);
        Assert.Equal(["2001:db8:c::10"], info.ips);
        Assert.Equal(64498L, info.asn);
        Assert.Equal("GB", info.country);
        Assert.True(info.behindCdn);
    }

    [Fact]
    public void Ipv6_literal_host_in_brackets_resolves()
    {
        var info = Table().Locate("[2001:db8:ff::1]", Now);
        Assert.True(info.resolved);
        Assert.Equal(["2001:db8:ff::1"], info.ips);
        Assert.Equal("hoster-c", info.hosterId);
        Assert.Equal(["ip-literal", "networks:table"], info.sources);
    }

    [Fact]
    public void Ip_literal_host_skips_the_hosts_table()
    {
        var info = Table().Locate("192.0.2.50", Now);
        Assert.True(info.resolved);
        Assert.Equal(["192.0.2.50"], info.ips);
        Assert.Equal("hoster-a", info.hosterId);
        Assert.Equal(["ip-literal", "networks:table"], info.sources);
    }

    [Fact]
    public void Unknown_host_is_unresolved_with_a_reason()
    {
        var info = Table().Locate("unknown.example", Now);
        Assert.False(info.resolved);
        Assert.Equal("no address known for host unknown.example", info.unresolvedReason);
        Assert.Empty(info.ips);
        Assert.Empty(info.sources);
        Assert.Null(info.country);
        Assert.Null(info.abuseContact);
        Assert.Equal(Now, info.resolvedAt);
    }

    [Fact]
    public void Address_outside_every_network_is_unresolved()
    {
        var info = Table().Locate("nowhere.example", Now);
        Assert.False(info.resolved);
        Assert.Equal(["203.0.113.5"], info.ips);
        Assert.Equal(["hosts:table"], info.sources);
        Assert.Equal("no network known for 203.0.113.5", info.unresolvedReason);
        Assert.Null(info.country);
    }

    [Fact]
    public void First_address_with_a_network_decides_and_all_addresses_are_listed()
    {
        var info = Table().Locate("multi.example", Now);
        Assert.True(info.resolved);
        Assert.Equal(["203.0.113.6", "198.51.100.7"], info.ips);
        Assert.Equal("hoster-d", info.hosterId);
    }

    [Fact]
    public void Abuse_contact_and_sources_are_recorded()
    {
        var info = Table().Locate("big.hoster-a.example", Now);
        Assert.NotNull(info.abuseContact);
        Assert.Equal("abuse@hoster-a.example", info.abuseContact.address);
        Assert.Equal(NoticeChannel.EMAIL, info.abuseContact.channel);
        Assert.Equal("networks:table", info.abuseContact.foundVia);
        Assert.True(info.abuseContact.approved);
        Assert.Equal(["hosts:table", "networks:table"], info.sources);
    }

    [Fact]
    public void Abuse_channel_is_read_case_insensitively() =>
        Assert.Equal(NoticeChannel.WEBHOOK, Table().Locate("www.hoster-a.example", Now).abuseContact?.channel);

    [Fact]
    public void Network_without_abuse_address_has_no_abuse_contact() =>
        Assert.Null(Table().Locate("v6.hoster-c.example", Now).abuseContact);
}
