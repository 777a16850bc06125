using Avro.Specific;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Routing;

namespace Pipeline.Services.Tests;

using Classification = Pipeline.Contracts.Classification;

public class RoutingPolicyTests
{
    internal static RoutingOptions Options(bool shareReporterWithPolice = false, bool policeFirst = false) => new()
    {
        HomeCountry = "NL",
        HomeHotline = "nl-hotline",
        Partners = new(StringComparer.OrdinalIgnoreCase) { ["DE"] = "de-hotline", ["GB"] = "gb-hotline" },
        ShareReporterWithPolice = shareReporterWithPolice,
        PoliceFirst = policeFirst,
    };

    private static Route Decide(ReportClassified report) => Assert.Single(new RoutingPolicy(Options()).Decide(report));

    [Fact]
    public void Not_illegal_is_closed() =>
        Assert.Equal(new Route.Close("not-illegal→close"), Decide(Fixtures.Classified(Verdict.NOT_ILLEGAL)));

    [Fact]
    public void Needs_assessment_goes_to_review() =>
        Assert.Equal(new Route.Review("needs-assessment→review", "no bank knows the material and no analyst has assessed it"),
            Decide(Fixtures.Classified(Verdict.NEEDS_ASSESSMENT)));

    [Fact]
    public void Unresolved_hosting_goes_to_review_with_the_reason() =>
        Assert.Equal(new Route.Review("unresolved→review", "hosting location unknown: no address known for host www.hoster-a.example"),
            Decide(Fixtures.Classified(Verdict.KNOWN, Fixtures.Unresolved())));

    [Fact]
    public void Resolved_hosting_without_country_goes_to_review() =>
        Assert.Equal("unresolved→review", Decide(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting(country: null))).Rule);

    [Fact]
    public void Known_material_at_home_is_taken_down() =>
        Assert.Equal(new Route.Takedown("home+known→takedown"), Decide(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("NL"))));

    [Fact]
    public void Home_country_comparison_ignores_case() =>
        Assert.Equal(new Route.Takedown("home+known→takedown"), Decide(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("nl"))));

    [Fact]
    public void New_material_at_home_goes_to_police_and_takedown() =>
        Assert.Equal(new Route.PoliceAndTakedown("home+new→police+takedown", false), Decide(Fixtures.Classified(Verdict.NEW, Fixtures.Hosting("NL"))));

    [Theory]
    [InlineData(Verdict.KNOWN)]
    [InlineData(Verdict.NEW)]
    public void Partner_country_is_forwarded_to_the_partner(Verdict verdict) =>
        Assert.Equal(new Route.Forward("partner-country→forward", "de-hotline", "DE"), Decide(Fixtures.Classified(verdict, Fixtures.Hosting("DE"))));

    [Fact]
    public void Partner_country_code_is_upper_cased() =>
        Assert.Equal(new Route.Forward("partner-country→forward", "gb-hotline", "GB"), Decide(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("gb"))));

    [Fact]
    public void Partner_already_in_the_hops_goes_to_review()
    {
        var report = Fixtures.Report(sourceHotline: "de-hotline");
        report.hops = ["de-hotline"];
        Assert.Equal(new Route.Review("partner-already-visited→review", "hosted in DE, but de-hotline has already handled this report"),
            Decide(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("DE"), report)));
    }

    [Fact]
    public void Country_without_partner_goes_to_review() =>
        Assert.Equal(new Route.Review("no-partner→review", "hosted in FR, where no partner hotline is configured"),
            Decide(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("FR"))));
}

public class RoutingProcessorTests
{
    internal sealed class RecordingOutput : IOutput
    {
        public List<(string Topic, int? Partition, string Key, ISpecificRecord? Value)> Sent { get; } = [];

        public void Send<T>(string topic, string key, T value) where T : class, ISpecificRecord => Sent.Add((topic, null, key, value));
        public void Send<T>(string topic, int partition, string key, T value) where T : class, ISpecificRecord => Sent.Add((topic, partition, key, value));
        public void Tombstone(string topic, string key, int? partition = null) => Sent.Add((topic, partition, key, null));
    }

    private static readonly DateTime Now = Fixtures.T0.AddMinutes(3);

    private static async Task<RecordingOutput> Process(ReportClassified classified, bool shareReporterWithPolice = false)
    {
        var processor = new RoutingProcessor(Microsoft.Extensions.Options.Options.Create(RoutingPolicyTests.Options(shareReporterWithPolice)),
            RoutingFixtures.State(), new FakeTimeProvider(new DateTimeOffset(Now)));
        var output = new RecordingOutput();
        var message = new Incoming<ReportClassified>(classified.caseKey, classified, Topics.ReportsClassified, 0, 42, Fixtures.T0, null);
        await processor.ProcessAsync(message, output, CancellationToken.None);
        return output;
    }

    [Fact]
    public void WithoutReporter_strips_the_reporter_contact_and_keeps_every_other_field()
    {
        var original = Fixtures.Report();
        original.hops = ["be-hotline"];
        original.assessment = Fixtures.Assessment(Classification.BASELINE);
        var copy = ReporterIdentity.WithoutReporter(original);

        Assert.Null(copy.reporterContact);
        Assert.NotNull(original.reporterContact); // the original is untouched
        foreach (var field in Report._SCHEMA is Avro.RecordSchema schema ? schema.Fields : [])
            if (field.Name != nameof(Report.reporterContact))
                Assert.True(Equals(original.Get(field.Pos), copy.Get(field.Pos)) || Enumerable(original.Get(field.Pos), copy.Get(field.Pos)),
                    $"field {field.Name} differs");

        static bool Enumerable(object? a, object? b) =>
            a is System.Collections.IEnumerable x && b is System.Collections.IEnumerable y && x.Cast<object>().SequenceEqual(y.Cast<object>());
    }

    [Fact]
    public void WithoutReporter_copies_hops_and_external_ids()
    {
        var original = Fixtures.Report();
        var copy = ReporterIdentity.WithoutReporter(original);
        copy.hops.Add("nl-hotline");
        copy.externalIds["ncmec"] = "NCMEC-1";
        Assert.Empty(original.hops);
        Assert.Single(original.externalIds);
    }

    [Fact]
    public async Task Forward_sends_one_report_to_the_partner_without_reporter_and_with_the_home_hop()
    {
        var classified = Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("DE"));
        classified.report.hops = ["be-hotline"];

        var sent = Assert.Single((await Process(classified)).Sent);

        Assert.Equal(Topics.ExchangeOutbound, sent.Topic);
        Assert.Equal("de-hotline", sent.Key);
        var forwarded = Assert.IsType<ReportForwarded>(sent.Value);
        Assert.Equal(EventIds.Derive("forwarded", classified.eventId, "de-hotline"), forwarded.eventId);
        Assert.Equal(Fixtures.CaseKey, forwarded.caseKey);
        Assert.Equal("de-hotline", forwarded.partnerHotline);
        Assert.Equal("DE", forwarded.partnerCountry);
        Assert.Equal("moved→partner-country→forward", forwarded.rule); // it came from be-hotline and is hosted elsewhere
        Assert.Null(forwarded.report.reporterContact);
        Assert.Equal(["be-hotline", "nl-hotline"], forwarded.report.hops);
        Assert.Equal(classified.report.reportId, forwarded.report.reportId);
        Assert.Equal(classified.report.url, forwarded.report.url);
        Assert.Equal(Verdict.KNOWN, forwarded.verdict);
        Assert.Equal(classified.matches, forwarded.matches);
        Assert.Equal(Fixtures.T0, forwarded.timeline.receivedAt);
        Assert.Null(forwarded.timeline.referredToPoliceAt);
        Assert.Equal(Now, forwarded.forwardedAt);
        // the incoming record is not modified
        Assert.Equal(["be-hotline"], classified.report.hops);
        Assert.NotNull(classified.report.reporterContact);
    }

    [Fact]
    public async Task Police_and_takedown_sends_a_referral_then_a_takedown_under_the_case_key()
    {
        var classified = Fixtures.Classified(Verdict.NEW, Fixtures.Hosting("NL"), assessment: Fixtures.Assessment(Classification.BASELINE));

        var sent = (await Process(classified)).Sent;

        Assert.Equal([Topics.PoliceReferrals, Topics.TakedownRequested], sent.Select(s => s.Topic));
        Assert.All(sent, s => Assert.Equal(Fixtures.CaseKey, s.Key));
        Assert.All(sent, s => Assert.Null(s.Partition));

        var referral = Assert.IsType<PoliceReferral>(sent[0].Value);
        Assert.Equal(EventIds.Derive("police-referral", classified.eventId), referral.eventId);
        Assert.Equal(EventIds.Derive("referral", Fixtures.CaseKey, classified.report.reportId), referral.referralId);
        Assert.Null(referral.report.reporterContact);
        Assert.Equal(classified.report.reportId, referral.report.reportId);
        Assert.Equal("home+new→police+takedown", referral.rule);
        Assert.Equal(Now, referral.referredAt);
        Assert.Equal(Now, referral.timeline.referredToPoliceAt);
        Assert.Equal(Fixtures.T0, referral.timeline.receivedAt);

        var takedown = Assert.IsType<TakedownRequested>(sent[1].Value);
        Assert.Equal(EventIds.Derive("takedown-requested", classified.eventId), takedown.eventId);
        Assert.Equal("home+new→police+takedown", takedown.rule);
        Assert.Equal(Verdict.NEW, takedown.verdict);
        Assert.False(takedown.policeHold);
        Assert.Equal(Now, takedown.timeline.referredToPoliceAt);
        Assert.Equal(Now, takedown.requestedAt);
        Assert.Same(classified.hosting, takedown.hosting);
    }

    [Fact]
    public async Task Police_referral_carries_the_reporter_only_when_policy_allows()
    {
        var classified = Fixtures.Classified(Verdict.NEW, Fixtures.Hosting("NL"), assessment: Fixtures.Assessment(Classification.BASELINE));
        var referral = Assert.IsType<PoliceReferral>((await Process(classified, shareReporterWithPolice: true)).Sent[0].Value);
        Assert.NotNull(referral.report.reporterContact);
        Assert.Equal("reporter@mail.example", referral.report.reporterContact.email);
    }

    [Fact]
    public async Task Known_at_home_sends_only_a_takedown_without_police_time()
    {
        var sent = Assert.Single((await Process(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("NL")))).Sent);
        Assert.Equal(Topics.TakedownRequested, sent.Topic);
        Assert.Equal(Fixtures.CaseKey, sent.Key);
        var takedown = Assert.IsType<TakedownRequested>(sent.Value);
        Assert.Equal("home+known→takedown", takedown.rule);
        Assert.Null(takedown.timeline.referredToPoliceAt);
    }

    [Fact]
    public async Task Review_sends_the_rule_and_reason_to_the_review_queue()
    {
        var sent = Assert.Single((await Process(Fixtures.Classified(Verdict.KNOWN, Fixtures.Hosting("FR")))).Sent);
        Assert.Equal(Topics.ReportsReview, sent.Topic);
        Assert.Equal(Fixtures.CaseKey, sent.Key);
        var review = Assert.IsType<ReviewRequested>(sent.Value);
        Assert.Equal("no-partner→review", review.rule);
        Assert.Equal("hosted in FR, where no partner hotline is configured", review.reason);
        Assert.Equal(Now, review.requestedAt);
    }

    [Fact]
    public async Task Not_illegal_sends_nothing() => Assert.Empty((await Process(Fixtures.Classified(Verdict.NOT_ILLEGAL))).Sent);
}

internal static class RoutingFixtures
{
    public static RoutingState State() => new(
        Microsoft.Extensions.Options.Options.Create(new KafkaOptions()),
        Microsoft.Extensions.Options.Options.Create(new RetentionOptions()),
        new AvroSerdes(new Confluent.SchemaRegistry.CachedSchemaRegistryClient(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = "http://127.0.0.1:9" }), false),
        Microsoft.Extensions.Logging.Abstractions.NullLogger<RoutingState>.Instance);
}
