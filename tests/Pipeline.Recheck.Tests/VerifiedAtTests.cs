using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Takedown;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>
/// "Notices have no verified_at / verification_method although recheck verified the URL": takedown, delivery, recheck
/// and sla on the test clock. The first notice carries the analyst's assessment as its verification (manual) or, resting
/// on a known-hash match alone, none; after recheck has found the URL online, the reminders and the escalation carry
/// verified_at = recheck's last ONLINE observation before them and verification_method automated_crawler, in the
/// X-ARF documents that reached the hoster and the site owner.
/// </summary>
public class VerifiedAtTests
{
    private static readonly TimeSpan M = TimeSpan.FromMinutes(1), H = TimeSpan.FromHours(1), D = TimeSpan.FromDays(1);

    [Fact]
    public async Task Reminders_and_escalations_after_recheck_saw_the_url_online_carry_that_observation_as_verified_at()
    {
        await using var h = await StartAsync();
        var hashOnly = new Hosters.Hoster("seen-host", "www.seen-host.example", "198.51.100.91", 64507, NoticeChannel.EMAIL, "abuse@seen-host.example");
        var assessed = new Hosters.Hoster("judged-host", "www.judged-host.example", "198.51.100.92", 64508, NoticeChannel.EMAIL, "abuse@judged-host.example");
        var url = hashOnly.Url("v/1.jpg");
        var other = assessed.Url("v/2.jpg");
        await h.StartStagesAsync([hashOnly.Host, assessed.Host], new Dictionary<string, string?>
        {
            ["Takedown:Delivery:BatchWindow"] = "00:00:00",
            ["Takedown:Reminders:Interval"] = "1.00:00:00",
            ["Takedown:Escalation:Steps:0:Role"] = "SITE_OWNER",
            ["Takedown:Escalation:Steps:0:After"] = "2.00:00:00",
            ["Takedown:Escalation:SiteOwners:seen-host.example:Address"] = "owner@seen-host.example",
            ["Takedown:Escalation:SiteOwners:judged-host.example:Address"] = "owner@judged-host.example",
        });
        var assessedAt = T0 - 20 * M;
        var request = Hosters.Request(assessed, other, T0 - 30 * M, T0);
        request.matches = [];
        request.verdict = Verdict.NEW;
        request.assessment = new Assessment
        {
            classification = Classification.BASELINE, category = SeverityCategory.B1, ageGroup = AgeGroup.PUBESCENT, gender = Gender.FEMALE,
            analyst = "analyst-3", assessedAt = assessedAt,
        };
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, url, Hosters.Request(hashOnly, url, T0 - 10 * M, T0));
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, other, request);
        var firsts = new[] { NoticeComposer.NoticeId(url, 0, 0), NoticeComposer.NoticeId(other, 0, 0) };
        await Until(() => h.Smtp.Messages.Count == 2 && firsts.All(id => h.Schedule.Find(id) is not null),
            TimeSpan.FromSeconds(30), () => $"both first notices sent and scheduled; mails {h.Smtp.Messages.Count}");

        // After every step the takedown stage has taken recheck's last ONLINE observation (kept in memory until a reminder
        // or escalation is composed, then in the case's timer) before the clock moves on (in real life it has hours to do
        // so before the next reminder).
        await h.RunUntilAsync(T0 + 2 * D + H, [], () => Until(() => firsts.All(TimerSawLastCheck), TimeSpan.FromSeconds(30),
            () => $"the reminder timers have not taken recheck's last ONLINE observation: {string.Join("; ", h.Timers!.State.Entries.Select(e => $"{e.Key} {Verification(e.Value.xarf)}"))}"));

        // The watcher has read every observation up to the end (one partition per case: a later one comes after them all).
        await Until(() => new[] { url, other }.All(k => h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.caseKey == k && o.observedAt > T0 + 2 * D).Count > 0),
            TimeSpan.FromSeconds(30), () => "observations after day 2 read");
        var online = h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.status == ContentStatus.ONLINE).DistinctBy(o => o.eventId).ToList();
        var notices = h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).DistinctBy(n => n.noticeId).ToList();
        foreach (var (caseKey, firstVerification) in new[] { (url, ((string?)null, (string?)null)), (other, (XarfShape.Timestamp(assessedAt), "manual")) })
        {
            var first = Assert.Single(notices, n => n.caseKey == caseKey && n.kind == NoticeKind.FIRST);
            Assert.Equal(firstVerification, Verification(first.xarf)); // a hash match alone verifies nothing; an analyst does
            var later = notices.Where(n => n.caseKey == caseKey && n.kind is NoticeKind.REMINDER or NoticeKind.ESCALATION).OrderBy(n => n.issuedAt).ThenBy(n => n.kind).ToList();
            Assert.Equal(
                [(NoticeKind.REMINDER, T0 + D), (NoticeKind.REMINDER, T0 + 2 * D), (NoticeKind.ESCALATION, T0 + 2 * D)],
                later.Select(n => (n.kind, n.issuedAt)).OrderBy(x => x.issuedAt).ThenBy(x => x.kind));
            foreach (var notice in later)
            {
                // recheck's last ONLINE observation of the case before the notice: within the last check interval
                var seen = online.Where(o => o.caseKey == caseKey && o.noticeId == first.noticeId && o.observedAt < notice.issuedAt).Max(o => o.observedAt);
                Assert.InRange(seen, notice.issuedAt - H, notice.issuedAt);
                Assert.Equal((XarfShape.Timestamp(seen), "automated_crawler"), Verification(notice.xarf));
                // ... and so it reached its recipient: the X-ARF attachment of the mail with the notice's id
                var mail = Assert.Single(h.Smtp.Messages, m => m.Message.Headers["X-Notice-Id"] == notice.noticeId).Message;
                var part = Assert.Single(mail.Attachments.OfType<MimeKit.MimePart>());
                using var body = new MemoryStream();
                await part.Content!.DecodeToAsync(body);
                Assert.Equal((XarfShape.Timestamp(seen), "automated_crawler"), Verification(System.Text.Encoding.UTF8.GetString(body.ToArray())));
            }
        }

        bool TimerSawLastCheck(string firstId)
        {
            if (h.Schedule.Find(firstId) is not { lastOnlineAt: { } lastOnline }) return true; // not checked online yet
            var timer = h.Timers!.State.Entries.FirstOrDefault(e => ReminderSchedule.FirstNoticeId(e.Value) == firstId);
            if (timer.Value is null) return true;
            var sighting = h.App!.Services.GetRequiredService<TakedownProcessor>().SightingOf(timer.Key);
            return (sighting ?? (Verification(timer.Value.xarf).At is { } at ? DateTime.Parse(at, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal) : null)) == lastOnline;
        }
    }

    private static (string? At, string? Method) Verification(string xarf)
    {
        var doc = JsonNode.Parse(xarf)!.AsObject();
        return ((string?)doc["verified_at"], (string?)doc["verification_method"]);
    }
}
