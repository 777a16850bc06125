using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Geolocation.Simulation;

namespace Pipeline.Geolocation.Tests;

public class RdapTests
{
    [Fact]
    public void Abuse_email_is_found_in_a_nested_entity_and_the_range_is_read()
    {
        var json = LoopbackRdapServer.Render(new LoopbackRdapServer.Network("198.51.100.0/25", "NET-X", "X-NET", "de", "abuse@x.example"));
        using var doc = JsonDocument.Parse(json);
        var (answer, start, end) = RdapClient.Parse("rdap.test", doc.RootElement);
        Assert.True(answer.Ok);
        Assert.Equal("abuse@x.example", answer.AbuseEmail);
        Assert.Equal(("X-NET", "NET-X", "DE"), (answer.NetworkName, answer.Handle, answer.Country));
        Assert.Equal(new byte[] { 198, 51, 100, 0 }, start);
        Assert.Equal(new byte[] { 198, 51, 100, 127 }, end);
    }

    [Fact]
    public void Top_level_abuse_entity_wins_and_entities_without_email_are_skipped()
    {
        const string json = """
        {"objectClassName":"ip network","handle":"NET-6","startAddress":"2001:db8::","endAddress":"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
         "entities":[
           {"objectClassName":"entity","roles":["abuse"],"vcardArray":["vcard",[["version",{},"text","4.0"],["fn",{},"text","No mail"]]]},
           {"objectClassName":"entity","roles":["technical","abuse"],"vcardArray":["vcard",[["version",{},"text","4.0"],["email",{"type":"work"},"text","noc@v6.example"]]]},
           {"objectClassName":"entity","roles":["registrant"],"entities":[{"roles":["abuse"],"vcardArray":["vcard",[["email",{},"text","nested@v6.example"]]]}]}
         ]}
        """;
        using var doc = JsonDocument.Parse(json);
        var (answer, start, end) = RdapClient.Parse("rdap.test", doc.RootElement);
        Assert.Equal("noc@v6.example", answer.AbuseEmail);
        Assert.Equal(16, start!.Length);
        Assert.Equal(0xff, end![15]);
    }

    [Fact]
    public void Network_without_abuse_role_has_no_contact_and_a_malformed_range_is_not_cached()
    {
        const string json = """{"objectClassName":"ip network","startAddress":"192.0.2.200","endAddress":"192.0.2.100","entities":[{"roles":["registrant"]}]}""";
        using var doc = JsonDocument.Parse(json);
        var (answer, start, _) = RdapClient.Parse("rdap.test", doc.RootElement);
        Assert.True(answer.Ok);
        Assert.Null(answer.AbuseEmail);
        Assert.Null(start);
    }

    [Fact]
    public void A_domain_answer_names_the_registrar_its_IANA_id_and_its_nested_abuse_contact()
    {
        var json = LoopbackRdapServer.Render(new LoopbackRdapServer.Domain("shop.example", "Example Registrar B.V. (test)", "64500", "abuse@registrar.example"));
        using var doc = JsonDocument.Parse(json);
        var answer = RdapClient.ParseDomain("rdap.test", "shop.example", doc.RootElement);
        Assert.True(answer.Ok);
        Assert.Equal(("Example Registrar B.V. (test)", "64500", "abuse@registrar.example"), (answer.Name, answer.IanaId, answer.AbuseEmail));

        // The registrant's abuse entity is not the registrar's: only the entity with the role "registrar" counts.
        const string other = """
        {"objectClassName":"domain","ldhName":"shop.example","entities":[
          {"objectClassName":"entity","roles":["registrant"],"entities":[{"roles":["abuse"],"vcardArray":["vcard",[["email",{},"text","owner@shop.example"]]]}]}]}
        """;
        using var none = JsonDocument.Parse(other);
        var noRegistrar = RdapClient.ParseDomain("rdap.test", "shop.example", none.RootElement);
        Assert.True(noRegistrar.Ok);
        Assert.Null(noRegistrar.AbuseEmail);
        Assert.Null(noRegistrar.Name);
    }

    [Fact]
    public async Task Domain_lookups_ask_the_registry_for_the_registered_name_once_per_cache_period_and_remember_failures_shorter()
    {
        await using var server = await LoopbackRdapServer.StartAsync();
        server.AddDomain("shop.example", "Example Registrar (test)", "64501", "abuse@registrar.example");
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 2, 2, 10, 0, 0, TimeSpan.Zero));
        using var client = new RdapClient(new RdapSettings
        {
            Domains = [new() { Suffix = "example", BaseUrl = server.BaseUrl }, new() { Suffix = "co.example", BaseUrl = server.BaseUrl }],
            CacheMinutes = 60, FailureCacheSeconds = 30,
        }, clock);

        Assert.Equal("shop.example", client.RegisteredDomain("img.cdn.shop.example")?.Domain);
        Assert.Equal("shop.co.example", client.RegisteredDomain("www.shop.co.example")?.Domain); // the longest suffix wins
        Assert.Null(client.RegisteredDomain("198.51.100.7"));
        Assert.Null(client.RegisteredDomain("example"));
        Assert.Null(client.RegisteredDomain("shop.test"));
        Assert.Null(client.CachedDomain("shop.example"));

        var first = await client.LookupDomainAsync("img.shop.example", CancellationToken.None);
        Assert.Equal(("shop.example", "abuse@registrar.example", false), (first!.Domain, first.AbuseEmail, first.FromCache));
        var again = await client.LookupDomainAsync("www.shop.example", CancellationToken.None);
        Assert.True(again!.FromCache);
        Assert.Equal("abuse@registrar.example", client.CachedDomain("shop.example")?.AbuseEmail);
        Assert.Equal(1, server.RequestsFor("domain/shop.example"));
        clock.Advance(TimeSpan.FromMinutes(61));
        Assert.Null(client.CachedDomain("shop.example"));
        await client.LookupDomainAsync("shop.example", CancellationToken.None);
        Assert.Equal(2, server.RequestsFor("domain/shop.example"));

        var missing = await client.LookupDomainAsync("img.unknown.example", CancellationToken.None);
        Assert.False(missing!.Ok);
        Assert.Contains("HTTP 404", missing.Failure, StringComparison.Ordinal);
        Assert.False(client.CachedDomain("unknown.example")!.Ok);
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.NotNull(client.CachedDomain("unknown.example")); // kept a minute at least: the timer that asked must find it
        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Null(client.CachedDomain("unknown.example"));
        Assert.Null(await client.LookupDomainAsync("shop.test", CancellationToken.None)); // no registry for .test
    }
}
