using System.Text.Json.Nodes;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Takedown;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>
/// Issue 12, "a final notice that confirms removal (content_removed: true)": once the recheck confirms a noticed URL
/// removed, its recipient gets one CONFIRMATION notice by its channel (a real SMTP server on loopback); the SLA outcome
/// is unchanged by it and no reminder follows.
/// </summary>
public class ConfirmationTests
{
    private static readonly TimeSpan M = TimeSpan.FromMinutes(1), H = TimeSpan.FromHours(1);

    [Fact]
    public async Task A_confirmed_removal_sends_one_confirmation_notice_with_content_removed_true()
    {
        await using var h = await StartAsync();
        var hoster = new Hosters.Hoster("cf-host", "www.cf-host.example", "192.0.2.75", 64497, NoticeChannel.EMAIL, "abuse@cf-host.example");
        var url = hoster.Url("c/1.jpg");
        h.Web.RemoveAt(url, T0 + 2 * H);
        await h.StartStagesAsync([hoster.Host], new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:00:00", ["Takedown:ConfirmRemoval"] = "true" });
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, url, Hosters.Request(hoster, url, T0 - 10 * M, T0));
        var first = NoticeComposer.NoticeId(url, 0, 0);
        await Until(() => h.Smtp.Messages.Count == 1 && h.Schedule.Find(first) is not null, TimeSpan.FromSeconds(30), () => "the first notice sent and scheduled");

        // Checks at 0:15, 1:15 (online), 2:15, 2:20, 2:25 (gone): removal confirmed at 2:25, removed since 2:15.
        await h.RunUntilAsync(T0 + 3 * 24 * H, [], () => Task.CompletedTask);
        // The confirmation (takedown) and the outcome (sla) are written by two stages from the same check: wait for both.
        await Until(() => h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued, n => n.kind == NoticeKind.CONFIRMATION).Count > 0 && h.Smtp.Messages.Count == 2
                && h.Watcher.Events<NoticeOutcome>(Topics.NoticeOutcomes).Count > 0,
            TimeSpan.FromSeconds(30), () => $"the confirmation issued and sent, and the outcome; mails {h.Smtp.Messages.Count}");
        var notices = h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).DistinctBy(n => n.eventId).ToList();
        var confirmation = Assert.Single(notices, n => n.kind == NoticeKind.CONFIRMATION);
        Assert.Equal((EventIds.Derive("confirmation", first), first, T0 + 145 * M), (confirmation.noticeId, confirmation.originalNoticeId, confirmation.issuedAt));
        var xarf = JsonNode.Parse(confirmation.xarf)!;
        Assert.True((bool)xarf["content_removed"]!);
        Assert.Contains("found removed at 2026-11-02 10:15 UTC", confirmation.text, StringComparison.Ordinal);
        Assert.DoesNotContain(notices, n => n.kind == NoticeKind.REMINDER); // removed within the day: no reminder
        Assert.Single(h.Smtp.Messages, m => m.Message.Subject?.Contains("Removal confirmed", StringComparison.Ordinal) == true);
        var outcome = Assert.Single(h.Watcher.Events<NoticeOutcome>(Topics.NoticeOutcomes).DistinctBy(o => o.eventId));
        Assert.Equal((first, T0 + 135 * M, true), (outcome.noticeId, outcome.removedAt, outcome.withinNorm)); // measured on the first notice
    }
}
