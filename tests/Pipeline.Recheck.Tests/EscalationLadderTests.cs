using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Takedown;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>
/// Issue 12, "the escalation ladder runs to the authority for a hoster that never removes": takedown, delivery, recheck
/// and sla on the test clock, a real SMTP server on loopback. The hoster gets its first notice and daily reminders; the
/// site owner (day 2), the registrar (day 4) and the authority (day 7) each get one ESCALATION notice with its own id,
/// delivered once. A hoster that removes on day 3 stops the ladder after the site owner.
/// </summary>
public class EscalationLadderTests
{
    private static readonly TimeSpan M = TimeSpan.FromMinutes(1), H = TimeSpan.FromHours(1), D = TimeSpan.FromDays(1);

    private static Dictionary<string, string?> Ladder(params Hosters.Hoster[] hosters)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Takedown:Delivery:BatchWindow"] = "00:00:00",
            ["Takedown:Escalation:Steps:0:Role"] = "SITE_OWNER",
            ["Takedown:Escalation:Steps:0:After"] = "2.00:00:00",
            ["Takedown:Escalation:Steps:1:Role"] = "REGISTRAR",
            ["Takedown:Escalation:Steps:1:After"] = "4.00:00:00",
            ["Takedown:Escalation:Steps:2:Role"] = "AUTHORITY",
            ["Takedown:Escalation:Steps:2:After"] = "7.00:00:00",
            ["Takedown:Escalation:Authority:Name"] = "Example Authority (test)",
            ["Takedown:Escalation:Authority:Address"] = "orders@authority.example",
            ["Takedown:Escalation:Registrars:example:Name"] = "Example Registrar (test)",
            ["Takedown:Escalation:Registrars:example:Address"] = "abuse@registrar.example",
        };
        foreach (var hoster in hosters)
        {
            var site = hoster.Host["www.".Length..];
            settings[$"Takedown:Escalation:SiteOwners:{site}:Name"] = $"Owner of {site}";
            settings[$"Takedown:Escalation:SiteOwners:{site}:Address"] = $"owner@{site}";
        }
        return settings;
    }

    [Fact]
    public async Task The_escalation_ladder_runs_to_the_authority_for_a_hoster_that_never_removes_and_a_removal_stops_it()
    {
        await using var h = await StartAsync();
        var never = new Hosters.Hoster("never-host", "www.never-host.example", "198.51.100.81", 64505, NoticeChannel.EMAIL, "abuse@never-host.example");
        var late = new Hosters.Hoster("late-host", "www.late-host.example", "198.51.100.82", 64506, NoticeChannel.EMAIL, "abuse@late-host.example");
        var url = never.Url("x/1.jpg");
        var other = late.Url("x/2.jpg");
        await h.StartStagesAsync([never.Host, late.Host], Ladder(never, late));
        h.Web.RemoveAt(other, T0 + 3 * D); // removed on day 3: after the site owner's escalation, before the registrar's
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, url, Hosters.Request(never, url, T0 - 10 * M, T0));
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, other, Hosters.Request(late, other, T0 - 10 * M, T0));
        var first = NoticeComposer.NoticeId(url, 0, 0);
        var otherFirst = NoticeComposer.NoticeId(other, 0, 0);
        await Until(() => h.Smtp.Messages.Count == 2 && h.Schedule.Find(first) is not null && h.Schedule.Find(otherFirst) is not null,
            TimeSpan.FromSeconds(30), () => $"both first notices sent and scheduled; mails {h.Smtp.Messages.Count}");

        // After every step: each escalation issued is taken by the delivery stage before time moves on.
        await h.RunUntilAsync(T0 + 8 * D, [], () => Until(
            () => h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued, n => n.kind == NoticeKind.ESCALATION).All(n => h.Delivering(n.noticeId)),
            TimeSpan.FromSeconds(30), () => "escalations taken by delivery"));
        Assert.True(h.Schedule.Find(first) is { removedAt: null }, "the URL that never went offline is open before the restart");
        await h.RestartStagesAsync(); // a restart re-sends nothing
        await h.RunUntilAsync(T0 + 8 * D + H, [], () => Task.CompletedTask);

        var notices = h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).DistinctBy(n => n.noticeId).ToList();
        var escalations = notices.Where(n => n.caseKey == url && n.kind == NoticeKind.ESCALATION).OrderBy(n => n.issuedAt).ToList();
        Assert.Equal(
            [(RecipientRole.SITE_OWNER, "owner@never-host.example", T0 + 2 * D, 1), (RecipientRole.REGISTRAR, "abuse@registrar.example", T0 + 4 * D, 2),
             (RecipientRole.AUTHORITY, "orders@authority.example", T0 + 7 * D, 3)],
            escalations.Select(n => (n.recipient.role, n.recipient.address, n.issuedAt, n.escalationsIssued)));
        for (var step = 1; step <= 3; step++)
        {
            var id = EventIds.Derive("escalation", first, step.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var e = escalations[step - 1];
            Assert.Equal((id, first), (e.noticeId, e.originalNoticeId));
            Assert.Contains($"Escalation {step} ({id}) of notice {first}", e.text, StringComparison.Ordinal);
            Assert.Single(h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.noticeId == id && d.status == DeliveryStatus.SENT).DistinctBy(d => d.eventId));
            Assert.Single(h.Smtp.Messages, m => m.Message.Headers["X-Notice-Id"] == id);
            Assert.Equal(e.recipient.address, Assert.Single(Assert.Single(h.Smtp.Messages, m => m.Message.Headers["X-Notice-Id"] == id).To));
        }
        // The hoster itself got its first notice and the seven reminders; the escalations did not count as reminders.
        Assert.Equal(7, notices.Count(n => n.caseKey == url && n.kind == NoticeKind.REMINDER));
        Assert.Equal(3, h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued, n => n.caseKey == url && n.kind == NoticeKind.ESCALATION).Select(n => n.noticeId).Distinct().Count());

        // The removed URL: the site owner heard on day 2; the removal on day 3 stopped the ladder.
        var stopped = notices.Where(n => n.caseKey == other && n.kind == NoticeKind.ESCALATION).ToList();
        var only = Assert.Single(stopped);
        Assert.Equal((RecipientRole.SITE_OWNER, "owner@late-host.example"), (only.recipient.role, only.recipient.address));

        // Recheck never scheduled an escalation as a URL of its own; sla measured the first notice, not an escalation.
        Assert.All(escalations.Concat(stopped), e => Assert.Null(h.Schedule.Find(e.noticeId)));
        // The URL that never went offline is still checked on day 8: its entry is open, not given up.
        var open = h.Schedule.Find(first);
        Assert.True(open is not null, $"the restarted recheck holds {h.Schedule.Count} entries, none for {first}");
        Assert.Null(open.removedAt);
        Assert.DoesNotContain(h.Watcher.Events<SlaEvent>(Topics.SlaEvents), e => escalations.Any(x => x.noticeId == e.noticeId));
    }
}
