using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.TestSupport;

namespace Pipeline.Takedown.Tests;

/// <summary>"A TakedownNotice per URL, grouped per hoster within a short window": notices for one recipient within
/// Takedown:Delivery:BatchWindow go out as one mail or one webhook POST, once, through a replay of every notice.</summary>
public class GroupingTests
{
    private static readonly DateTime T0 = new(2026, 2, 2, 10, 0, 0, DateTimeKind.Utc); // DeliveryHarness.Notice's issuedAt
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task Notices_for_one_recipient_within_the_window_go_out_as_one_mail_or_post_listing_every_url_and_only_once()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var clock = new FakeTimeProvider(new DateTimeOffset(T0));
        var window = new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:02:00" };
        var host = await h.StartHostAsync(window, time: clock);
        using var batches = new TopicWatcher(h.Runtime.BootstrapServers, h.Runtime.SchemaRegistryUrl, Topics.TakedownBatches);
        int Waiting() => batches.Events<NoticeDelivery>(Topics.TakedownBatches, d => d.status == DeliveryStatus.RETRYING && d.attempt == 0).Count;

        var grouped = Enumerable.Range(0, 3).Select(i => DeliveryHarness.Notice("grouphost", i, NoticeChannel.EMAIL, "abuse@grouphost.example")).ToList();
        var alone = DeliveryHarness.Notice("lonehost", 0, NoticeChannel.EMAIL, "abuse@lonehost.example");
        var hooks = Enumerable.Range(0, 2).Select(i => DeliveryHarness.Notice("hookhost", i, NoticeChannel.WEBHOOK, $"{h.Webhook.BaseUrl}/abuse/hookhost")).ToList();
        await h.PublishAsync([.. grouped, alone, .. hooks]);
        await DeliveryHarness.Eventually(() => Waiting() == 6, Wait, () => $"{Waiting()} of 6 notices waiting in batches");

        // One more for the same desk a minute later (the address in another case): it joins the open batch.
        clock.Advance(TimeSpan.FromMinutes(1));
        var joiner = DeliveryHarness.Notice("grouphost", 3, NoticeChannel.EMAIL, "Abuse@GroupHost.example");
        await h.PublishAsync([joiner]);
        await DeliveryHarness.Eventually(() => Waiting() == 7, Wait, () => $"{Waiting()} of 7 notices waiting");
        Assert.Empty(h.Smtp.Messages);
        Assert.Empty(h.Webhook.Requests);

        clock.Advance(TimeSpan.FromMinutes(1)); // the batches opened at T0 close at T0 + 2 min
        await DeliveryHarness.Eventually(() => h.Final().Count == 7, Wait, () => $"{h.Final().Count} of 7 delivered");
        Assert.Equal(2, h.Smtp.Messages.Count);
        var members = grouped.Append(joiner).ToList();
        // The batch's id was fixed when it opened and is in every member's delivery record.
        var batchId = Assert.Single(members.Select(n => Assert.Single(h.DeliveriesOf(n.noticeId)).batchId).Distinct())!;
        var mail = Assert.Single(h.Smtp.Messages, m => string.Equals(m.To.Single(), "abuse@grouphost.example", StringComparison.OrdinalIgnoreCase)).Message; // the lead member's spelling
        Assert.Equal($"batch-{batchId}@hotline.example", mail.MessageId);
        Assert.Equal(batchId, mail.Headers["X-Notice-Batch-Id"]);
        Assert.Equal(members.Select(n => n.noticeId).Order(StringComparer.Ordinal), mail.Headers["X-Notice-Ids"]!.Split(", ").Order(StringComparer.Ordinal));
        Assert.StartsWith($"[Example Hotline (test)] Takedown notices (4 URLs) batch {batchId}: files.grouphost.example", mail.Subject, StringComparison.Ordinal);
        var attachments = mail.Attachments.OfType<MimePart>().ToList();
        Assert.Equal(4, attachments.Count);
        foreach (var n in members)
        {
            Assert.Contains(n.url, mail.TextBody, StringComparison.Ordinal);
            Assert.Contains($"notice {n.noticeId} ---", mail.TextBody, StringComparison.Ordinal);
            var part = Assert.Single(attachments, a => a.FileName == $"report-{n.noticeId}.json");
            using var json = new MemoryStream();
            await part.Content!.DecodeToAsync(json);
            Assert.Equal(n.xarf, Encoding.UTF8.GetString(json.ToArray()));
            var delivery = Assert.Single(h.DeliveriesOf(n.noticeId));
            Assert.Equal(DeliveryStatus.SENT, delivery.status);
            Assert.Equal(T0.AddMinutes(2), delivery.at);
            Assert.StartsWith($"batch {batchId} of 4 notices: SMTP", delivery.detail, StringComparison.Ordinal);
        }
        // A batch of one is the plain notice.
        var single = Assert.Single(h.Smtp.Messages, m => m.To.Single() == "abuse@lonehost.example").Message;
        Assert.Equal($"notice-{alone.noticeId}@hotline.example", single.MessageId);
        Assert.Equal(alone.text.ReplaceLineEndings(), single.TextBody?.ReplaceLineEndings());
        // The webhook batch: one signed POST with both reports, keyed by the batch id.
        var post = Assert.Single(h.Webhook.Requests);
        var hookBatch = Assert.Single(hooks.Select(n => Assert.Single(h.DeliveriesOf(n.noticeId)).batchId).Distinct())!;
        Assert.NotEqual(batchId, hookBatch);
        Assert.True(post.SignatureValid);
        Assert.Equal(hookBatch, post.IdempotencyKey);
        Assert.Equal(hookBatch, post.BatchId);
        Assert.IsType<JsonArray>(JsonNode.Parse(post.Body)); // a list of X-ARF documents, no envelope
        Assert.Equal(hooks.Select(n => n.noticeId).Order(StringComparer.Ordinal), post.Reports().Select(r => (string?)r["report_id"]).Order(StringComparer.Ordinal));

        // After the window: the next notice for the same desk opens a new batch (sent alone, two minutes later).
        var next = DeliveryHarness.Notice("grouphost", 4, NoticeChannel.EMAIL, "abuse@grouphost.example");
        await h.PublishAsync([next]);
        await DeliveryHarness.Eventually(() => Waiting() == 8, Wait, () => "the next notice waiting");
        clock.Advance(TimeSpan.FromMinutes(2));
        await DeliveryHarness.Eventually(() => h.Smtp.Messages.Count == 3 && h.Final().Count == 8, Wait, () => $"{h.Smtp.Messages.Count} of 3 mails");
        Assert.Equal(T0.AddMinutes(4), Assert.Single(h.DeliveriesOf(next.noticeId)).at);

        // A restart that re-reads every notice sends nothing again and changes no batch: each notice has its two state
        // records (waiting, sent) and no third.
        int StateRecords() => batches.Deliveries(Topics.TakedownBatches).Count;
        await DeliveryHarness.Eventually(() => StateRecords() == 16, Wait, () => $"{StateRecords()} of 16 state records");
        await h.StopHostAsync(host);
        await h.RewindDeliveryGroupAsync();
        await h.StartHostAsync(window, time: clock);
        await h.WaitUntilDeliveryGroupCaughtUpAsync();
        await h.WaitUntilDeliveryGroupCaughtUpAsync(TakedownService.BatchingStage, Topics.TakedownBatching);
        clock.Advance(TimeSpan.FromMinutes(5));
        await h.WaitUntilDeliveryGroupCaughtUpAsync(TakedownService.BatchingStage, Topics.TakedownBatching);
        Assert.Equal(3, h.Smtp.Messages.Count);
        Assert.Single(h.Webhook.Requests);
        Assert.Equal(16, StateRecords());
        foreach (var n in members.Concat(hooks).Append(alone).Append(next)) Assert.Single(h.DeliveriesOf(n.noticeId));
    }

    /// <summary>A crash after a batch went out and before every member's outcome was recorded leaves those members waiting:
    /// they go out again under the batch's id, fixed in their state when the batch closed (a receiver that de-duplicates
    /// by Message-ID / Idempotency-Key sees the batch once), even with one member left — never as a plain notice or
    /// under a new id. The fault run found notices received under two ids when the id was derived from who was left.</summary>
    [Fact]
    public async Task A_batch_re_sent_in_part_after_a_crash_keeps_its_id_even_with_one_member_left()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var clock = new FakeTimeProvider(new DateTimeOffset(T0));
        var window = new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:02:00" };
        var host = await h.StartHostAsync(window, time: clock);
        using var batches = new TopicWatcher(h.Runtime.BootstrapServers, h.Runtime.SchemaRegistryUrl, Topics.TakedownBatches);
        var notices = Enumerable.Range(0, 2).Select(i => DeliveryHarness.Notice("parthost", i, NoticeChannel.WEBHOOK, $"{h.Webhook.BaseUrl}/abuse/parthost")).ToList();
        await h.PublishAsync(notices);
        await DeliveryHarness.Eventually(() => batches.Events<NoticeDelivery>(Topics.TakedownBatches).Count == 2, Wait, () => "both notices waiting");
        clock.Advance(TimeSpan.FromMinutes(2));
        await DeliveryHarness.Eventually(() => h.Final().Count == 2, Wait, () => $"{h.Final().Count} of 2 delivered");
        var first = Assert.Single(h.Webhook.Requests);
        Assert.All(notices, n => Assert.Equal(first.IdempotencyKey, Assert.Single(h.DeliveriesOf(n.noticeId)).batchId));

        // The second member's state before the close (waiting, with the batch's id) comes back, as if the crash had lost
        // its outcome; the first member's outcome stands.
        var closed = batches.Deliveries(Topics.TakedownBatches)
            .Single(s => s.Key == notices[1].noticeId && s.Value is NoticeDelivery { status: DeliveryStatus.RETRYING, batchId: not null });
        Assert.Equal(first.IdempotencyKey, ((NoticeDelivery)closed.Value).batchId);
        await h.StopHostAsync(host);
        await h.Publisher.PublishAsync(Topics.TakedownBatches, closed.Key!, (NoticeDelivery)closed.Value, closed.Partition);
        await h.StartHostAsync(window, time: clock);

        await DeliveryHarness.Eventually(() => h.Webhook.Requests.Count == 2, Wait, () => "the rest of the batch re-sent");
        var again = h.Webhook.Requests.Last();
        Assert.True(again.SignatureValid);
        Assert.Equal(first.IdempotencyKey, again.IdempotencyKey);
        Assert.Equal(first.IdempotencyKey, again.BatchId);
        Assert.Equal([notices[1].noticeId], again.Reports().Select(r => (string?)r["report_id"]));
    }

    [Fact]
    public async Task A_full_batch_closes_at_its_time_and_the_next_notice_for_the_desk_opens_another()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var clock = new FakeTimeProvider(new DateTimeOffset(T0));
        await h.StartHostAsync(new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:02:00", ["Takedown:Delivery:MaxBatchSize"] = "2" }, time: clock);
        using var batches = new TopicWatcher(h.Runtime.BootstrapServers, h.Runtime.SchemaRegistryUrl, Topics.TakedownBatches);
        int Waiting() => batches.Events<NoticeDelivery>(Topics.TakedownBatches, d => d.status == DeliveryStatus.RETRYING && d.attempt == 0).Count;

        var notices = Enumerable.Range(0, 5).Select(i => DeliveryHarness.Notice("fullhost", i, NoticeChannel.EMAIL, "abuse@fullhost.example")).ToList();
        await h.PublishAsync(notices);
        await DeliveryHarness.Eventually(() => Waiting() == 5, Wait, () => $"{Waiting()} of 5 notices waiting in batches");
        clock.Advance(TimeSpan.FromMinutes(2).Add(TimeSpan.FromSeconds(1)));
        await DeliveryHarness.Eventually(() => h.Final().Count == 5, Wait, () => $"{h.Final().Count} of 5 delivered");

        // Three mails of at most two notices, each notice in exactly one of them, each sent at its batch's close.
        var mails = h.Smtp.Messages.Select(m => m.Message.Headers["X-Notice-Ids"]?.Split(", ") ?? [m.Message.Headers["X-Notice-Id"]!]).ToList();
        Assert.Equal([1, 2, 2], mails.Select(ids => ids.Length).Order());
        Assert.Equal(notices.Select(n => n.noticeId).Order(StringComparer.Ordinal), mails.SelectMany(ids => ids).Order(StringComparer.Ordinal));
        Assert.All(notices, n => Assert.Equal(DeliveryStatus.SENT, Assert.Single(h.DeliveriesOf(n.noticeId)).status));
    }
}
