using System.Text;
using MimeKit;
using Pipeline.Contracts;
using Pipeline.Loopback;
using Pipeline.Platform;

namespace Pipeline.Takedown.Tests;

/// <summary>Notices through Kafka to a real SMTP server and a real webhook receiver on loopback.</summary>
public class DeliveryTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Email_notice_is_sent_once_with_the_text_as_body_and_the_xarf_json_as_report_json()
    {
        await using var h = await DeliveryHarness.StartAsync();
        await h.StartHostAsync();
        var notices = Enumerable.Range(0, 3).Select(i => DeliveryHarness.Notice("mailhost", i, NoticeChannel.EMAIL, $"abuse{i}@mailhost.example")).ToList();
        await h.PublishAsync(notices);

        await DeliveryHarness.Eventually(() => h.Final().Count == 3, Wait, () => $"{h.Final().Count} final deliveries");
        Assert.Equal(3, h.Smtp.Messages.Count);
        foreach (var n in notices)
        {
            var mail = Assert.Single(h.Smtp.Messages, m => m.To.Single() == n.recipient.address).Message;
            Assert.Equal($"notice-{n.noticeId}@hotline.example", mail.MessageId);
            Assert.Equal(n.noticeId, mail.Headers["X-Notice-Id"]);
            Assert.Equal("notices@hotline.example", mail.From.Mailboxes.Single().Address);
            Assert.Equal(n.text.ReplaceLineEndings(), mail.TextBody?.ReplaceLineEndings());
            var attachment = Assert.Single(mail.Attachments.OfType<MimePart>());
            Assert.Equal("report.json", attachment.FileName);
            Assert.Equal("application/json", attachment.ContentType.MimeType);
            using var json = new MemoryStream();
            await attachment.Content!.DecodeToAsync(json);
            Assert.Equal(n.xarf, Encoding.UTF8.GetString(json.ToArray()));
            // never media: only the text body and the JSON report
            Assert.All(mail.BodyParts.OfType<MimePart>(), p => Assert.Contains(p.ContentType.MimeType, new[] { "text/plain", "application/json" }));

            var delivery = Assert.Single(h.DeliveriesOf(n.noticeId));
            Assert.Equal(DeliveryStatus.SENT, delivery.status);
            Assert.Equal(1, delivery.attempt);
            Assert.Equal(NoticeChannel.EMAIL, delivery.channel);
            Assert.Equal(n.caseKey, delivery.caseKey);
            Assert.Equal("mailhost", delivery.hosterId);
            Assert.Null(delivery.notice);
            Assert.Contains(mail.MessageId!, delivery.detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Webhook_notice_is_posted_signed_with_the_idempotency_key_and_a_topic_notice_is_its_own_delivery()
    {
        await using var h = await DeliveryHarness.StartAsync();
        await h.StartHostAsync();
        var hooks = Enumerable.Range(0, 3).Select(i => DeliveryHarness.Notice("hookhost", i, NoticeChannel.WEBHOOK, $"{h.Webhook.BaseUrl}/abuse/hookhost")).ToList();
        var topic = DeliveryHarness.Notice("topichost", 0, NoticeChannel.TOPIC, "abuse.topichost.v1");
        await h.PublishAsync([.. hooks, topic]);

        await DeliveryHarness.Eventually(() => h.Final().Count == 4, Wait, () => $"{h.Final().Count} final deliveries");
        Assert.Equal(3, h.Webhook.Requests.Count);
        foreach (var n in hooks)
        {
            var request = Assert.Single(h.Webhook.Requests, r => r.IdempotencyKey == n.noticeId);
            Assert.True(request.SignatureValid, "the HMAC over the body verifies with the shared secret");
            Assert.Equal(n.xarf, request.Body);
            Assert.Equal("/abuse/hookhost", request.Path);
            var delivery = Assert.Single(h.DeliveriesOf(n.noticeId));
            Assert.Equal(DeliveryStatus.SENT, delivery.status);
            Assert.StartsWith("HTTP 202", delivery.detail, StringComparison.Ordinal);
        }
        var onTopic = Assert.Single(h.DeliveriesOf(topic.noticeId));
        Assert.Equal(DeliveryStatus.SENT, onTopic.status);
        Assert.Equal(NoticeChannel.TOPIC, onTopic.channel);
        Assert.Contains(Topics.NoticeDeliveries, onTopic.detail, StringComparison.Ordinal);
        Assert.Equal(topic.noticeId, onTopic.notice?.noticeId); // the recipient reads the notice from its SENT record
        Assert.Empty(h.Smtp.Messages);
    }

    [Fact]
    public async Task A_kept_connection_the_server_closed_is_replaced_and_a_drop_while_sending_is_a_recorded_retry()
    {
        await using var h = await DeliveryHarness.StartAsync();
        await h.StartHostAsync();
        var first = DeliveryHarness.Notice("keep", 0, NoticeChannel.EMAIL, "abuse@keep.example");
        await h.PublishAsync([first]);
        await DeliveryHarness.Eventually(() => h.Final().Count == 1, Wait, () => $"{h.Final().Count} final deliveries");
        Assert.Equal(1, h.Smtp.Connections);

        // The relay closed the idle connection: the next notice goes out on a new one, at its first attempt.
        h.Smtp.CloseIdleConnections();
        var second = DeliveryHarness.Notice("idle", 0, NoticeChannel.EMAIL, "abuse@idle.example");
        await h.PublishAsync([second]);
        await DeliveryHarness.Eventually(() => h.Final().Count == 2, Wait, () => $"{h.Final().Count} final deliveries");
        Assert.Equal([(1, DeliveryStatus.SENT)], h.DeliveriesOf(second.noticeId).Select(d => (d.attempt, d.status)));
        Assert.Equal(2, h.Smtp.Connections);

        // On the kept connection the relay drops the line after the message: that attempt is recorded as a retry, and
        // the notice goes out once on the next attempt (never re-sent silently within the same attempt).
        var dropped = 0;
        h.Smtp.Reply = (verb, rcpt) => verb == "DATA" && rcpt == "abuse@cut.example" && Interlocked.Increment(ref dropped) == 1 ? LoopbackSmtpServer.Drop : null;
        var third = DeliveryHarness.Notice("cut", 0, NoticeChannel.EMAIL, "abuse@cut.example");
        await h.PublishAsync([third]);
        await DeliveryHarness.Eventually(() => h.Final().Count == 3, Wait, () => $"{h.Final().Count} final deliveries");
        Assert.Equal([DeliveryStatus.RETRYING, DeliveryStatus.SENT], h.DeliveriesOf(third.noticeId).OrderBy(d => d.attempt).Select(d => d.status));
        Assert.Single(h.Smtp.Messages, m => m.To.Single() == "abuse@cut.example");
    }

    [Fact]
    public async Task Transient_failures_are_retried_with_backoff_and_end_in_exactly_one_delivery()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var greylisted = 0;
        var dropped = 0;
        h.Smtp.Reply = (verb, rcpt) => (verb, rcpt) switch
        {
            ("DATA", "abuse@greylist.example") when Interlocked.Increment(ref greylisted) == 1 => "451 4.7.1 greylisted, try again later",
            ("DATA", "abuse@flaky.example") when Interlocked.Increment(ref dropped) == 1 => LoopbackSmtpServer.Drop,
            _ => null,
        };
        var webhookCalls = 0;
        h.Webhook.Status = _ => Interlocked.Increment(ref webhookCalls) <= 2 ? 503 : 200;
        var app = await h.StartHostAsync();
        var grey = DeliveryHarness.Notice("greylist", 0, NoticeChannel.EMAIL, "abuse@greylist.example");
        var flaky = DeliveryHarness.Notice("flaky", 0, NoticeChannel.EMAIL, "abuse@flaky.example");
        var hook = DeliveryHarness.Notice("busy", 0, NoticeChannel.WEBHOOK, $"{h.Webhook.BaseUrl}/abuse/busy");
        await h.PublishAsync([grey, flaky, hook]);

        await DeliveryHarness.Eventually(() => h.Final().Count == 3, Wait, () => $"{h.Final().Count} final deliveries");
        await h.StopAndReadToEndAsync(app, Wait); // nothing more may follow

        Assert.Equal([DeliveryStatus.RETRYING, DeliveryStatus.SENT], h.DeliveriesOf(grey.noticeId).OrderBy(d => d.attempt).Select(d => d.status));
        Assert.Contains("451", h.DeliveriesOf(grey.noticeId).Single(d => d.attempt == 1).detail, StringComparison.Ordinal);
        Assert.Equal([DeliveryStatus.RETRYING, DeliveryStatus.SENT], h.DeliveriesOf(flaky.noticeId).OrderBy(d => d.attempt).Select(d => d.status));
        Assert.Equal([1, 2, 3], h.DeliveriesOf(hook.noticeId).Select(d => d.attempt).Order());
        Assert.Equal(DeliveryStatus.SENT, h.DeliveriesOf(hook.noticeId).Single(d => d.attempt == 3).status);
        var retry = h.DeliveriesOf(hook.noticeId).Single(d => d.attempt == 1);
        Assert.NotNull(retry.nextAttemptAt);
        Assert.True(retry.nextAttemptAt > retry.at, "the next attempt lies after the failed one");

        Assert.Single(h.Smtp.Messages, m => m.To.Single() == "abuse@greylist.example");
        Assert.Single(h.Smtp.Messages, m => m.To.Single() == "abuse@flaky.example");
        Assert.Equal(3, h.Webhook.Requests.Count(r => r.IdempotencyKey == hook.noticeId));
        Assert.Single(h.Webhook.Tickets);
    }

    [Fact]
    public async Task Permanent_failures_end_as_bounced_or_failed_without_retrying_and_exhausted_retries_end_as_failed()
    {
        await using var h = await DeliveryHarness.StartAsync();
        h.Smtp.Reply = (verb, rcpt) => verb == "RCPT" && rcpt == "nobody@gone.example" ? "550 5.1.1 <nobody@gone.example>: no such user" : null;
        h.Webhook.Status = r => r.Path.EndsWith("/gone", StringComparison.Ordinal) ? 410 : 503;
        var app = await h.StartHostAsync();
        var bounce = DeliveryHarness.Notice("gone", 0, NoticeChannel.EMAIL, "nobody@gone.example");
        var gone = DeliveryHarness.Notice("gonehook", 0, NoticeChannel.WEBHOOK, $"{h.Webhook.BaseUrl}/abuse/gone");
        var down = DeliveryHarness.Notice("down", 0, NoticeChannel.WEBHOOK, $"{h.Webhook.BaseUrl}/abuse/down");
        var nowhere = DeliveryHarness.Notice("nowhere", 0, NoticeChannel.WEBHOOK, "mailto:abuse@nowhere.example");
        await h.PublishAsync([bounce, gone, down, nowhere]);

        await DeliveryHarness.Eventually(() => h.Final().Count == 4, Wait, () => $"{h.Final().Count} final deliveries");
        await h.StopAndReadToEndAsync(app, Wait); // nothing more may follow

        var bounced = Assert.Single(h.DeliveriesOf(bounce.noticeId));
        Assert.Equal(DeliveryStatus.BOUNCED, bounced.status);
        Assert.Contains("550", bounced.detail, StringComparison.Ordinal);
        var failed = Assert.Single(h.DeliveriesOf(gone.noticeId));
        Assert.Equal(DeliveryStatus.FAILED, failed.status);
        Assert.StartsWith("HTTP 410", failed.detail, StringComparison.Ordinal);
        Assert.Equal(DeliveryStatus.FAILED, Assert.Single(h.DeliveriesOf(nowhere.noticeId)).status);

        var exhausted = h.DeliveriesOf(down.noticeId).OrderBy(d => d.attempt).ToList();
        Assert.Equal([1, 2, 3, 4], exhausted.Select(d => d.attempt));
        Assert.Equal([DeliveryStatus.RETRYING, DeliveryStatus.RETRYING, DeliveryStatus.RETRYING, DeliveryStatus.FAILED], exhausted.Select(d => d.status));
        Assert.Contains("gave up after 4 attempts", exhausted[^1].detail, StringComparison.Ordinal);
        // backoff doubles: 200 ms, 400 ms, 800 ms (capped at 1 s)
        Assert.True(exhausted[2].at - exhausted[1].at >= TimeSpan.FromMilliseconds(350), $"{exhausted[2].at - exhausted[1].at}");
        Assert.Equal(4, h.Webhook.Requests.Count(r => r.IdempotencyKey == down.noticeId));
        Assert.Empty(h.Smtp.Messages);
    }

    [Fact]
    public async Task A_hoster_whose_endpoint_is_down_does_not_hold_up_other_hosters_on_the_same_partition()
    {
        await using var h = await DeliveryHarness.StartAsync();
        h.Webhook.Status = r => r.Path.EndsWith("/down", StringComparison.Ordinal) ? 503 : 200;
        await h.StartHostAsync(new Dictionary<string, string?> { ["Takedown:Delivery:InitialBackoff"] = "00:00:05", ["Takedown:Delivery:MaxBackoff"] = "00:00:05" });
        var down = DeliveryHarness.Notice("down", 0, NoticeChannel.WEBHOOK, $"{h.Webhook.BaseUrl}/abuse/down");
        await h.PublishAsync([down], partition: 0);
        var others = Enumerable.Range(0, 5).Select(i => DeliveryHarness.Notice("fine", i, NoticeChannel.EMAIL, $"abuse@fine{i}.example")).ToList();
        await h.PublishAsync(others, partition: 0);

        await DeliveryHarness.Eventually(() => h.Smtp.Messages.Count == 5, TimeSpan.FromSeconds(4), () => $"{h.Smtp.Messages.Count} mails while the other hoster waits for its retry");
        await DeliveryHarness.Eventually(() => h.DeliveriesOf(down.noticeId).Count == 1 && others.All(n => h.DeliveriesOf(n.noticeId).Count == 1),
            TimeSpan.FromSeconds(3), () => "the outcomes are on record");
        Assert.Equal(DeliveryStatus.RETRYING, Assert.Single(h.DeliveriesOf(down.noticeId)).status);
        Assert.All(others, n => Assert.Equal(DeliveryStatus.SENT, Assert.Single(h.DeliveriesOf(n.noticeId)).status));
    }
}
