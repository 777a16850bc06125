using System.Diagnostics;
using Pipeline.Contracts;
using Xunit.Abstractions;

namespace Pipeline.Takedown.Tests;

/// <summary>Prints notices delivered per second per channel (Kafka in, loopback server out, outcome acknowledged on
/// notices.deliveries.v1). A figure, never an assertion on timing. Run with
/// <c>dotnet test tests/Pipeline.Takedown.Tests --filter Throughput --logger "console;verbosity=detailed"</c>.</summary>
public class ThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Throughput_of_email_and_webhook_delivery_is_printed()
    {
        const int count = 200;
        await using var h = await DeliveryHarness.StartAsync();
        await h.StartHostAsync();
        await h.PublishAsync([DeliveryHarness.Notice("warmup", 0, NoticeChannel.EMAIL, "abuse@warmup.example")]);
        await DeliveryHarness.Eventually(() => h.Final().Count == 1, TimeSpan.FromSeconds(30), () => "warm-up notice delivered");
        foreach (var channel in new[] { NoticeChannel.EMAIL, NoticeChannel.WEBHOOK })
        {
            var notices = Enumerable.Range(0, count).Select(i => DeliveryHarness.Notice("bench", i, channel,
                channel == NoticeChannel.EMAIL ? $"abuse{i}@bench.example" : $"{h.Webhook.BaseUrl}/abuse/bench")).ToList();
            var before = h.Final().Count;
            var sw = Stopwatch.StartNew();
            await h.PublishAsync(notices);
            await DeliveryHarness.Eventually(() => h.Final().Count == before + count, TimeSpan.FromSeconds(60), () => $"{h.Final().Count - before} of {count}");
            sw.Stop();
            var line = $"takedown delivery {channel}: {count} notices in {sw.Elapsed.TotalSeconds:0.00} s = {count / sw.Elapsed.TotalSeconds:0} notices/s (one stage, embedded Kafka, loopback server)";
            output.WriteLine(line);
            Console.WriteLine(line);
            Assert.All(notices, n => Assert.Equal(DeliveryStatus.SENT, Assert.Single(h.DeliveriesOf(n.noticeId)).status));
        }
        Assert.Equal(count + 1, h.Smtp.Messages.Count);
        Assert.Equal(count, h.Webhook.Tickets.Count);
    }
}
