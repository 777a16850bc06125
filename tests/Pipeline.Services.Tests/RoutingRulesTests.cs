using Avro.Specific;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Routing;

namespace Pipeline.Services.Tests;

/// <summary>Every rule of the routing policy, and start-up validation of a malformed policy.</summary>
public class RoutingRulesTests
{
    private static RoutingOptions Policy(Action<RoutingOptions>? change = null)
    {
        var o = RoutingPolicyTests.Options();
        change?.Invoke(o);
        return o;
    }

    private static IReadOnlyList<Route> Decide(ReportClassified r, Action<RoutingOptions>? change = null) => new RoutingPolicy(Policy(change)).Decide(r);

    private static HostingInfo Countries(params string[] countries)
    {
        var h = Fixtures.Hosting(countries[0]);
        h.countries = [.. countries];
        return h;
    }

    [Fact]
    public void Not_illegal_goes_to_review_when_the_policy_asks_for_it() =>
        Assert.Equal("not-illegal→review", Assert.Single(Decide(Fixtures.Classified(Verdict.NOT_ILLEGAL), o => o.NotIllegal = "Review")).Rule);

    [Fact]
    public void New_material_at_home_under_police_first_is_referred_and_held() =>
        Assert.Equal(new Route.PoliceAndTakedown("home+new→police-first", true),
            Assert.Single(Decide(Fixtures.Classified(Verdict.NEW, Fixtures.Hosting("NL")), o => o.PoliceFirst = true)));

    [Fact]
    public void No_partner_country_gets_a_direct_notice_when_the_policy_says_so() =>
        Assert.Equal(new Route.Takedown("no-partner→direct-notice"),
            Assert.Single(Decide(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("FR")), o => o.NoPartner = "DirectNotice")));

    [Fact]
    public void A_report_that_reached_the_hop_limit_is_not_forwarded_again()
    {
        var report = Fixtures.Report();
        report.hops = ["be-hotline", "fr-hotline"];
        var route = Assert.Single(Decide(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("DE"), report), o => o.MaxHops = 2));
        Assert.Equal("hop-limit→review", route.Rule);
    }

    [Fact]
    public void A_report_from_a_partner_that_is_hosted_elsewhere_has_moved_and_is_forwarded_on()
    {
        var report = Fixtures.Report();
        report.hops = ["be-hotline"];
        Assert.Equal(new Route.Forward("moved→partner-country→forward", "de-hotline", "DE"),
            Assert.Single(Decide(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("DE"), report))));
    }

    [Fact]
    public void Hosted_in_several_countries_including_home_home_first_acts_at_home() =>
        Assert.Equal(new Route.Takedown("multi-country(home-first):home+known→takedown"),
            Assert.Single(Decide(Fixtures.Classified(Verdict.KNOWN, Countries("DE", "NL")))));

    [Fact]
    public void Hosted_in_several_foreign_countries_home_first_forwards_to_the_first_partner() =>
        Assert.Equal(new Route.Forward("multi-country(home-first):partner-country→forward", "gb-hotline", "GB"),
            Assert.Single(Decide(Fixtures.Classified(Verdict.KNOWN, Countries("FR", "GB", "DE")))));

    [Fact]
    public void Hosted_in_several_countries_forward_all_acts_at_home_and_forwards_to_each_partner()
    {
        var routes = Decide(Fixtures.Classified(Verdict.KNOWN, Countries("NL", "DE", "GB", "FR")), o => o.MultiCountry = "ForwardAll");
        Assert.Equal(
        [
            new Route.Takedown("multi-country(forward-all):home+known→takedown"),
            new Route.Forward("multi-country(forward-all):partner-country→forward", "de-hotline", "DE"),
            new Route.Forward("multi-country(forward-all):partner-country→forward", "gb-hotline", "GB"),
        ], routes);
    }

    [Fact]
    public void Hosted_in_several_countries_review_policy_sends_it_to_a_person() =>
        Assert.Equal("multi-country→review", Assert.Single(Decide(Fixtures.Classified(Verdict.KNOWN, Countries("NL", "DE")), o => o.MultiCountry = "Review")).Rule);

    [Fact]
    public void Hosted_in_several_countries_none_of_which_can_act_goes_to_review() =>
        Assert.Equal("multi-country→review", Assert.Single(Decide(Fixtures.Classified(Verdict.KNOWN, Countries("FR", "ES")))).Rule);

    // ---- police first: hold, release, late release, unknown release

    private sealed class Recorder : IOutput
    {
        public List<(string Topic, int? Partition, string Key, object? Value)> Sent { get; } = [];
        public void Send<T>(string topic, string key, T value) where T : class, ISpecificRecord => Sent.Add((topic, null, key, value));
        public void Send<T>(string topic, int partition, string key, T value) where T : class, ISpecificRecord => Sent.Add((topic, partition, key, value));
        public void Tombstone(string topic, string key, int? partition = null) => Sent.Add((topic, partition, key, null));
    }

    private static readonly DateTime Now = Fixtures.T0.AddMinutes(3);

    private static (RoutingProcessor Processor, RoutingState State) PoliceFirst()
    {
        var state = RoutingFixtures.State();
        var processor = new RoutingProcessor(Microsoft.Extensions.Options.Options.Create(Policy(o => o.PoliceFirst = true)), state, new FakeTimeProvider(new DateTimeOffset(Now)));
        return (processor, state);
    }

    private static PoliceRelease Release(string caseKey, string referralId) => new()
    {
        eventId = "release-1", caseKey = caseKey, referralId = referralId, releasedBy = "police-unit-7",
        releasedAt = Now.AddHours(1), preserveEvidence = true, note = null,
    };

    [Fact]
    public async Task Police_first_refers_at_once_and_holds_the_takedown_in_the_state_topic()
    {
        var (processor, state) = PoliceFirst();
        var classified = Fixtures.Classified(Verdict.NEW, Fixtures.Hosting("NL"), assessment: Fixtures.Assessment(Pipeline.Contracts.Classification.BASELINE));
        var output = new Recorder();
        await processor.ProcessAsync(new Incoming<ReportClassified>(classified.caseKey, classified, Topics.ReportsClassified, 3, 1, Now, null), output, default);

        Assert.Equal([Topics.PoliceReferrals, Topics.RoutingHeld], output.Sent.Select(s => s.Topic));
        Assert.Equal(3, output.Sent[1].Partition); // co-partitioned with the input
        var held = Assert.IsType<TakedownRequested>(output.Sent[1].Value);
        Assert.True(held.policeHold);
        Assert.True(state.Held.TryGet(3, classified.caseKey, out _));
    }

    [Fact]
    public async Task A_police_release_lets_the_held_takedown_go_once_with_the_same_event_id()
    {
        var (processor, _) = PoliceFirst();
        var classified = Fixtures.Classified(Verdict.NEW, Fixtures.Hosting("NL"), assessment: Fixtures.Assessment(Pipeline.Contracts.Classification.BASELINE));
        var first = new Recorder();
        await processor.ProcessAsync(new Incoming<ReportClassified>(classified.caseKey, classified, Topics.ReportsClassified, 3, 1, Now, null), first, default);
        var held = (TakedownRequested)first.Sent[1].Value!;
        var release = Release(classified.caseKey, RoutingProcessor.ReferralId(classified.caseKey, classified.report.reportId));

        var output = new Recorder();
        await processor.ProcessAsync(new Incoming<PoliceRelease>(release.caseKey, release, Topics.PoliceReleases, 3, 7, Now, null), output, default);
        Assert.Equal([Topics.TakedownRequested, Topics.RoutingHeld], output.Sent.Select(s => s.Topic));
        var takedown = Assert.IsType<TakedownRequested>(output.Sent[0].Value);
        Assert.Equal(held.eventId, takedown.eventId);
        Assert.False(takedown.policeHold);
        Assert.EndsWith("released by the police", takedown.rule, StringComparison.Ordinal);
        Assert.Equal(release.releasedAt, takedown.requestedAt);
        Assert.Equal(Now, takedown.timeline.referredToPoliceAt);

        var again = new Recorder(); // a second (late) release changes nothing
        await processor.ProcessAsync(new Incoming<PoliceRelease>(release.caseKey, release, Topics.PoliceReleases, 3, 8, Now, null), again, default);
        Assert.Empty(again.Sent);
    }

    [Fact]
    public async Task A_release_for_a_case_that_is_not_held_is_refused_so_that_it_is_dead_lettered()
    {
        var (processor, _) = PoliceFirst();
        var release = Release("http://unknown.example/x", "no-such-referral");
        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            await processor.ProcessAsync(new Incoming<PoliceRelease>(release.caseKey, release, Topics.PoliceReleases, 0, 1, Now, null), new Recorder(), default));
        Assert.Contains("No takedown is held", e.Message, StringComparison.Ordinal);
    }

    // ---- a malformed policy fails start-up, naming the setting

    [Theory]
    [InlineData("HomeCountry", "Netherlands", "Routing:HomeCountry")]
    [InlineData("HomeHotline", "", "Routing:HomeHotline")]
    [InlineData("PoliceReleaseTimeout", "-00:01:00", "Routing:PoliceReleaseTimeout")]
    [InlineData("NotIllegal", "Ignore", "Routing:NotIllegal")]
    [InlineData("NoPartner", "Drop", "Routing:NoPartner")]
    [InlineData("MultiCountry", "Random", "Routing:MultiCountry")]
    [InlineData("MaxHops", "0", "Routing:MaxHops")]
    public void A_malformed_policy_names_the_setting_and_the_fix(string key, string value, string named)
    {
        var o = Policy();
        var property = typeof(RoutingOptions).GetProperty(key)!;
        property.SetValue(o, property.PropertyType == typeof(TimeSpan) ? TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture)
            : property.PropertyType == typeof(int) ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : value);
        var result = new RoutingOptionsValidator().Validate(null, o);
        Assert.True(result.Failed);
        Assert.Contains(named, result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Fix:", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void A_partner_keyed_by_a_non_country_or_naming_this_hotline_is_refused()
    {
        var o = Policy();
        o.Partners["Germany"] = "de-hotline";
        o.Partners["BE"] = "nl-hotline";
        var message = new RoutingOptionsValidator().Validate(null, o).FailureMessage;
        Assert.Contains("Routing:Partners has key 'Germany'", message, StringComparison.Ordinal);
        Assert.Contains("Routing:Partners:BE is this hotline", message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_policy_is_valid() => Assert.True(new RoutingOptionsValidator().Validate(null, Policy()).Succeeded);
}
