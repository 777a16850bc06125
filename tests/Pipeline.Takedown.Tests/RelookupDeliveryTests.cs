using Microsoft.Extensions.DependencyInjection;
using Pipeline.Contracts;

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
}
