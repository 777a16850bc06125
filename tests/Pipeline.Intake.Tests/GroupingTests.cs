using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.TestSupport;

namespace Pipeline.Intake.Tests;

public class GroupingTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Reports_group_by_url_and_hash_and_a_removed_case_reopens_as_a_reupload()
    {
        await using var h = await IntakeHarness.StartAsync();
        await h.StartIntakeAsync();
        var accepted = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        var grouped = h.Reader<ReportGrouped>(Topics.ReportsGrouped);
        var sha = IntakeHarness.RandomHex(32);
        const string caseKey = "http://gallery.example/a/img.jpg";

        var r1 = IntakeHarness.Submitted("g-1", "http://Gallery.EXAMPLE/a/img.jpg", sha);
        await h.SubmitAsync(r1);
        await accepted.ReadUntilAsync(r => r.Count == 1, Wait);
        var first = accepted.Records[0].Value;
        Assert.Equal(caseKey, first.caseKey);
        Assert.Equal(1, first.caseInfo.reportCount);
        Assert.False(first.caseInfo.reupload);

        // Same URL in another spelling, from another hotline: recorded on the case, no second flow.
        await h.SubmitAsync(IntakeHarness.Submitted("g-2", "HTTP://gallery.example:80/a/./b/../img.jpg#top", hotline: IntakeHarness.OtherHotline));
        await grouped.ReadUntilAsync(r => r.Count == 1, Wait);
        Assert.Equal(("g-2", caseKey, "url", 2), (grouped.Records[0].Value.reportId, grouped.Records[0].Key, grouped.Records[0].Value.matchedBy, grouped.Records[0].Value.reportCount));

        // Another URL on the same site with the same exact content hash joins the case; a later report of that URL follows it.
        await h.SubmitAsync(IntakeHarness.Submitted("g-3", "http://gallery.example/mirror/copy.jpg", sha));
        await grouped.ReadUntilAsync(r => r.Count == 2, Wait);
        Assert.Equal(("g-3", caseKey, "sha256", "http://gallery.example/mirror/copy.jpg"),
            (grouped.Records[1].Value.reportId, grouped.Records[1].Key!, grouped.Records[1].Value.matchedBy, grouped.Records[1].Value.reportUrl));
        await h.SubmitAsync(IntakeHarness.Submitted("g-4", "http://gallery.example/mirror/copy.jpg"));
        await grouped.ReadUntilAsync(r => r.Count == 3, Wait);
        Assert.Equal(("g-4", caseKey, "alias", 4), (grouped.Records[2].Value.reportId, grouped.Records[2].Key!, grouped.Records[2].Value.matchedBy, grouped.Records[2].Value.reportCount));

        // The same report delivered again: the same answer with the same event id, nothing counted twice.
        await h.SubmitAsync(r1);
        await accepted.ReadUntilAsync(r => r.Count == 2, Wait, settle: TimeSpan.FromMilliseconds(500));
        Assert.Equal(first.eventId, accepted.Records[1].Value.eventId);
        Assert.Equal(3, grouped.Records.Count);

        // The hoster removed it: the outcome closes the case; the next report reopens it as a re-upload.
        var removedAt = DateTime.UtcNow.AddSeconds(1);
        await h.Publisher.PublishAsync(Topics.NoticeOutcomes, caseKey, Outcome(caseKey, removedAt));
        var cases = h.Reader<CaseState>(Topics.IntakeCases);
        await cases.ReadUntilAsync(r => r.Any(c => c.Key == caseKey && c.Value.status == CaseStatus.CLOSED_REMOVED), Wait);
        await Polling.Until(() => DateTime.UtcNow > removedAt, TimeSpan.FromSeconds(30), () => "the removal time passed"); // removed "1 s from now": the re-uploads come after it

        // Its content at a new URL on another host: a new case, flagged as a re-upload of the removed one.
        await h.SubmitAsync(IntakeHarness.Submitted("g-6", "http://other.example/again.jpg", sha));
        await accepted.ReadUntilAsync(r => r.Count == 3, Wait);
        Assert.Equal(("http://other.example/again.jpg", true), (accepted.Records[2].Key!, accepted.Records[2].Value.caseInfo.reupload));

        // The removed URL itself reported again: the case reopens as a re-upload, with a new downstream flow.
        await h.SubmitAsync(IntakeHarness.Submitted("g-5", "http://gallery.example/a/img.jpg"));
        await accepted.ReadUntilAsync(r => r.Count == 4, Wait);
        var reupload = accepted.Records[3].Value;
        Assert.Equal(caseKey, reupload.caseKey);
        Assert.NotEqual(first.eventId, reupload.eventId);
        Assert.True(reupload.caseInfo.reupload);
        Assert.Equal(5, reupload.caseInfo.reportCount);
        // The second episode of the case: its notice gets an id of its own (case key + episode), so it is measured again.
        Assert.Equal((0, 0, 1), (first.caseInfo.episode, accepted.Records[2].Value.caseInfo.episode, reupload.caseInfo.episode));

        await cases.ReadUntilAsync(r => r.Any(c => c.Key == caseKey && c.Value.reportCount == 5 && c.Value.status == CaseStatus.OPEN), Wait);
        var state = cases.Records.Last(c => c.Key == caseKey).Value;
        Assert.Equal([IntakeHarness.Hotline, IntakeHarness.OtherHotline], state.sources);
        Assert.Equal(["g-1", "g-2", "g-3", "g-4", "g-5"], state.reportIds);
        Assert.Equal(1, state.episode);
        var alias = cases.Records.Last(c => c.Key == "http://gallery.example/mirror/copy.jpg").Value;
        Assert.Equal((CaseStatus.ALIAS, caseKey), (alias.status, alias.aliasOf));
    }

    [Fact]
    public async Task The_same_content_on_another_host_opens_its_own_case_so_that_hoster_gets_its_own_notice()
    {
        await using var h = await IntakeHarness.StartAsync();
        await h.StartIntakeAsync();
        var accepted = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        var grouped = h.Reader<ReportGrouped>(Topics.ReportsGrouped);
        var sha = IntakeHarness.RandomHex(32);

        await h.SubmitAsync(IntakeHarness.Submitted("x-1", "http://first.example/a.jpg", sha));
        await h.SubmitAsync(IntakeHarness.Submitted("x-2", "http://second.example/b.jpg", sha));
        await accepted.ReadUntilAsync(r => r.Count == 2, Wait, settle: TimeSpan.FromMilliseconds(300));
        Assert.Equal(["http://first.example/a.jpg", "http://second.example/b.jpg"], accepted.Records.Select(r => r.Key!).Order());
        Assert.All(accepted.Records, r => Assert.False(r.Value.caseInfo.reupload));
        Assert.Empty(grouped.Records);
    }

    [Fact]
    public async Task The_reporters_contact_stays_on_the_submitted_report_and_reaches_no_other_topic()
    {
        await using var h = await IntakeHarness.StartAsync();
        await h.StartIntakeAsync();
        var accepted = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        var grouped = h.Reader<ReportGrouped>(Topics.ReportsGrouped);
        var commands = h.Reader<CaseCommand>(Topics.IntakeGrouping);
        const string url = "http://contact.example/a.jpg";
        foreach (var id in new[] { "c-1", "c-2" })
        {
            var submitted = IntakeHarness.Submitted(id, url);
            submitted.report.reporterType = ReporterType.PUBLIC;
            submitted.report.reporterContact = new ReporterContact { name = "Synthetic Reporter", email = "reporter@mail.example", phone = "+31 20 000 0000" };
            await h.SubmitAsync(submitted);
        }
        await accepted.ReadUntilAsync(r => r.Count == 1, Wait);
        await grouped.ReadUntilAsync(r => r.Count == 1, Wait);
        await commands.ReadUntilAsync(r => r.Count >= 2, Wait);

        Assert.Null(Assert.Single(accepted.Records).Value.report.reporterContact);
        Assert.Equal(ReporterType.PUBLIC, accepted.Records[0].Value.report.reporterType); // what kind of reporter stays
        Assert.Null(Assert.Single(grouped.Records).Value.report.reporterContact);
        Assert.All(commands.Records, c => Assert.Null(c.Value.report?.reporterContact));
    }

    [Fact]
    public async Task A_restart_mid_stream_opens_no_case_twice_and_every_report_has_one_outcome()
    {
        await using var h = await IntakeHarness.StartAsync();
        const int urls = 60, perUrl = 10;
        var inputs = Enumerable.Range(0, urls * perUrl)
            .Select(i => IntakeHarness.Submitted($"rs-{i}", $"http://host{i % urls % 7}.example/item/{i % urls}.jpg")).ToList();
        var accepted = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        var grouped = h.Reader<ReportGrouped>(Topics.ReportsGrouped);

        var (first, _) = await h.StartIntakeAsync();
        await Task.WhenAll(inputs.Take(inputs.Count / 2).Select(h.SubmitAsync));
        await accepted.ReadUntilAsync(r => r.Count >= 10, Wait);
        await IntakeHarness.StopAsync(first); // mid-stream: part of the first half is still unprocessed
        await h.StartIntakeAsync();
        await Task.WhenAll(inputs.Skip(inputs.Count / 2).Select(h.SubmitAsync));

        bool AllDone() => accepted.Records.Select(r => r.Value.report.reportId).Concat(grouped.Records.Select(r => r.Value.reportId)).Distinct().Count() == inputs.Count;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!AllDone())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(60)) Assert.Fail($"{accepted.Records.Count} accepted + {grouped.Records.Count} grouped of {inputs.Count}");
            await accepted.PollAsync(TimeSpan.FromMilliseconds(100));
            await grouped.PollAsync(TimeSpan.FromMilliseconds(100));
        }
        await accepted.PollAsync(TimeSpan.FromSeconds(1));
        await grouped.PollAsync(TimeSpan.FromSeconds(1));

        // One opening per case (a replayed opening carries the same eventId), and no report both opened and joined.
        var openings = accepted.Records.GroupBy(r => r.Key).ToDictionary(g => g.Key!, g => g.Select(r => r.Value.eventId).Distinct().Count());
        Assert.Equal(urls, openings.Count);
        Assert.All(openings, o => Assert.Equal(1, o.Value));
        var openers = accepted.Records.Select(r => r.Value.report.reportId).ToHashSet();
        var joiners = grouped.Records.Select(r => r.Value.reportId).ToHashSet();
        Assert.Empty(openers.Intersect(joiners));
        Assert.Equal(urls * (perUrl - 1), joiners.Count);
        Assert.All(grouped.Records.GroupBy(r => r.Value.reportId), g => Assert.Single(g.Select(r => r.Value.eventId).Distinct()));
    }

    private static NoticeOutcome Outcome(string caseKey, DateTime removedAt) => new()
    {
        eventId = EventIds.Derive("outcome", caseKey),
        caseKey = caseKey,
        noticeId = EventIds.Derive("notice", caseKey, "0"),
        hosterId = "hoster-1",
        hosterName = "Hoster One",
        country = "NL",
        timeline = new Timeline { receivedAt = IntakeHarness.T0, referredToPoliceAt = null, noticeSentAt = IntakeHarness.T0, removalObservedAt = removedAt },
        removedAt = removedAt,
        timeToRemovalFromNoticeMs = 1,
        timeToRemovalFromReportMs = 1,
        deadline = removedAt.AddDays(1),
        withinNorm = true,
        verification = "3 consecutive misses",
        decidedAt = removedAt,
    };
}
