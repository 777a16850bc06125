using Confluent.Kafka;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown.Tests;

/// <summary>"A notice is delivered once even when the service crashes and replays."</summary>
public class CrashTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task A_restart_that_re_reads_every_notice_and_a_replay_of_the_same_notices_send_no_second_mail_or_post()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var first = await h.StartHostAsync();
        var mails = Enumerable.Range(0, 20).Select(i => DeliveryHarness.Notice("crashmail", i, NoticeChannel.EMAIL, $"abuse{i}@crashmail.example")).ToList();
        var hooks = Enumerable.Range(0, 20).Select(i => DeliveryHarness.Notice("crashhook", i, NoticeChannel.WEBHOOK, $"{h.Webhook.BaseUrl}/abuse/crashhook")).ToList();
        await h.PublishAsync([.. mails, .. hooks]);
        await DeliveryHarness.Eventually(() => h.Final().Count == 40, Wait, () => $"{h.Final().Count} of 40 delivered");
        await h.StopHostAsync(first);

        // As if the service had crashed before committing any offset: the next member re-reads every notice.
        await h.RewindDeliveryGroupAsync();
        // And upstream replays some notices (same ids) as well.
        await h.PublishAsync(mails.Take(5).Concat(hooks.Take(5)));
        var late = DeliveryHarness.Notice("late", 0, NoticeChannel.EMAIL, "abuse@late.example");
        await h.PublishAsync([late]);

        var second = await h.StartHostAsync();
        await DeliveryHarness.Eventually(() => h.Final().Count == 41, Wait, () => $"{h.Final().Count} of 41 delivered");
        await h.WaitUntilDeliveryGroupCaughtUpAsync();

        Assert.Equal(21, h.Smtp.Messages.Count);
        Assert.Equal(21, h.Smtp.Messages.Select(m => m.Message.MessageId).Distinct().Count());
        Assert.Equal(20, h.Webhook.Requests.Count);
        Assert.Equal(20, h.Webhook.Tickets.Count);
        foreach (var n in mails.Concat(hooks).Append(late))
            Assert.Single(h.DeliveriesOf(n.noticeId));
        await h.StopHostAsync(second);
    }

    [Fact]
    public async Task In_the_window_between_sending_and_recording_a_re_sent_notice_carries_the_same_message_id_and_idempotency_key()
    {
        // The one window the delivery state cannot close: the server accepted the notice, then the process died
        // before Kafka acknowledged the record. The replay sends again; the receiver can recognise it.
        await using var h = await DeliveryHarness.StartAsync();
        var takedown = new TakedownOptions { SenderOrganisation = "Example Hotline", SenderContact = "notices@hotline.example", SenderDomain = "hotline.example" };
        var smtp = new DeliveryOptions.SmtpSettings { Host = "127.0.0.1", Port = h.Smtp.Port, Security = MailKit.Security.SecureSocketOptions.None };
        var mail = DeliveryHarness.Notice("window", 0, NoticeChannel.EMAIL, "abuse@window.example");
        var hook = DeliveryHarness.Notice("window", 1, NoticeChannel.WEBHOOK, $"{h.Webhook.BaseUrl}/abuse/window");
        foreach (var _ in new[] { "before the crash", "after the restart" })
        {
            using var email = new EmailChannel(smtp, takedown);
            Assert.Equal(DeliveryStatus.SENT, (await email.DeliverAsync(mail, CancellationToken.None)).Status);
            using var http = new HttpClient(WebhookChannel.Handler());
            var webhook = new WebhookChannel(http, new DeliveryOptions.WebhookSettings { Secret = DeliveryHarness.WebhookSecret });
            Assert.Equal(DeliveryStatus.SENT, (await webhook.DeliverAsync(hook, CancellationToken.None)).Status);
        }
        Assert.Equal(2, h.Smtp.Messages.Count);
        Assert.Single(h.Smtp.Messages.Select(m => m.Message.MessageId).Distinct());
        Assert.Equal(2, h.Webhook.Requests.Count);
        Assert.Single(h.Webhook.Tickets); // the receiver de-duplicated on Idempotency-Key
    }
}
