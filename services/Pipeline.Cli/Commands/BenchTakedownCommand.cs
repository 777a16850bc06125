using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pipeline.Contracts;
using Pipeline.Loopback;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.Takedown;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline bench takedown`: notices delivered per second by the delivery stage on the embedded cluster, per channel:
/// --notices TakedownNotices onto notices.issued.v1, each delivered to a listener on 127.0.0.1 (a real SMTP server;
/// a webhook receiver that checks the HMAC signature) and recorded SENT by the stage.
/// Prints figures; never fails on timing.
/// </summary>
public static class BenchTakedownCommand
{
    private const string Secret = "bench-webhook-secret-0123456789";
    private static readonly DateTime T0 = new(2026, 2, 2, 10, 0, 0, DateTimeKind.Utc);

    public sealed record Settings(int Notices);

    public static async Task<int> RunAsync(Settings settings, CancellationToken ct)
    {
        var count = settings.Notices;
        if (count < 1) throw new ArgumentException("--notices must be ≥ 1. Fix: e.g. pipeline bench takedown --notices 2000.");

        await using var runtime = await EmbeddedRuntime.StartAsync(3, ct);
        await using var smtp = new LoopbackSmtpServer();
        await using var webhook = await LoopbackWebhookReceiver.StartAsync(Secret);
        using var clients = PipelineClients.For(runtime, "bench-takedown");
        var builder = BenchHost.Create(runtime, new Dictionary<string, string?>
        {
            ["Takedown:SenderOrganisation"] = "Example Hotline (bench)",
            ["Takedown:SenderContact"] = "notices@hotline.example",
            ["Takedown:SenderDomain"] = "hotline.example",
            ["Takedown:Delivery:Smtp:Host"] = "127.0.0.1",
            ["Takedown:Delivery:Smtp:Port"] = smtp.Port.ToString(CultureInfo.InvariantCulture),
            ["Takedown:Delivery:Smtp:Security"] = "None",
            ["Takedown:Delivery:Webhook:Secret"] = Secret,
            // Each notice on its own: this measures delivery, not the batching window (which would hold every notice
            // for Takedown:Delivery:BatchWindow and send one mail per recipient).
            ["Takedown:Delivery:BatchWindow"] = "00:00:00",
        });
        await using var app = builder.AddNoticeDelivery().Build();
        await app.StartAsync(ct);
        // A delivery counts once the stage recorded it SENT (its outcome goes to notices.deliveries.v1 and the state topic).
        var state = app.Services.GetRequiredService<DeliveryState>().State;
        int Sent() => state.Entries.Count(e => e.Value.status == DeliveryStatus.SENT);

        await clients.Publisher.PublishAsync(Topics.NoticesIssued, "warm-up", Notice(-1, NoticeChannel.EMAIL, "abuse@warmup.example"), ct: ct);
        await WaitAsync(() => Sent() == 1, "the warm-up notice", ct);
        Console.WriteLine($"delivery stage on the embedded cluster (3 brokers); listeners on 127.0.0.1; {count:N0} notices per channel");
        foreach (var channel in new[] { NoticeChannel.EMAIL, NoticeChannel.WEBHOOK })
        {
            var notices = Enumerable.Range(0, count).Select(i => Notice(i, channel,
                channel == NoticeChannel.EMAIL ? $"abuse{i % 50}@bench-host{i % 50}.example" : $"{webhook.BaseUrl}/abuse/bench-host{i % 50}")).ToList();
            var before = Sent();
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(notices.Select(n => clients.Publisher.PublishAsync(Topics.NoticesIssued, n.caseKey, n, ct: ct)));
            await WaitAsync(() => Sent() == before + count, $"{count} {channel} deliveries", ct);
            sw.Stop();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {channel,-7}: {count:N0} notices delivered and recorded SENT in {sw.Elapsed.TotalSeconds:0.00} s = {count / sw.Elapsed.TotalSeconds:N0} notices/s"));
        }
        Console.WriteLine($"  received: {smtp.Messages.Count:N0} e-mails, {webhook.Requests.Count:N0} webhook requests ({webhook.Requests.Count(r => !r.SignatureValid)} with a bad signature)");
        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    private static async Task WaitAsync(Func<bool> done, string what, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (!done())
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(10)) throw new TimeoutException($"not all of {what} were delivered in 10 minutes.");
            await Task.Delay(10, ct);
        }
    }

    private static TakedownNotice Notice(int i, NoticeChannel channel, string address)
    {
        var url = $"https://files.bench-host{Math.Abs(i % 50)}.example/m/{channel}-{i}.jpg";
        var noticeId = NoticeComposer.NoticeId(url, 0, 0);
        return new TakedownNotice
        {
            eventId = EventIds.Derive("notice-issued", noticeId),
            noticeId = noticeId,
            caseKey = url,
            sequence = 0,
            kind = NoticeKind.FIRST,
            recipient = new NoticeRecipient { role = RecipientRole.HOSTER, name = "Bench hoster", address = address, channel = channel, foundVia = "directory" },
            hosterId = "bench-host" + Math.Abs(i % 50),
            hosterName = "Bench hoster",
            url = url,
            ips = ["192.0.2." + (1 + Math.Abs(i % 250))],
            asn = 64500,
            country = "NL",
            hashes = new ContentHashes { sha256 = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) },
            classification = Pipeline.Contracts.Classification.BASELINE,
            detectionMethod = "hash_match",
            reportIds = [$"bench-{i}"],
            deadline = T0.AddHours(24),
            policeHold = false,
            timeline = new Timeline { receivedAt = T0.AddMinutes(-30), noticeSentAt = T0 },
            xarf = $$"""{"xarf_version":"4.0.0","report_id":"{{noticeId}}","category":"content","type":"csam","url":"{{url}}"}""",
            text = $"Notice {noticeId}\nPlease remove {url}.\n",
            issuedAt = T0,
        };
    }
}
