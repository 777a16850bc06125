using System.Text;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.TestSupport;

namespace Pipeline.Exchange.Tests;

/// <summary>Two and three hotlines, each its own pipeline on its own embedded cluster, exchanging reports.</summary>
public sealed class ExchangeTests
{
    private static readonly string Known = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    private static readonly Dictionary<string, string> World = new()
    {
        ["site.nl-host.test"] = "192.0.2.10",
        ["site.de-host.test"] = "198.51.100.10",
        ["site.gb-host.test"] = "203.0.113.10",
    };

    [Fact]
    public async Task A_report_hosted_abroad_arrives_at_the_partner_exactly_once_without_the_reporter_and_is_handled_there()
    {
        await using var nl = await Hotline.CreateAsync("nl-hotline", ["de-hotline"]);
        await using var de = await Hotline.CreateAsync("de-hotline", ["nl-hotline"]);
        await nl.StartAsync([de], World, Known);
        await de.StartAsync([nl], World, Known);
        using var atNl = nl.Watch(Topics.ExchangeOutbound, Topics.NoticesIssued);
        using var atDe = de.Watch(Topics.ExchangeInbound("nl-hotline"), Topics.ReportsAccepted, Topics.NoticesIssued, Topics.ReportsRejected);
        await Task.WhenAll(atNl.Assigned, atDe.Assigned);

        var abroad = Hotline.Report("r-abroad", "https://site.de-host.test/a.jpg", Known);
        var home = Hotline.Report("r-home", "https://site.nl-host.test/h.jpg", Known);
        await nl.Publisher.PublishAsync(Topics.ReportsSubmitted, abroad.report.reportId, abroad);
        await nl.Publisher.PublishAsync(Topics.ReportsSubmitted, home.report.reportId, home);

        // Everything asserted below is waited for: the watcher reads each topic on its own, so the notice at DE can be
        // seen before the inbound report that caused it.
        await atDe.WaitUntilAsync(() => atDe.Events<TakedownNotice>(Topics.NoticesIssued).Count == 1 && atNl.Events<TakedownNotice>(Topics.NoticesIssued).Count == 1
                && atDe.Events<ReportForwarded>(Topics.ExchangeInbound("nl-hotline")).Count >= 1 && atDe.Events<ReportAccepted>(Topics.ReportsAccepted).Count >= 1, Timeout,
            () => $"{Diagnose()}; nl notices {atNl.Events<TakedownNotice>(Topics.NoticesIssued).Count}, de inbound {atDe.Deliveries(Topics.ExchangeInbound("nl-hotline")).Count}, de accepted {atDe.Events<ReportAccepted>(Topics.ReportsAccepted).Count}");

        var delivered = Assert.Single(atDe.Events<ReportForwarded>(Topics.ExchangeInbound("nl-hotline")));
        Assert.Null(delivered.report.reporterContact);
        Assert.Equal(["nl-hotline"], delivered.report.hops);
        var accepted = Assert.Single(atDe.Events<ReportAccepted>(Topics.ReportsAccepted));
        Assert.Equal("nl-hotline", accepted.report.sourceHotline);
        Assert.Equal("r-abroad", accepted.report.sourceReference);
        Assert.Equal(ReporterType.PARTNER_HOTLINE, accepted.report.reporterType);
        Assert.Null(accepted.report.reporterContact);
        Assert.Equal("nl-hotline", accepted.report.externalIds["origin-hotline"]);
        Assert.Equal("abuse@de-host.test", Assert.Single(atDe.Events<TakedownNotice>(Topics.NoticesIssued)).recipient.address);
        Assert.Equal("abuse@nl-host.test", Assert.Single(atNl.Events<TakedownNotice>(Topics.NoticesIssued)).recipient.address);
        Assert.Empty(atDe.Events<ReportRejected>(Topics.ReportsRejected));
    }

    [Fact]
    public async Task Material_that_moved_is_re_routed_and_a_cycle_between_three_hotlines_terminates()
    {
        await using var nl = await Hotline.CreateAsync("nl-hotline", ["de-hotline", "gb-hotline"]);
        await using var de = await Hotline.CreateAsync("de-hotline", ["nl-hotline", "gb-hotline"]);
        await using var gb = await Hotline.CreateAsync("gb-hotline", ["nl-hotline", "de-hotline"]);
        // Each hotline sees the two hosts elsewhere (stale data, moving hosting): moved.test ends at GB, which really
        // hosts it; cycle.test goes NL → DE → GB → and GB believes it is back in NL.
        await nl.StartAsync([de, gb], new Dictionary<string, string>(World) { ["moved.test"] = "198.51.100.20", ["cycle.test"] = "198.51.100.30" }, Known);
        await de.StartAsync([nl, gb], new Dictionary<string, string>(World) { ["moved.test"] = "203.0.113.20", ["cycle.test"] = "203.0.113.30" }, Known);
        await gb.StartAsync([nl, de], new Dictionary<string, string>(World) { ["moved.test"] = "203.0.113.20", ["cycle.test"] = "192.0.2.30" }, Known);
        using var atNl = nl.Watch(Topics.ExchangeOutbound, Topics.ReportsAccepted, Topics.ReportsRejected);
        using var atDe = de.Watch(Topics.ExchangeOutbound, Topics.ReportsAccepted);
        using var atGb = gb.Watch(Topics.ExchangeOutbound, Topics.ReportsAccepted, Topics.NoticesIssued, Topics.ReportsReview);
        await Task.WhenAll(atNl.Assigned, atDe.Assigned, atGb.Assigned);

        await nl.Publisher.PublishAsync(Topics.ReportsSubmitted, "r-moved", Hotline.Report("r-moved", "https://moved.test/m.jpg", Known));
        await nl.Publisher.PublishAsync(Topics.ReportsSubmitted, "r-cycle", Hotline.Report("r-cycle", "https://cycle.test/c.jpg", Known));

        await atGb.WaitUntilAsync(() => atGb.Events<TakedownNotice>(Topics.NoticesIssued).Count == 1 && atGb.Events<ReviewRequested>(Topics.ReportsReview).Count == 1
                && atDe.Events<ReportForwarded>(Topics.ExchangeOutbound, f => f.caseKey.Contains("moved", StringComparison.Ordinal)).Count >= 1
                && atNl.Events<ReportAccepted>(Topics.ReportsAccepted).Count >= 2 && atDe.Events<ReportAccepted>(Topics.ReportsAccepted).Count >= 2
                && atGb.Events<ReportAccepted>(Topics.ReportsAccepted).Count >= 2, Timeout,
            () => $"gb notices {atGb.Events<TakedownNotice>(Topics.NoticesIssued).Count}, gb review {atGb.Events<ReviewRequested>(Topics.ReportsReview).Count}, de out {atDe.Events<ReportForwarded>(Topics.ExchangeOutbound).Count}");

        // moved: NL → DE → GB, where it is taken down
        Assert.Equal("https://moved.test/m.jpg", atGb.Events<TakedownNotice>(Topics.NoticesIssued).Single().url);
        var movedAtDe = atDe.Events<ReportForwarded>(Topics.ExchangeOutbound, f => f.caseKey.Contains("moved", StringComparison.Ordinal)).Single();
        Assert.Equal(("gb-hotline", "moved→partner-country→forward"), (movedAtDe.partnerHotline, movedAtDe.rule));
        Assert.Equal(["nl-hotline", "de-hotline"], movedAtDe.report.hops);

        // cycle: GB would send it back to NL, which has handled it already: it stops at GB's review queue
        var review = atGb.Events<ReviewRequested>(Topics.ReportsReview).Single();
        Assert.Equal("partner-already-visited→review", review.rule);
        Assert.Equal(["nl-hotline", "de-hotline"], review.report.hops);
        Assert.Empty(atGb.Events<ReportForwarded>(Topics.ExchangeOutbound));
        // Nothing more may arrive anywhere: every stage stops gracefully (finishing what it started), then each watched
        // topic is read to its end.
        await Task.WhenAll(nl.StopStagesAsync(), de.StopStagesAsync(), gb.StopStagesAsync());
        await Task.WhenAll(atNl.ReadToEndAsync(Timeout, Topics.ExchangeOutbound, Topics.ReportsAccepted, Topics.ReportsRejected),
            atDe.ReadToEndAsync(Timeout, Topics.ExchangeOutbound, Topics.ReportsAccepted),
            atGb.ReadToEndAsync(Timeout, Topics.ExchangeOutbound, Topics.ReportsAccepted, Topics.NoticesIssued, Topics.ReportsReview));
        Assert.Equal(2, atNl.Events<ReportAccepted>(Topics.ReportsAccepted).Count); // only the two originals
        Assert.Equal(2, atDe.Events<ReportAccepted>(Topics.ReportsAccepted).Count);
        Assert.Equal(2, atGb.Events<ReportAccepted>(Topics.ReportsAccepted).Count);
    }

    [Fact]
    public async Task A_partner_outage_delays_only_that_partner_and_loses_nothing()
    {
        await using var nl = await Hotline.CreateAsync("nl-hotline", ["de-hotline", "gb-hotline"]);
        await using var de = await Hotline.CreateAsync("de-hotline", ["nl-hotline"]);
        await using var gb = await Hotline.CreateAsync("gb-hotline", ["nl-hotline"]);
        // One host per report, so that every report is a case of its own (same content on one host would be grouped).
        var world = new Dictionary<string, string>(World);
        for (var i = 0; i < 10; i++)
        {
            world[$"s{i}.de-host.test"] = $"198.51.100.{20 + i}";
            world[$"s{i}.gb-host.test"] = $"203.0.113.{20 + i}";
        }
        await nl.StartAsync([de, gb], world, Known);
        await de.StartAsync([nl], world, Known);
        await gb.StartAsync([nl], world, Known);
        using var atDe = de.Watch(Topics.ExchangeInbound("nl-hotline"), Topics.ReportsAccepted, Topics.ReportsGrouped);
        using var atGb = gb.Watch(Topics.ExchangeInbound("nl-hotline"), Topics.ReportsAccepted, Topics.ReportsGrouped);
        await Task.WhenAll(atDe.Assigned, atGb.Assigned);

        for (var b = 1; b <= de.Runtime.Cluster.BrokerCount; b++) de.Runtime.Cluster.SetBrokerDown(b); // DE's cluster is down
        const int each = 10;
        for (var i = 0; i < each; i++)
        {
            await nl.Publisher.PublishAsync(Topics.ReportsSubmitted, $"de-{i}", Hotline.Report($"de-{i}", $"https://s{i}.de-host.test/{i}.jpg", Known));
            await nl.Publisher.PublishAsync(Topics.ReportsSubmitted, $"gb-{i}", Hotline.Report($"gb-{i}", $"https://s{i}.gb-host.test/{i}.jpg", Known));
        }
        await atGb.WaitUntilAsync(() => Arrived(atGb).Count == each, Timeout, () => $"gb: {Arrived(atGb).Count}");
        Assert.Empty(atDe.Events<ReportForwarded>(Topics.ExchangeInbound("nl-hotline"))); // DE got nothing while down, GB all

        // NL's delivery stage for DE notices the outage and defers (only that partner's stage; it keeps polling).
        var stage = Pipeline.Exchange.ExchangeService.OutboundStage("de-hotline");
        var before = ProcessorMetrics.Deferred.WithLabels(stage).Value;
        await atDe.WaitUntilAsync(() => ProcessorMetrics.Deferred.WithLabels(stage).Value > before, Timeout, () => "no deferral of DE's deliveries");
        Assert.Empty(atDe.Events<ReportForwarded>(Topics.ExchangeInbound("nl-hotline")));
        for (var b = 1; b <= de.Runtime.Cluster.BrokerCount; b++) de.Runtime.Cluster.SetBrokerUp(b);
        await atDe.WaitUntilAsync(() => Arrived(atDe).Count == each, Timeout,
            () => $"de: {Arrived(atDe).Count}, inbound {atDe.Deliveries(Topics.ExchangeInbound("nl-hotline")).Count}");
        // Exactly once each: one delivery per report on the partner's inbound topic (by event id), and one outcome
        // at the partner's intake (a case of its own, or joined to the open case holding the same content).
        Assert.Equal(each, atDe.Events<ReportForwarded>(Topics.ExchangeInbound("nl-hotline")).Count);
        Assert.Equal(Enumerable.Range(0, each).Select(i => $"de-{i}").Order(), Arrived(atDe).Order());
        Assert.Equal(Enumerable.Range(0, each).Select(i => $"gb-{i}").Order(), Arrived(atGb).Order());
    }

    /// <summary>The partner's references of the reports its intake took (accepted or grouped into an open case).</summary>
    private static List<string> Arrived(TopicWatcher at) =>
        [.. at.Events<ReportAccepted>(Topics.ReportsAccepted).Select(a => a.report.sourceReference)
            .Concat(at.Events<ReportGrouped>(Topics.ReportsGrouped).Select(g => g.sourceReference))];

    [Fact]
    public async Task A_partner_may_only_submit_as_itself_and_a_report_coming_back_is_refused()
    {
        await using var nl = await Hotline.CreateAsync("nl-hotline", ["de-hotline"]);
        await using var de = await Hotline.CreateAsync("de-hotline", ["nl-hotline"]);
        await nl.StartAsync([de], World, Known);
        using var atNl = nl.Watch(Topics.ReportsRejected, Topics.ReportsAccepted);
        await atNl.Assigned;

        // On DE's topic at NL: one claiming to come from GB, one that has already been through NL.
        var impostor = Forwarded("f-1", ["gb-hotline"]);
        var boomerang = Forwarded("f-2", ["nl-hotline", "de-hotline"]);
        foreach (var f in new[] { impostor, boomerang })
            await nl.Publisher.PublishAsync(Topics.ExchangeInbound("de-hotline"), f.caseKey, f);

        await atNl.WaitUntilAsync(() => atNl.Events<ReportRejected>(Topics.ReportsRejected).Count == 2, Timeout);
        var reasons = atNl.Events<ReportRejected>(Topics.ReportsRejected).ToDictionary(r => r.reportId!, r => r.reasonCode);
        Assert.Equal("PARTNER_IMPERSONATION", reasons["f-1"]);
        Assert.Equal("FORWARDING_CYCLE", reasons["f-2"]);
        Assert.All(atNl.Events<ReportRejected>(Topics.ReportsRejected), r => Assert.Equal(Topics.ExchangeInbound("de-hotline"), r.originTopic));
        Assert.Empty(atNl.Events<ReportAccepted>(Topics.ReportsAccepted));
    }

    private static string Diagnose() =>
        string.Join("; ", new[] { "exchange-out-de-hotline", "exchange-out-gb-hotline", "exchange-in", "routing" }.Select(stage =>
            $"{stage}: consumed {ProcessorMetrics.Consumed.WithLabels(stage, Topics.ExchangeOutbound).Value}, deferred {ProcessorMetrics.Deferred.WithLabels(stage).Value}, dlq {ProcessorMetrics.DeadLettered.WithLabels(stage, "processing_failed").Value}/{ProcessorMetrics.DeadLettered.WithLabels(stage, "undeserialisable").Value}, up {ProcessorMetrics.Up.WithLabels(stage).Value}"));

    private static ReportForwarded Forwarded(string reportId, string[] hops)
    {
        var forwarded = Hotline.Forwarded(reportId, "nl-hotline", "NL", "site.nl-host.test", "192.0.2.10", Known);
        forwarded.report.hops = [.. hops];
        return forwarded;
    }
}
