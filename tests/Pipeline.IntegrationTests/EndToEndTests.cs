using Pipeline.Contracts;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.TestSupport;
using Pipeline.Platform;

namespace Pipeline.IntegrationTests;

/// <summary>Synthetic reports through every stage, each stage its own process, over a real Kafka protocol endpoint.</summary>
[Collection(KafkaCollection.Name)]
public sealed class EndToEndTests(KafkaBackend backend)
{
    private static readonly string[] Watched =
    [
        Topics.ReportsAccepted, Topics.ReportsRejected, Topics.ReportsLocated, Topics.ReportsClassified, Topics.ReportsReview,
        Topics.PoliceReferrals, Topics.ExchangeOutbound, Topics.TakedownRequested, Topics.NoticesIssued, Topics.ContentStatus,
        Topics.NoticeOutcomes, Topics.SlaEvents, Topics.AuditLog,
    ];

    [Fact]
    public async Task Each_report_produces_exactly_the_expected_event_on_each_topic_and_removal_is_measured()
    {
        var run = Guid.NewGuid().ToString("N")[..10];
        var known = TestWorld.RandomHex(32);
        await using var pipeline = await RunningPipeline.StartAsync(backend, p =>
            p.Publisher.PublishAsync(Topics.HashesKnown, $"police-nl:sha256:{known}", TestWorld.Known(known)));
        using var watch = backend.Watch(Watched);
        await watch.Assigned.WaitAsync(TimeSpan.FromSeconds(120));

        string Id(string name) => $"{run}-{name}";
        var reports = new[]
        {
            TestWorld.Report(Id("known-home"), $"http://{TestWorld.HomeHosterHost}/{run}/known.jpg", known),
            TestWorld.Report(Id("new-home"), $"http://SITE-A.nl-host.test:80/{run}/./x/../new.jpg#frag", assessed: Classification.BASELINE),
            TestWorld.Report(Id("known-partner"), $"http://{TestWorld.PartnerHost}/{run}/p.jpg", known),
            TestWorld.Report(Id("known-no-partner"), $"http://{TestWorld.NoPartnerHost}/{run}/s.jpg", known),
            TestWorld.Report(Id("unknown-host"), $"http://{TestWorld.UnknownHost}/{run}/u.jpg", known),
            TestWorld.Report(Id("ftp"), $"ftp://{TestWorld.HomeHosterHost}/{run}/f.jpg", known),
            TestWorld.Report(Id("not-illegal"), $"http://{TestWorld.HomeHosterHost}/{run}/ok.jpg", assessed: Classification.NOT_ILLEGAL),
            TestWorld.Report(Id("unassessed"), $"http://{TestWorld.HomeHosterHost}/{run}/unk.jpg"),
        };
        foreach (var r in reports) await pipeline.Publisher.PublishAsync(Topics.ReportsSubmitted, r.report.reportId, r);

        bool Mine(Report r) => r.reportId.StartsWith(run, StringComparison.Ordinal);
        await watch.WaitUntilAsync(() =>
                watch.Events<ReportRejected>(Topics.ReportsRejected, e => e.reportId?.StartsWith(run, StringComparison.Ordinal) == true).Count == 1
                && watch.Events<ReviewRequested>(Topics.ReportsReview, e => Mine(e.report)).Count == 3
                && watch.Events<ReportForwarded>(Topics.ExchangeOutbound, e => Mine(e.report)).Count == 1
                && watch.Events<ReportClassified>(Topics.ReportsClassified, e => Mine(e.report)).Count == 6
                && watch.Events<PoliceReferral>(Topics.PoliceReferrals, e => Mine(e.report)).Count == 1
                && watch.Events<TakedownNotice>(Topics.NoticesIssued, e => e.url.Contains(run, StringComparison.Ordinal)).Count == 1,
            TimeSpan.FromSeconds(60), () => Describe(watch, run));

        // Police first: the new material's takedown is held until the police release it.
        Assert.Empty(watch.Events<TakedownRequested>(Topics.TakedownRequested, e => e.report.reportId == Id("new-home")));
        var referred = watch.Events<PoliceReferral>(Topics.PoliceReferrals, e => Mine(e.report)).Single();
        await pipeline.Publisher.PublishAsync(Topics.PoliceReleases, referred.caseKey, new PoliceRelease
        {
            eventId = EventIds.Derive("release", referred.referralId), caseKey = referred.caseKey, referralId = referred.referralId,
            releasedBy = "police-unit-test", releasedAt = DateTime.UtcNow, preserveEvidence = true, note = null,
        });
        // Both the released takedown and its notice: the watcher reads the two topics independently, so the notice can be
        // seen before the request that caused it.
        await watch.WaitUntilAsync(() => watch.Events<TakedownNotice>(Topics.NoticesIssued, e => e.url.Contains(run, StringComparison.Ordinal)).Count == 2
                && watch.Events<TakedownRequested>(Topics.TakedownRequested, e => e.report.reportId == Id("new-home")).Count == 1,
            TimeSpan.FromSeconds(120), () => Describe(watch, run));
        Assert.EndsWith("police-first: released by the police",
            watch.Events<TakedownRequested>(Topics.TakedownRequested, e => e.report.reportId == Id("new-home")).Single().rule, StringComparison.Ordinal);

        // intake: seven accepted under their case keys, one rejected with its reason and the original bytes
        var accepted = watch.Events<ReportAccepted>(Topics.ReportsAccepted, e => Mine(e.report));
        Assert.Equal(7, accepted.Count);
        Assert.Equal($"http://site-a.nl-host.test/{run}/new.jpg", accepted.Single(a => a.report.reportId == Id("new-home")).caseKey);
        var rejected = Assert.Single(watch.Events<ReportRejected>(Topics.ReportsRejected, e => e.reportId?.StartsWith(run, StringComparison.Ordinal) == true));
        Assert.Equal(Id("ftp"), rejected.reportId);
        Assert.Equal("URL_SCHEME_NOT_ALLOWED", rejected.reasonCode);
        Assert.Equal(0, rejected.originalPayload[0]); // the exact Confluent-framed bytes that arrived
        Assert.Equal(Topics.ReportsSubmitted, rejected.originTopic);

        // geolocation
        var located = watch.Events<ReportLocated>(Topics.ReportsLocated, e => Mine(e.report)).ToDictionary(e => e.report.reportId);
        Assert.Equal(7, located.Count);
        Assert.Equal(("NL", 64496L, "nl-host"), (located[Id("known-home")].hosting.country, located[Id("known-home")].hosting.asn!.Value, located[Id("known-home")].hosting.hosterId));
        Assert.Equal(["203.0.113.10", "2001:db8::10"], located[Id("known-no-partner")].hosting.ips);
        Assert.False(located[Id("unknown-host")].hosting.resolved);

        // classification
        var verdicts = watch.Events<ReportClassified>(Topics.ReportsClassified, e => Mine(e.report)).ToDictionary(e => e.report.reportId, e => e.verdict);
        Assert.Equal(Verdict.KNOWN, verdicts[Id("known-home")]);
        Assert.Equal(Verdict.NEW, verdicts[Id("new-home")]);
        Assert.Equal(Verdict.KNOWN, verdicts[Id("known-partner")]);
        Assert.Equal(Verdict.NOT_ILLEGAL, verdicts[Id("not-illegal")]);
        Assert.False(verdicts.ContainsKey(Id("unassessed"))); // waits in classification for an analyst's verdict
        var match = Assert.Single(watch.Events<ReportClassified>(Topics.ReportsClassified, e => e.report.reportId == Id("known-home")).Single().matches);
        Assert.Equal(("police-nl", HashAlgorithm.SHA256, known), (match.bank, match.algorithm, match.value));

        // routing: one outcome per report, with the rule that decided it
        var police = Assert.Single(watch.Events<PoliceReferral>(Topics.PoliceReferrals, e => Mine(e.report)));
        Assert.Equal(Id("new-home"), police.report.reportId);
        Assert.Null(police.report.reporterContact);
        Assert.NotNull(police.timeline.referredToPoliceAt);
        var takedowns = watch.Events<TakedownRequested>(Topics.TakedownRequested, e => Mine(e.report)).Select(t => t.report.reportId).Order().ToList();
        Assert.Equal([Id("known-home"), Id("new-home")], takedowns);
        var forward = Assert.Single(watch.Deliveries(Topics.ExchangeOutbound).Where(d => Mine(((ReportForwarded)d.Value).report)).DistinctBy(d => ((ReportForwarded)d.Value).eventId));
        var forwarded = (ReportForwarded)forward.Value;
        Assert.Equal("de-hotline", forward.Key);
        Assert.Equal((Id("known-partner"), "de-hotline", "DE"), (forwarded.report.reportId, forwarded.partnerHotline, forwarded.partnerCountry));
        Assert.Null(forwarded.report.reporterContact); // reporter identity never crosses the border
        Assert.Equal(["nl-hotline"], forwarded.report.hops);
        var reviews = watch.Events<ReviewRequested>(Topics.ReportsReview, e => Mine(e.report)).ToDictionary(e => e.report.reportId, e => e.rule);
        Assert.Equal(new Dictionary<string, string>
        {
            [Id("known-no-partner")] = "no-partner→review",
            [Id("unknown-host")] = "unresolved→review",
            [Id("unassessed")] = "needs-assessment→review",
        }, reviews);
        Assert.DoesNotContain(watch.All, s => ReportIdOf(s.Value) == Id("not-illegal"));

        // takedown: one X-ARF notice per URL to the hoster's abuse desk
        var notices = watch.Events<TakedownNotice>(Topics.NoticesIssued, e => e.url.Contains(run, StringComparison.Ordinal));
        Assert.All(notices, n =>
        {
            Assert.Equal("abuse@nl-host.test", n.recipient.address);
            Assert.Equal(RecipientRole.HOSTER, n.recipient.role);
            Assert.Equal(n.issuedAt.AddHours(24), n.deadline);
            Assert.Contains("\"type\": \"csam\"", n.xarf, StringComparison.Ordinal);
        });

        // recheck + SLA: the hoster removes both URLs; three consecutive 404s confirm it; the outcome is measured
        await watch.WaitUntilAsync(() => watch.Events<ContentStatusObserved>(Topics.ContentStatus, e => e.url.Contains(run, StringComparison.Ordinal) && e.status == ContentStatus.ONLINE).Count >= 2,
            TimeSpan.FromSeconds(120), () => Describe(watch, run));
        foreach (var n in notices) pipeline.Web.Remove(n.url);
        await watch.WaitUntilAsync(() => watch.Events<NoticeOutcome>(Topics.NoticeOutcomes, e => e.caseKey.Contains(run, StringComparison.Ordinal)).Count == 2,
            TimeSpan.FromSeconds(120), () => Describe(watch, run));
        var outcomes = watch.Events<NoticeOutcome>(Topics.NoticeOutcomes, e => e.caseKey.Contains(run, StringComparison.Ordinal));
        Assert.All(outcomes, o =>
        {
            Assert.True(o.withinNorm);
            Assert.Equal(o.timeline.noticeSentAt, notices.Single(n => n.noticeId == o.noticeId).issuedAt);
            Assert.True(o.removedAt >= o.timeline.noticeSentAt);
            Assert.True(o.timeToRemovalFromReportMs >= o.timeToRemovalFromNoticeMs);
            Assert.StartsWith("3 consecutive failed checks (REMOVED)", o.verification, StringComparison.Ordinal);
        });
        Assert.NotNull(outcomes.Single(o => o.noticeId == notices.Single(n => n.url.EndsWith("new.jpg", StringComparison.Ordinal)).noticeId).timeline.referredToPoliceAt);
        await watch.WaitUntilAsync(() => watch.Events<SlaEvent>(Topics.SlaEvents, e => e.caseKey.Contains(run, StringComparison.Ordinal) && e.kind == SlaEventKind.REMOVED_WITHIN_NORM).Count == 2,
            TimeSpan.FromSeconds(60));

        // audit: every decision on the police-first report's path, in order, each with who or which rule decided it, under
        // the case's token; and nothing of the run's URLs, hosts, IPs or hashes in any audit record
        var newCase = accepted.Single(a => a.report.reportId == Id("new-home")).caseKey;
        var token = new Pipeline.Audit.CaseTokens(Convert.FromBase64String(Pipeline.Platform.Embedded.EmbeddedRuntime.DevelopmentTokenKey)).Of(newCase);
        string[] path =
        [
            "report.received", "case.opened", "report.located", "report.classified", "police.referred", "police.released",
            "takedown.requested", "notice.issued", "removal.confirmed", "notice.outcome", "sla.removed_within_norm",
        ]; // no notice.delivered: this suite configures no SMTP server (deliveries are audited in AuditMapperTests)
        List<AuditRecord> Trail() => watch.Events<AuditRecord>(Topics.AuditLog, a => a.caseToken == token || a.reportIds.Contains(Id("new-home")))
            .DistinctBy(a => a.eventId).OrderBy(a => a.at).ThenBy(a => Array.IndexOf(path, a.action)).ToList();
        await watch.WaitUntilAsync(() => path.All(action => Trail().Any(a => a.action == action)), TimeSpan.FromSeconds(120),
            () => "audit trail so far: " + string.Join(", ", Trail().Select(a => a.action)));
        var trail = Trail();
        // Decided one after another (event times of one machine's clock). Records of one moment are simultaneous, not
        // reordered: the released takedown carries the release's own time, and the removal's records share its time.
        var decidedInTurn = path[..8];
        Assert.Equal(decidedInTurn, trail.Select(a => a.action).Where(decidedInTurn.Contains).Distinct());
        Assert.Equal("police:police-unit-test", trail.Single(a => a.action == "police.released").actor);
        Assert.StartsWith("rule:", trail.Single(a => a.action == "police.referred").actor, StringComparison.Ordinal);
        Assert.EndsWith("police-first: released by the police", trail.Single(a => a.action == "takedown.requested").rule, StringComparison.Ordinal);
        Assert.Equal("new", trail.Single(a => a.action == "report.classified").details["verdict"]);
        Assert.Equal(("NL", "nl-host"), (trail.Single(a => a.action == "report.located").details["country"], trail.Single(a => a.action == "report.located").details["hosterId"]));
        Assert.Equal("true", trail.Single(a => a.action == "notice.outcome").details["withinNorm"]);
        var rejectedAudit = watch.Events<AuditRecord>(Topics.AuditLog, a => a.action == "report.rejected" && a.reportIds.Contains(Id("ftp"))).First();
        Assert.Equal("URL_SCHEME_NOT_ALLOWED", rejectedAudit.rule);
        var audited = watch.Events<AuditRecord>(Topics.AuditLog, a => a.reportIds.Any(r => r.StartsWith(run, StringComparison.Ordinal)));
        var forbidden = new[] { "http", ".test", "@", "203.0.113.", "198.51.100.", "192.0.2.", "2001:db8", known, run + "/" };
        Assert.All(audited, a => Assert.DoesNotContain(forbidden, f => new[] { a.caseToken, a.actor, a.rule, a.noticeId }
            .Concat(a.details.Keys).Concat(a.details.Values).Any(v => v?.Contains(f, StringComparison.OrdinalIgnoreCase) == true)));
    }

    private static string? ReportIdOf(object value) => value switch
    {
        TakedownRequested t => t.report.reportId,
        PoliceReferral p => p.report.reportId,
        ReportForwarded f => f.report.reportId,
        ReviewRequested r => r.report.reportId,
        _ => null,
    };

    internal static string Describe(TopicWatcher watch, string run) =>
        "seen so far: " + string.Join(", ", watch.All.GroupBy(s => s.Topic).Select(g => $"{g.Key}: {g.Count()}")) + $" (run {run})";
}
