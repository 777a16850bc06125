using System.Text.Json;
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
}
