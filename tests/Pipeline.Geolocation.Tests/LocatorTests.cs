using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;

namespace Pipeline.Geolocation.Tests;

/// <summary>The locator against real loopback servers: DNS (UDP/TCP), an RDAP registry and generated .mmdb files.</summary>
public sealed class LocatorTests : IAsyncLifetime
{
    private World world = null!;
    private static readonly CancellationToken None = CancellationToken.None;

    public async Task InitializeAsync() => world = await World.StartAsync();

    public async Task DisposeAsync() => await world.DisposeAsync();

    [Fact]
    public async Task Ipv4_host_resolves_through_dns_to_asn_country_and_the_rdap_abuse_contact()
    {
        var info = await world.Locator().LocateAsync("www.hoster-a.example", None);
        Assert.True(info.resolved);
        Assert.Equal(["192.0.2.10"], info.ips);
        Assert.Equal(64496L, info.asn);
        Assert.Equal(World.AsOrgA, info.asOrganisation);
        Assert.Equal("NL", info.country);
        Assert.Equal("AS64496", info.hosterId);
        Assert.Equal(World.AsOrgA, info.hosterName);
        Assert.NotNull(info.abuseContact);
        Assert.Equal("abuse@hoster-a.example", info.abuseContact.address);
        Assert.Equal(NoticeChannel.EMAIL, info.abuseContact.channel);
        Assert.StartsWith("rdap:127.0.0.1:", info.abuseContact.foundVia, StringComparison.Ordinal);
        Assert.False(info.abuseContact.approved); // found automatically: an analyst approves it first (Rdap:TrustContacts)
        Assert.Equal(["dns", "geoip:asn", "geoip:country", info.abuseContact.foundVia], info.sources);
        Assert.Null(info.cnameChain);
        Assert.Empty(info.countries);
        Assert.Null(info.unresolvedReason);
        var address = Assert.Single(info.addresses!);
        Assert.Equal(("192.0.2.10", 64496L, "NL"), (address.ip, address.asn!.Value, address.country));
    }

    [Fact]
    public async Task Trusted_rdap_contacts_are_approved()
    {
        var info = await world.Locator(change: o => o.Rdap.TrustContacts = true).LocateAsync("www.hoster-a.example", None);
        Assert.True(info.abuseContact!.approved);
    }

    [Fact]
    public async Task Ipv6_only_host_resolves_through_aaaa()
    {
        var info = await world.Locator().LocateAsync("v6only.example", None);
        Assert.True(info.resolved);
        Assert.Equal(["2001:db8:6::10"], info.ips);
        Assert.Equal(64502L, info.asn);
        Assert.Equal("GB", info.country);
        Assert.Equal("abuse@v6.example", info.abuseContact!.address);
    }

    [Fact]
    public async Task Dual_stack_host_lists_ipv4_then_ipv6()
    {
        var info = await world.Locator().LocateAsync("dual.example", None);
        Assert.Equal(["192.0.2.11", "2001:db8:6::11"], info.ips);
        Assert.Equal("NL", info.country); // the first address decides
        Assert.Equal(["NL", "GB"], info.countries); // but hosting spans two countries
        Assert.Equal(["NL", "GB"], info.addresses!.Select(a => a.country));
    }

    [Fact]
    public async Task Multi_ip_answer_hosted_in_two_countries_records_both()
    {
        var info = await world.Locator().LocateAsync("multi.example", None);
        Assert.True(info.resolved);
        Assert.Equal(["192.0.2.20", "198.51.100.20"], info.ips);
        Assert.Equal(["NL", "DE"], info.countries);
        Assert.Equal("DE", info.country); // the address the hoster directory knows decides
        Assert.Equal("de-host", info.hosterId);
        Assert.Equal([64496L, 64500L], info.addresses!.Select(a => a.asn!.Value));
        Assert.Equal([null, "de-host"], info.addresses!.Select(a => a.hosterId));
    }

    [Fact]
    public async Task Cname_chain_is_recorded_from_the_host_to_the_addresses()
    {
        var info = await world.Locator().LocateAsync("alias.example", None);
        Assert.True(info.resolved);
        Assert.Equal(["192.0.2.30"], info.ips);
        Assert.Equal(["alias.example", "cdn-alias.example", "edge.hoster-a.example"], info.cnameChain);
    }

    [Fact]
    public async Task Alias_the_resolver_did_not_follow_is_chased()
    {
        var info = await world.Locator().LocateAsync("stop.example", None);
        Assert.True(info.resolved);
        Assert.Equal(["192.0.2.31"], info.ips);
        Assert.Equal(["stop.example", "target.hoster-a.example"], info.cnameChain);
        Assert.True(world.Dns.QueriesFor("target.hoster-a.example") >= 2); // A and AAAA for the target
    }

    [Fact]
    public async Task Nxdomain_is_an_unresolved_outcome_and_is_cached()
    {
        var locator = world.Locator();
        var info = await locator.LocateAsync("gone.example", None);
        Assert.False(info.resolved);
        Assert.Equal("NXDOMAIN: gone.example does not exist", info.unresolvedReason);
        Assert.Equal(["dns"], info.sources);
        Assert.Empty(info.ips);
        var asked = world.Dns.QueriesFor("gone.example");
        Assert.Equal(2, asked); // A and AAAA
        var again = await locator.LocateAsync("gone.example", None);
        Assert.False(again.resolved);
        Assert.Equal(asked, world.Dns.QueriesFor("gone.example"));
    }

    [Fact]
    public async Task Servfail_is_an_unresolved_outcome()
    {
        var info = await world.Locator().LocateAsync("broken.test", None);
        Assert.False(info.resolved);
        Assert.StartsWith("SERVFAIL resolving broken.test", info.unresolvedReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Silent_name_server_times_out_after_bounded_retries()
    {
        var info = await world.Locator().LocateAsync("silent.test", None);
        Assert.False(info.resolved);
        Assert.StartsWith("DNS timeout resolving silent.test", info.unresolvedReason, StringComparison.Ordinal);
        Assert.Equal(4, world.Dns.QueriesFor("silent.test")); // 2 attempts × (A + AAAA), then it gives up
    }

    [Fact]
    public async Task Truncated_udp_answer_falls_back_to_tcp()
    {
        var info = await world.Locator().LocateAsync("truncated.example", None);
        Assert.True(info.resolved);
        Assert.Equal(["192.0.2.50"], info.ips);
        Assert.True(world.Dns.TcpQueries >= 1);
    }

    [Fact]
    public async Task Answers_are_cached_for_their_ttl()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        var locator = world.Locator(time);
        await locator.LocateAsync("www.hoster-a.example", None);
        var asked = world.Dns.QueriesFor("www.hoster-a.example");
        time.Advance(TimeSpan.FromSeconds(119));
        var cached = await locator.LocateAsync("www.hoster-a.example", None);
        Assert.Equal(asked, world.Dns.QueriesFor("www.hoster-a.example"));
        Assert.Equal(time.GetUtcNow().UtcDateTime, cached.resolvedAt);

        world.Dns.Clear("www.hoster-a.example");
        world.Dns.A("www.hoster-a.example", "198.51.100.21", ttl: 120);
        time.Advance(TimeSpan.FromSeconds(2)); // the 120 s TTL has run out
        var fresh = await locator.LocateAsync("www.hoster-a.example", None);
        Assert.True(world.Dns.QueriesFor("www.hoster-a.example") > asked);
        Assert.Equal(["198.51.100.21"], fresh.ips);
        Assert.Equal("DE", fresh.country);
    }

    [Fact]
    public async Task Ip_literal_hosts_skip_dns()
    {
        var locator = world.Locator();
        var v4 = await locator.LocateAsync("192.0.2.99", None);
        var v6 = await locator.LocateAsync("[2001:db8:6::99]", None);
        Assert.Equal(["192.0.2.99"], v4.ips);
        Assert.Equal("NL", v4.country);
        Assert.Equal(["ip-literal", "geoip:asn", "geoip:country"], v4.sources.Take(3));
        Assert.Equal(["2001:db8:6::99"], v6.ips);
        Assert.Equal("GB", v6.country);
        Assert.Equal(0, world.Dns.QueriesFor("192.0.2.99") + world.Dns.QueriesFor("2001:db8:6::99") + world.Dns.QueriesFor("[2001:db8:6::99]"));
    }

    [Fact]
    public async Task Hosts_table_overrides_dns()
    {
        var locator = world.Locator(change: o => o.Hosts["www.hoster-a.example"] = ["198.51.100.30"]);
        var info = await locator.LocateAsync("www.hoster-a.example", None);
        Assert.Equal(["198.51.100.30"], info.ips);
        Assert.Equal("hosts:table", info.sources[0]);
        Assert.Equal(0, world.Dns.QueriesFor("www.hoster-a.example"));
    }

    [Fact]
    public async Task Without_name_servers_there_is_no_dns_traffic()
    {
        var locator = world.Locator(change: o => o.Dns.NameServers = []);
        var info = await locator.LocateAsync("www.hoster-a.example", None);
        Assert.False(info.resolved);
        Assert.Equal("no address known for host www.hoster-a.example", info.unresolvedReason);
        Assert.Equal(0, world.Dns.QueriesFor("www.hoster-a.example"));
    }

    [Fact]
    public async Task Address_no_database_or_directory_knows_is_unresolved_but_listed()
    {
        var info = await world.Locator().LocateAsync("unknown-net.test", None);
        Assert.False(info.resolved);
        Assert.Equal(["203.0.113.250"], info.ips);
        Assert.Equal("no network known for 203.0.113.250", info.unresolvedReason);
        Assert.Equal(0, world.Rdap.Requests);
    }

    [Fact]
    public async Task Rdap_500_falls_back_to_the_directory_and_records_the_failure()
    {
        var info = await world.Locator().LocateAsync("de-host.example", None);
        Assert.True(info.resolved);
        Assert.Equal("de-host", info.hosterId);
        Assert.Equal("DE Host", info.hosterName);
        Assert.True(info.codeOfConductMember);
        Assert.Equal("abuse@de-host.example", info.abuseContact!.address);
        Assert.Equal("networks:table", info.abuseContact.foundVia);
        Assert.Contains(info.sources, s => s.StartsWith("rdap:failed (HTTP 500", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rdap_404_falls_back_to_the_directory()
    {
        var info = await world.Locator().LocateAsync("de-404.example", None);
        Assert.Equal("abuse@de-host.example", info.abuseContact!.address);
        Assert.Contains(info.sources, s => s.StartsWith("rdap:failed (HTTP 404", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rdap_timeout_falls_back_to_the_directory()
    {
        var info = await world.Locator().LocateAsync("slow-rdap.example", None);
        Assert.Equal("FR", info.country);
        Assert.Equal("slow-hoster", info.hosterId);
        Assert.Equal("abuse@slow-hoster.example", info.abuseContact!.address);
        Assert.Contains(info.sources, s => s.StartsWith("rdap:failed (timeout", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rdap_answer_beats_a_fallback_directory_address_when_it_works()
    {
        world.Rdap.Add("198.51.100.0/24", "NET-D2", "DE-HOST-ALL", "DE", "abuse@rdap.de-host.example");
        var info = await world.Locator().LocateAsync("de-404.example", None); // 198.51.100.200: now in the /24 network
        Assert.Equal("abuse@rdap.de-host.example", info.abuseContact!.address);
        Assert.Equal("de-host", info.hosterId); // the directory still names the hoster
    }

    [Fact]
    public async Task Rdap_answers_are_cached_per_network()
    {
        var locator = world.Locator();
        await locator.LocateAsync("www.hoster-a.example", None); // 192.0.2.10
        await locator.LocateAsync("edge.hoster-a.example", None); // 192.0.2.30, same RDAP network
        await locator.LocateAsync("192.0.2.99", None);
        Assert.Equal(1, world.Rdap.Requests);
    }

    [Fact]
    public async Task Directory_override_wins_and_rdap_is_not_asked()
    {
        var info = await world.Locator().LocateAsync("big.test", None); // 192.0.2.40 in the directory's /29
        Assert.Equal("big-hoster", info.hosterId);
        Assert.Equal("https://big.example/abuse", info.abuseContact!.address);
        Assert.Equal(NoticeChannel.WEBHOOK, info.abuseContact.channel);
        Assert.True(info.abuseContact.approved);
        Assert.False(info.codeOfConductMember);
        Assert.Equal("NL", info.country); // from the country database: the entry leaves it open
        Assert.Equal(0, world.Rdap.RequestsFor("192.0.2.40"));
    }

    [Fact]
    public async Task Cdn_address_without_origin_sends_the_notice_to_the_cdn()
    {
        var info = await world.Locator().LocateAsync("cdn-site.example", None);
        Assert.True(info.resolved);
        Assert.True(info.behindCdn);
        Assert.Null(info.originIp);
        Assert.Equal("example-cdn", info.hosterId);
        Assert.Equal("Example CDN", info.cdnName);
        Assert.Equal("abuse@cdn.example", info.abuseContact!.address);
        Assert.Equal("abuse@cdn.example", info.cdnAbuseContact!.address);
        Assert.True(info.addresses![0].cdn);
    }

    [Fact]
    public async Task Cdn_address_with_a_disclosed_origin_is_located_at_the_origin()
    {
        var info = await world.Locator().LocateAsync("shop.example", None);
        Assert.True(info.behindCdn);
        Assert.Equal("192.0.2.77", info.originIp);
        Assert.Equal(["203.0.113.11"], info.ips);
        Assert.Equal("NL", info.country);
        Assert.Equal(64496L, info.asn);
        Assert.Equal("abuse@hoster-a.example", info.abuseContact!.address); // the origin's hoster, via RDAP
        Assert.Equal("abuse@cdn.example", info.cdnAbuseContact!.address);
        Assert.Equal("Example CDN", info.cdnName);
        Assert.Contains("origins:table", info.sources);
    }
}
