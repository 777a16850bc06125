using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Pipeline.Contracts;
using Pipeline.Operator;
using Pipeline.Platform;
using Pipeline.TestSupport;

namespace Pipeline.Console.Tests;

/// <summary>
/// The console as its users see it, in Debian's headless chromium, against the embedded cluster with the real
/// classification, routing and takedown stages: what a person does in a page reaches the topic the stage reads, and
/// the stage's answer comes back to the page.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleBrowserTests(ConsoleFixture f)
{
    private static readonly TimeSpan Wait = TimeSpan.FromMinutes(1);

    private static ILocator Row(IPage page, string table, string reportId) =>
        page.Locator($"#{table} tbody tr").Filter(new() { HasText = reportId });

    [Fact]
    public async Task An_analyst_assesses_a_waiting_report_it_leaves_the_queue_and_classification_releases_it_as_new()
    {
        var (reportId, url) = await f.WaitingReportAsync();
        await using var browser = await Browser.LaunchAsync(f.BaseUrl);
        var page = await browser.SignInAsync("analyst-1");
        Assert.EndsWith("/queue", page.Url, StringComparison.Ordinal);
        var row = Row(page, "waiting", reportId);
        Assert.Equal(1, await row.CountAsync());
        Assert.Contains(url, await row.InnerTextAsync(), StringComparison.Ordinal); // the URL as text
        Assert.Contains(Pipeline.Classification.ClassificationProcessor.NeedsAssessmentRule, await row.InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator("img, a[href^='http']").CountAsync()); // never an image, never a link to the material
        await Browser.ScreenshotAsync(page, "queue");

        await row.Locator("a.open").ClickAsync();
        Assert.Equal(url, await page.Locator("#report-url").InnerTextAsync());
        Assert.Contains("Console Host", await page.Locator("#hosting").InnerTextAsync(), StringComparison.Ordinal);
        await page.ClickAsync("#lock-report");
        Assert.Contains("locked by you", await page.Locator("#lock").InnerTextAsync(), StringComparison.Ordinal);
        await page.SelectOptionAsync("#classification", "BASELINE");
        await page.SelectOptionAsync("#category", "A1");
        await page.SelectOptionAsync("#ageGroup", "PREPUBESCENT");
        await page.FillAsync("#note", "synthetic test material");
        await Browser.ScreenshotAsync(page, "assess");
        await page.ClickAsync("#send-assessment");

        Assert.Contains(reportId, await page.Locator("#sent").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await Row(page, "waiting", reportId).CountAsync());
        await f.Watcher.WaitUntilAsync(() => f.Watcher.Events<ReportClassified>(Topics.ReportsClassified, c => c.report.reportId == reportId).Count > 0, Wait,
            () => "classification released no report " + reportId);
        var assessed = Assert.Single(f.Watcher.Events<ReportAssessed>(Topics.ReportsAssessed, a => a.reportId == reportId));
        Assert.Equal((url, "analyst-1", Pipeline.Contracts.Classification.BASELINE, SeverityCategory.A1, AgeGroup.PREPUBESCENT, "synthetic test material"),
            (assessed.caseKey, assessed.assessment.analyst, assessed.assessment.classification, assessed.assessment.category, assessed.assessment.ageGroup, assessed.note));
        var classified = f.Watcher.Events<ReportClassified>(Topics.ReportsClassified, c => c.report.reportId == reportId).Single();
        Assert.Equal(Verdict.NEW, classified.verdict);
        Assert.Equal("analyst-1", classified.assessment.analyst);

        // Still out of the queue once classification has released it (on every replica, from the topic itself).
        var topics = f.Console.Services.GetRequiredService<ConsoleTopics>();
        await Polling.Until(() => topics.WaitingOf(AssessmentLocks.KeyOf(url, reportId))?.classified is not null, Wait, () => "the released report on classification.waiting.v1");
        await page.GotoAsync("/queue");
        Assert.Equal(0, await Row(page, "waiting", reportId).CountAsync());
        await f.Watcher.WaitUntilAsync(() => f.Watcher.Events<AuditRecord>(Topics.AuditLog, a => a.action == "console.assessment-sent" && a.reportIds.Contains(reportId)).Count == 1,
            Wait, () => "the console's audit record of the assessment");
        Assert.Equal("user:analyst-1", f.Watcher.Events<AuditRecord>(Topics.AuditLog, a => a.action == "console.assessment-sent" && a.reportIds.Contains(reportId)).Single().actor);
    }

    [Fact]
    public async Task A_second_analyst_sees_the_lock_of_the_first_and_cannot_assess_the_report()
    {
        var (reportId, _) = await f.WaitingReportAsync();
        await using var browser = await Browser.LaunchAsync(f.BaseUrl);
        var first = await browser.SignInAsync("analyst-1");
        await Row(first, "waiting", reportId).Locator("a.open").ClickAsync();
        await first.ClickAsync("#lock-report");
        Assert.Equal(1, await first.Locator("#send-assessment").CountAsync());

        var second = await browser.SignInAsync("analyst-2");
        var lockText = await Row(second, "waiting", reportId).Locator(".lock-state").InnerTextAsync();
        Assert.StartsWith("locked by analyst-1 until", lockText, StringComparison.Ordinal);
        await Row(second, "waiting", reportId).Locator("a.open").ClickAsync();
        Assert.StartsWith("analyst-1 is assessing this report", await second.Locator("#locked-by-other").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await second.Locator("#send-assessment").CountAsync());
        Assert.Equal(0, await second.Locator("#lock-report").CountAsync());
        await Browser.ScreenshotAsync(second, "locked");
    }

    [Fact]
    public async Task A_manager_approves_a_contact_and_the_notice_held_for_its_approval_goes_out()
    {
        var id = ConsoleFixture.NewId("c");
        var abuse = $"abuse@{id}.example";
        var url = $"http://www.{id}.example/a/1.jpg";
        var now = DateTime.UtcNow;
        var report = ConsoleFixture.Report(ConsoleFixture.NewId("r"), url, now);
        await f.Publisher.PublishAsync(Topics.TakedownRequested, url, new TakedownRequested
        {
            eventId = "takedown-" + id, caseKey = url, report = report, caseInfo = ConsoleFixture.CaseInfo(url, now), hosting = ConsoleFixture.Hosting($"www.{id}.example", abuse, approved: false),
            verdict = Verdict.KNOWN, matches = [], assessment = null, rule = "home+known→takedown", policeHold = false,
            timeline = new Timeline { receivedAt = now }, requestedAt = now, orderedRemovalBy = null, orderReference = null,
        });
        var contactId = "email:" + abuse;
        var topics = f.Console.Services.GetRequiredService<ConsoleTopics>();
        await Polling.Until(() => topics.HeldNotices.Any(h => h.contactId == contactId), Wait, () => "the notice held for approval of " + contactId);
        Assert.Empty(f.Watcher.Events<TakedownNotice>(Topics.NoticesIssued, n => n.caseKey == url));

        await using var browser = await Browser.LaunchAsync(f.BaseUrl);
        var page = await browser.SignInAsync("manager-1");
        Assert.EndsWith("/contacts", page.Url, StringComparison.Ordinal);
        Assert.Equal("1", await page.Locator($".held[data-contact='{contactId}']").InnerTextAsync());
        await Browser.ScreenshotAsync(page, "contacts");
        await page.ClickAsync($"button.approve[data-contact='{contactId}']");
        Assert.Contains($"Approved {contactId}", await page.Locator("#done").InnerTextAsync(), StringComparison.Ordinal);

        await f.Watcher.WaitUntilAsync(() => f.Watcher.Events<TakedownNotice>(Topics.NoticesIssued, n => n.caseKey == url).Count > 0, Wait, () => "no notice issued after the approval");
        var entry = topics.Contacts.Find(contactId);
        Assert.Equal((true, "manager-1", ContactSource.CONSOLE), (entry?.approved, entry?.approvedBy, entry?.source));
    }

    [Fact]
    public async Task An_analyst_cannot_open_the_contacts_page()
    {
        await using var browser = await Browser.LaunchAsync(f.BaseUrl);
        var page = await browser.SignInAsync("analyst-1");
        var response = await page.GotoAsync("/contacts");
        Assert.Equal(403, response!.Status);
        Assert.Equal(403, (await page.GotoAsync("/holds"))!.Status);
        Assert.Equal(403, (await page.GotoAsync("/users"))!.Status);
        Assert.Equal(0, await page.Locator("header a[href='/contacts']").CountAsync());
        Assert.Equal(1, await page.Locator("#forbidden").CountAsync());
    }

    [Fact]
    public async Task A_manager_releases_a_police_hold_with_a_reason_and_routing_requests_the_takedown()
    {
        var id = ConsoleFixture.NewId("p");
        var url = $"http://www.{id}.example/new/1.jpg";
        var now = DateTime.UtcNow;
        var reportId = ConsoleFixture.NewId("r");
        await f.Publisher.PublishAsync(Topics.ReportsClassified, url, new ReportClassified
        {
            eventId = "classified-" + id, caseKey = url, report = ConsoleFixture.Report(reportId, url, now), caseInfo = ConsoleFixture.CaseInfo(url, now),
            hosting = ConsoleFixture.Hosting($"www.{id}.example", $"abuse@{id}.example"), verdict = Verdict.NEW, matches = [], assessment = null, classifiedAt = now,
        });
        var topics = f.Console.Services.GetRequiredService<ConsoleTopics>();
        await Polling.Until(() => topics.PoliceHolds.Any(h => h.caseKey == url), Wait, () => "the takedown held for the police");

        await using var browser = await Browser.LaunchAsync(f.BaseUrl);
        var page = await browser.SignInAsync("manager-1");
        await page.GotoAsync("/holds");
        var row = Row(page, "holds", reportId);
        await row.Locator("input.reason").FillAsync("police unit 7 consents, ref PU7-123");
        await row.Locator("input[name=preserveEvidence]").CheckAsync();
        await Browser.ScreenshotAsync(page, "holds");
        await row.Locator("button.release").ClickAsync();
        Assert.Contains($"Released report {reportId}", await page.Locator("#done").InnerTextAsync(), StringComparison.Ordinal);

        await f.Watcher.WaitUntilAsync(() => f.Watcher.Events<TakedownRequested>(Topics.TakedownRequested, t => t.caseKey == url && !t.policeHold).Count > 0, Wait,
            () => "routing requested no takedown after the release");
        Assert.Contains("released by the police", f.Watcher.Events<TakedownRequested>(Topics.TakedownRequested, t => t.caseKey == url).Single().rule, StringComparison.Ordinal);
        await Polling.Until(() => !topics.PoliceHolds.Any(h => h.caseKey == url), Wait, () => "the hold still listed");
        await page.GotoAsync("/holds");
        Assert.Equal(0, await Row(page, "holds", reportId).CountAsync());

        // The trace page tells the same story as `pipeline trace`.
        await page.GotoAsync("/trace?id=" + Uri.EscapeDataString(reportId));
        var trace = await page.Locator("main").InnerTextAsync();
        Assert.Contains("takedown held for the police", trace, StringComparison.Ordinal);
        Assert.Contains("released by the police", trace, StringComparison.Ordinal);
        await Browser.ScreenshotAsync(page, "trace");
    }
}
