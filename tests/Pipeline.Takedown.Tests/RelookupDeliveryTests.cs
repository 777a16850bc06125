using Microsoft.Extensions.DependencyInjection;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown.Tests;

/// <summary>The re-lookup just before sending (issue 12, stale hoster): through Kafka to a real SMTP server on loopback,
/// with a scripted re-lookup answer per host.</summary>
public class RelookupDeliveryTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private sealed class ScriptedRelookup(Func<string, HostingInfo?> answer) : IHostRelookup
    {
        public Task<IReadOnlyDictionary<string, HostingInfo?>> LookupAsync(IReadOnlyCollection<string> hosts, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<string, HostingInfo?>>(hosts.ToDictionary(h => h, answer));
    }

    private static HostingInfo Hosting(string hoster, string country) => new()
    {
        resolved = true, ips = ["198.51.100.7"], asn = 64501, hosterId = hoster, country = country,
        resolvedAt = new DateTime(2026, 12, 5, 0, 0, 0, DateTimeKind.Utc), sources = ["dns"], countries = [country],
    };

    [Fact]
    public async Task A_moved_host_gets_MOVED_and_no_mail_while_unchanged_and_failed_lookups_are_sent()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var moved = DeliveryHarness.Notice("movinghost", 0, NoticeChannel.EMAIL, "abuse@movinghost.example");
        var stays = DeliveryHarness.Notice("stayinghost", 1, NoticeChannel.EMAIL, "abuse@stayinghost.example");
        var dark = DeliveryHarness.Notice("darkhost", 2, NoticeChannel.EMAIL, "abuse@darkhost.example");
        var relookup = new ScriptedRelookup(host =>
            host.Contains("movinghost", StringComparison.Ordinal) ? Hosting("abroadhost", "DE")
            : host.Contains("stayinghost", StringComparison.Ordinal) ? Hosting("stayinghost", "NL")
            : null); // darkhost: DNS down
        await h.StartHostAsync(stages: b =>
        {
            b.Services.AddSingleton(new RelookupGate(relookup));
            return b.AddNoticeDelivery();
        });
        await h.PublishAsync([moved, stays, dark]);

        await DeliveryHarness.Eventually(() => h.Final().Count == 3, Wait, () => $"{h.Final().Count} final deliveries");
        var m = Assert.Single(h.DeliveriesOf(moved.noticeId));
        Assert.Equal(DeliveryStatus.MOVED, m.status);
        Assert.Equal("abroadhost", m.movedTo?.hosterId);
        Assert.Equal("DE", m.movedTo?.country);
        Assert.Equal("movinghost", m.hosterId);
        Assert.DoesNotContain(h.Smtp.Messages, x => x.To.Single() == moved.recipient.address);

        Assert.Equal(DeliveryStatus.SENT, Assert.Single(h.DeliveriesOf(stays.noticeId)).status);
        var sentBlind = Assert.Single(h.DeliveriesOf(dark.noticeId));
        Assert.Equal(DeliveryStatus.SENT, sentBlind.status);
        Assert.Contains("re-lookup before sending failed", sentBlind.detail, StringComparison.Ordinal);
        Assert.Equal(2, h.Smtp.Messages.Count);
    }

    [Fact]
    public async Task A_topic_channel_notice_is_looked_up_again_and_published_only_when_its_host_stayed()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var moved = DeliveryHarness.Notice("topicmover", 0, NoticeChannel.TOPIC, "abuse.topicmover.v1");
        var stays = DeliveryHarness.Notice("topicstayer", 1, NoticeChannel.TOPIC, "abuse.topicstayer.v1");
        var asked = new System.Collections.Concurrent.ConcurrentBag<string>();
        var relookup = new ScriptedRelookup(host =>
        {
            asked.Add(host);
            return host.Contains("topicmover", StringComparison.Ordinal) ? Hosting("abroadhost", "DE") : Hosting("topicstayer", "NL");
        });
        await h.StartHostAsync(stages: b =>
        {
            b.Services.AddSingleton(new RelookupGate(relookup));
            return b.AddNoticeDelivery();
        });
        await h.PublishAsync([moved, stays]);

        await DeliveryHarness.Eventually(() => h.Final().Count == 2, Wait, () => $"{h.Final().Count} of 2 final deliveries");
        Assert.Contains(asked, host => host.Contains("topicmover", StringComparison.Ordinal));
        Assert.Contains(asked, host => host.Contains("topicstayer", StringComparison.Ordinal));
        var m = Assert.Single(h.DeliveriesOf(moved.noticeId));
        Assert.Equal(DeliveryStatus.MOVED, m.status);
        Assert.Equal(NoticeChannel.TOPIC, m.channel);
        Assert.Equal("DE", m.movedTo?.country);
        var published = Assert.Single(h.DeliveriesOf(stays.noticeId));
        Assert.Equal(DeliveryStatus.SENT, published.status);
        Assert.Equal(stays.xarf, published.notice?.xarf); // the SENT record is the publication the recipient reads
        Assert.Contains(Topics.NoticeDeliveries, published.detail, StringComparison.Ordinal);
        Assert.Empty(h.Smtp.Messages);
    }

    [Fact]
    public async Task Each_member_of_a_batch_is_looked_up_again_and_a_moved_one_is_left_out_of_the_mail()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(new DateTime(2026, 2, 2, 10, 0, 0, DateTimeKind.Utc)));
        const string desk = "abuse@shared-desk.example"; // one abuse desk for three hosters' notices: one batch
        var stays = DeliveryHarness.Notice("staysa", 0, NoticeChannel.EMAIL, desk);
        var moves = DeliveryHarness.Notice("movesb", 1, NoticeChannel.EMAIL, desk);
        var alsoStays = DeliveryHarness.Notice("staysc", 2, NoticeChannel.EMAIL, desk);
        var relookup = new ScriptedRelookup(host =>
            host.Contains("movesb", StringComparison.Ordinal) ? Hosting("abroadhost", "DE")
            : host.Contains("staysa", StringComparison.Ordinal) ? Hosting("staysa", "NL") : Hosting("staysc", "NL"));
        await h.StartHostAsync(new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:02:00" }, b =>
        {
            b.Services.AddSingleton(new RelookupGate(relookup));
            return b.AddNoticeDelivery();
        }, clock);
        using var batches = new Pipeline.TestSupport.TopicWatcher(h.Runtime.BootstrapServers, h.Runtime.SchemaRegistryUrl, Topics.TakedownBatches);
        await h.PublishAsync([stays, moves, alsoStays]);
        await DeliveryHarness.Eventually(() => batches.Events<NoticeDelivery>(Topics.TakedownBatches, d => d.status == DeliveryStatus.RETRYING && d.attempt == 0).Count == 3,
            Wait, () => "the three notices waiting in one batch");
        clock.Advance(TimeSpan.FromMinutes(2)); // the batch closes

        await DeliveryHarness.Eventually(() => h.Final().Count == 3, Wait, () => $"{h.Final().Count} of 3 final deliveries");
        var moved = Assert.Single(h.DeliveriesOf(moves.noticeId));
        Assert.Equal(DeliveryStatus.MOVED, moved.status);
        Assert.Equal("DE", moved.movedTo?.country);
        Assert.Equal(moves.noticeId, moved.notice?.noticeId); // the notice not sent travels with the record
        var mail = Assert.Single(h.Smtp.Messages).Message;
        Assert.Equal(new[] { stays.noticeId, alsoStays.noticeId }.Order(StringComparer.Ordinal), mail.Headers["X-Notice-Ids"]!.Split(", ").Order(StringComparer.Ordinal));
        Assert.DoesNotContain(moves.url, mail.TextBody, StringComparison.Ordinal);
        foreach (var n in new[] { stays, alsoStays })
        {
            var d = Assert.Single(h.DeliveriesOf(n.noticeId));
            Assert.Equal(DeliveryStatus.SENT, d.status);
            Assert.Contains("of 2 notices", d.detail, StringComparison.Ordinal);
        }
    }
}
