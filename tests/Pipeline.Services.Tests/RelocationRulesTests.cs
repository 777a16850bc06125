using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Geolocation;
using Pipeline.Platform;
using Pipeline.Routing;
using Pipeline.Takedown;

namespace Pipeline.Services.Tests;

/// <summary>The decisions of the re-route after a move (issue 12): which request and which MOVED record count, the
/// relocated event, the new route's notice id, and how routing treats a relocated case.</summary>
public class RelocationRulesTests
{
    private static readonly DateTime Now = Fixtures.T0.AddHours(5);

    private static TakedownRequested Route(int generation = 0, int episode = 0)
    {
        var r = Fixtures.Requested();
        r.routeGeneration = generation;
        r.caseInfo.episode = episode;
        return r;
    }

    private static NoticeDelivery Moved(TakedownRequested route, string country = "DE", string hoster = "hoster-de")
    {
        var notice = new NoticeComposer(new TakedownOptions { SenderOrganisation = "Example Hotline", SenderContact = "n@hotline.example" }).Compose(route, Fixtures.T0.AddHours(1));
        return new NoticeDelivery
        {
            eventId = "moved-1", noticeId = notice.noticeId, caseKey = route.caseKey, hosterId = notice.hosterId, channel = NoticeChannel.EMAIL,
            address = notice.recipient.address, attempt = 1, status = DeliveryStatus.MOVED, detail = "moved", at = Now, notice = notice,
            movedTo = Fixtures.Hosting(country) is var h ? Set(h, hoster) : null,
        };

        static HostingInfo Set(HostingInfo h, string hoster)
        {
            h.hosterId = hoster;
            return h;
        }
    }

    [Fact]
    public void A_new_generation_gets_a_notice_id_of_its_own_and_generation_0_keeps_the_old_one()
    {
        var first = NoticeComposer.NoticeId("https://a.example/x", 0, 0);
        Assert.Equal(first, NoticeComposer.NoticeId("https://a.example/x", 0, 0, routeGeneration: 0));
        var moved = NoticeComposer.NoticeId("https://a.example/x", 0, 0, routeGeneration: 1);
        Assert.NotEqual(first, moved);
        Assert.NotEqual(moved, NoticeComposer.NoticeId("https://a.example/x", 0, 0, routeGeneration: 2));
        Assert.NotEqual(moved, NoticeComposer.NoticeId("https://a.example/x", 1, 0, routeGeneration: 1));
        Assert.Equal(moved, NoticeComposer.NoticeId("https://a.example/x", 0, 0, routeGeneration: 1)); // deterministic
    }

    [Fact]
    public void A_composed_notice_carries_its_route_generation_and_its_id()
    {
        var composer = new NoticeComposer(new TakedownOptions { SenderOrganisation = "Example Hotline", SenderContact = "n@hotline.example" });
        var notice = composer.Compose(Route(generation: 2), Now);
        Assert.Equal(2, notice.routeGeneration);
        Assert.Equal(NoticeComposer.NoticeId(notice.caseKey, 0, 0, 2), notice.noticeId);
        Assert.Equal(2, NoticeComposer.Reminder(notice, Now.AddDays(1)).routeGeneration);
    }

    [Fact]
    public void A_replayed_request_of_a_spent_route_is_spent_and_a_newer_one_replaces_the_spent_copy()
    {
        var old = Route();
        var spent = Relocations.Spend(old, Fixtures.Hosting("DE"));
        Assert.Equal(1, spent.routeGeneration);
        Assert.Equal("DE", spent.hosting.country);
        Assert.Equal(0, old.routeGeneration); // the original is untouched
        Assert.True(Relocations.Spent(old, spent));
        Assert.False(Relocations.Newer(old, spent));

        var next = Route(generation: 1);
        next.eventId = "takedown-requested-after-the-move";
        Assert.False(Relocations.Spent(next, spent));
        Assert.True(Relocations.Newer(next, spent)); // same generation, the real request of it
        Assert.False(Relocations.Newer(next, next)); // a replay of it changes nothing

        var reupload = Route(episode: 1);
        Assert.False(Relocations.Spent(reupload, spent)); // a re-upload starts over at generation 0
        Assert.True(Relocations.Newer(reupload, spent));
        Assert.True(Relocations.Newer(old, null));
    }

    [Fact]
    public void Only_a_MOVED_of_the_current_route_reroutes_and_the_relocated_case_carries_the_new_hosting()
    {
        var route = Route();
        var moved = Moved(route);
        Assert.Null(Relocations.NotRerouted(moved, route));
        Assert.NotNull(Relocations.NotRerouted(moved, null));
        Assert.Contains("re-routed already", Relocations.NotRerouted(moved, Relocations.Spend(route, moved.movedTo!)), StringComparison.Ordinal);
        Assert.Contains("episode", Relocations.NotRerouted(moved, Route(episode: 1)), StringComparison.Ordinal);

        var relocated = Relocations.Relocated(route, moved, Now);
        Assert.Equal(1, relocated.routeGeneration);
        Assert.Equal("DE", relocated.hosting.country);
        Assert.Equal(route.report.reportId, relocated.report.reportId);
        Assert.Equal(route.verdict, relocated.verdict);
        Assert.Equal(relocated.eventId, Relocations.Relocated(route, moved, Now.AddHours(1)).eventId); // deterministic: a replay is the same event
        Assert.Equal("hoster", Relocations.Reason(moved));
        Assert.Equal("country", Relocations.Reason(Moved(route, "DE", route.hosting.hosterId!)));
    }

    private static async Task<RoutingProcessorTests.RecordingOutput> Route(ReportClassified relocated, bool policeFirst = true)
    {
        var processor = new RoutingProcessor(Microsoft.Extensions.Options.Options.Create(RoutingPolicyTests.Options(policeFirst: policeFirst)),
            RoutingFixtures.State(), new FakeTimeProvider(new DateTimeOffset(Now)));
        var output = new RoutingProcessorTests.RecordingOutput();
        await processor.ProcessAsync(new Incoming<ReportClassified>(relocated.caseKey, relocated, Topics.ReportsRelocated, 0, 7, Now, null), output, CancellationToken.None);
        return output;
    }

    [Fact]
    public async Task Routing_sends_a_case_that_moved_abroad_to_the_partner_without_the_reporter()
    {
        var relocated = Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("DE"));
        relocated.routeGeneration = 1;
        var sent = Assert.Single((await Route(relocated)).Sent);
        Assert.Equal(Topics.ExchangeOutbound, sent.Topic);
        var forward = Assert.IsType<ReportForwarded>(sent.Value);
        Assert.Equal("moved(route 1):partner-country→forward", forward.rule);
        Assert.Null(forward.report.reporterContact);
    }

    [Fact]
    public async Task Routing_gives_new_material_that_moved_at_home_the_takedown_alone_with_its_generation()
    {
        var relocated = Fixtures.Classified(Verdict.NEW, Fixtures.Hosting("NL"));
        relocated.routeGeneration = 2;
        var sent = Assert.Single((await Route(relocated)).Sent); // no second police referral, no hold
        Assert.Equal(Topics.TakedownRequested, sent.Topic);
        var request = Assert.IsType<TakedownRequested>(sent.Value);
        Assert.Equal(2, request.routeGeneration);
        Assert.False(request.policeHold);
        Assert.StartsWith("moved(route 2):home+new→police-first", request.rule, StringComparison.Ordinal);
    }

    [Fact]
    public void The_relookup_runs_when_geolocation_has_a_source_unless_it_is_switched_off()
    {
        var none = new GeolocationOptions();
        var dns = new GeolocationOptions();
        dns.Dns.NameServers.Add("127.0.0.1:53");
        var table = new GeolocationOptions();
        table.Networks.Add(new NetworkEntry { Prefix = "192.0.2.0/24", HosterId = "hoster-a" });
        Assert.False(HostRelookup.Enabled(new DeliveryOptions.RelookupSettings(), none));
        Assert.True(HostRelookup.Enabled(new DeliveryOptions.RelookupSettings(), dns));
        Assert.True(HostRelookup.Enabled(new DeliveryOptions.RelookupSettings(), table));
        Assert.False(HostRelookup.Enabled(new DeliveryOptions.RelookupSettings { Enabled = false }, dns));
        Assert.True(HostRelookup.Enabled(new DeliveryOptions.RelookupSettings { Enabled = true }, none));
    }
}
