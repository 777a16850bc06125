using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Sla;
using Pipeline.TestSupport;

namespace Pipeline.Takedown.Tests;

/// <summary>The takedown stage (notices and reminder timers) with the delivery stage, optionally sla, on a test clock;
/// requests and removals published as routing and recheck would, and the resulting topics watched.</summary>
public sealed class TakedownFlow : IAsyncDisposable
{
    public static readonly DateTime T0 = new(2026, 2, 2, 10, 0, 0, DateTimeKind.Utc);
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(40);

    private readonly bool withSla;
    private readonly IDictionary<string, string?> settings;

    private TakedownFlow(DeliveryHarness harness, bool withSla, IDictionary<string, string?>? settings)
    {
        H = harness;
        this.withSla = withSla;
        this.settings = new Dictionary<string, string?>
        {
            ["Takedown:Reminders:Interval"] = "1.00:00:00",
            ["Takedown:Reminders:MaxCount"] = "3",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) this.settings[k] = v;
        Watch = new TopicWatcher(harness.Runtime.BootstrapServers, harness.Runtime.SchemaRegistryUrl,
            Topics.NoticesIssued, Topics.SlaEvents, Topics.TakedownReminders, Topics.NoticeOutcomes);
    }

    public DeliveryHarness H { get; }
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(T0));
    public TopicWatcher Watch { get; }
    public WebApplication? Host { get; private set; }

    /// <param name="settings">More configuration (or overrides) for the service host.</param>
    public static async Task<TakedownFlow> StartAsync(bool withSla = false, IDictionary<string, string?>? settings = null)
    {
        var flow = new TakedownFlow(await DeliveryHarness.StartAsync(), withSla, settings);
        await flow.StartHostAsync();
        return flow;
    }

    public async Task StartHostAsync() => Host = await H.StartHostAsync(settings, b => withSla ? b.AddTakedown().AddNoticeDelivery().AddSla() : b.AddTakedown().AddNoticeDelivery(), Clock);

    public async Task StopHostAsync()
    {
        await H.StopHostAsync(Host!);
        Host = null;
    }

    /// <summary>Moves the test clock to <paramref name="at"/> (never backwards).</summary>
    public void At(DateTime at) => Clock.Advance(at - Clock.GetUtcNow().UtcDateTime);

    public static TakedownRequested Requested(string hoster, string address, NoticeChannel channel = NoticeChannel.EMAIL,
        DateTime? orderedRemovalBy = null, string? orderReference = null)
    {
        var host = $"img.{hoster}.example";
        var url = $"https://{host}/m/{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}.jpg";
        var sha256 = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        return new TakedownRequested
        {
            eventId = EventIds.Derive("takedown-requested", url),
            caseKey = url,
            report = new Report
            {
                reportId = $"nl-{hoster}-0001", sourceHotline = "nl-hotline", sourceReference = $"REF-{hoster}", externalIds = new Dictionary<string, string>(),
                receivedAt = T0.AddMinutes(-30), reportedAt = null, url = url, parentUrl = null, isSourceUrl = true, contentType = ContentType.IMAGE,
                siteType = SiteType.IMAGE_HOST, commercial = false, hashes = new ContentHashes { sha256 = sha256 }, reporterType = ReporterType.PUBLIC,
                reporterContact = null, assessment = null, hops = [],
            },
            caseInfo = new CaseInfo { normalizedUrl = url, host = host, caseOpenedAt = T0.AddMinutes(-30), reportCount = 1, reupload = false, userinfoRemoved = false },
            hosting = new HostingInfo
            {
                resolved = true, ips = ["198.51.100.20"], asn = 64501, asOrganisation = $"{hoster} B.V. (example)", country = "NL", hosterId = hoster,
                hosterName = $"Hoster {hoster}", abuseContact = new AbuseContact { address = address, channel = channel, foundVia = "hosters:table", approved = true },
                behindCdn = false, originIp = null, resolvedAt = T0.AddMinutes(-20), sources = ["hosters:table"], unresolvedReason = null, countries = ["NL"],
            },
            verdict = Verdict.KNOWN,
            matches = [new HashMatch { bank = "police-nl", algorithm = Pipeline.Contracts.HashAlgorithm.SHA256, value = sha256, distance = 0, category = "A" }],
            assessment = null,
            rule = "home+known→takedown",
            policeHold = false,
            timeline = new Timeline { receivedAt = T0.AddMinutes(-30), referredToPoliceAt = null, noticeSentAt = null, removalObservedAt = null },
            requestedAt = T0.AddMinutes(-1),
            orderedRemovalBy = orderedRemovalBy,
            orderReference = orderReference,
        };
    }

    public Task RequestAsync(params TakedownRequested[] requests) =>
        Task.WhenAll(requests.Select(r => H.Publisher.PublishAsync(Topics.TakedownRequested, r.caseKey, r)));

    /// <summary>Recheck's confirmation: three consecutive misses, the first at <paramref name="offlineSince"/>.</summary>
    public Task RemovedAsync(TakedownNotice first, DateTime offlineSince, DateTime observedAt) =>
        H.Publisher.PublishAsync(Topics.ContentStatus, first.caseKey, new ContentStatusObserved
        {
            eventId = EventIds.Derive("status", first.caseKey, observedAt.ToString("O", CultureInfo.InvariantCulture)),
            caseKey = first.caseKey, noticeId = first.noticeId, url = first.url, status = ContentStatus.REMOVED, httpStatus = 404,
            method = ObservationMethod.RECHECK, consecutiveMisses = 3, hosterId = first.hosterId, observedAt = observedAt,
            offlineSince = offlineSince, removalConfirmed = true,
        });

    /// <summary>One of recheck's checks that does not (yet) confirm a removal: <paramref name="misses"/> consecutive misses
    /// since <paramref name="offlineSince"/>, or with 0 misses the URL online again.</summary>
    public Task CheckedAsync(TakedownNotice first, int misses, DateTime? offlineSince, DateTime observedAt) =>
        H.Publisher.PublishAsync(Topics.ContentStatus, first.caseKey, new ContentStatusObserved
        {
            eventId = EventIds.Derive("status", first.caseKey, observedAt.ToString("O", CultureInfo.InvariantCulture)),
            caseKey = first.caseKey, noticeId = first.noticeId, url = first.url, status = misses > 0 ? ContentStatus.REMOVED : ContentStatus.ONLINE,
            httpStatus = misses > 0 ? 404 : 200, method = ObservationMethod.RECHECK, consecutiveMisses = misses, hosterId = first.hosterId,
            observedAt = observedAt, offlineSince = offlineSince, removalConfirmed = false,
        });

    /// <summary>Distinct notices (by event id) issued for a case, oldest first.</summary>
    public List<TakedownNotice> Notices(string caseKey) =>
        Watch.Events<TakedownNotice>(Topics.NoticesIssued, n => n.caseKey == caseKey).OrderBy(n => n.sequence).ToList();

    public TakedownNotice First(TakedownRequested request) => Notices(request.caseKey).Single(n => n.kind == NoticeKind.FIRST);

    /// <summary>Every record (duplicates included) on notices.issued with this notice id.</summary>
    public int TimesIssued(string noticeId) =>
        Watch.Deliveries(Topics.NoticesIssued).Count(s => ((TakedownNotice)s.Value).noticeId == noticeId);

    public List<SlaEvent> SlaEvents(string caseKey, SlaEventKind kind) =>
        Watch.Events<SlaEvent>(Topics.SlaEvents, e => e.caseKey == caseKey && e.kind == kind);

    /// <summary>Every record (duplicates included) on sla.events with this event id.</summary>
    public int TimesPublished(string eventId) =>
        Watch.Deliveries(Topics.SlaEvents).Count(s => ((SlaEvent)s.Value).eventId == eventId);

    public List<MimeKit.MimeMessage> Mails(string noticeId) =>
        H.Smtp.Messages.Where(m => m.Message.Headers["X-Notice-Id"] == noticeId).Select(m => m.Message).ToList();

    /// <summary>The keys deleted (tombstoned) on a compacted topic so far, read from its beginning.</summary>
    public HashSet<string> Tombstones(string topic)
    {
        using var c = new Confluent.Kafka.ConsumerBuilder<string, byte[]?>(new Confluent.Kafka.ConsumerConfig
        {
            BootstrapServers = H.Kafka.BootstrapServers, GroupId = "tombstones-" + Guid.NewGuid().ToString("N"), EnableAutoCommit = false,
            AutoOffsetReset = Confluent.Kafka.AutoOffsetReset.Earliest, EnablePartitionEof = true,
        }).Build();
        var partitions = TopicCatalog.Get(topic).Partitions;
        c.Assign(Enumerable.Range(0, partitions).Select(p => new Confluent.Kafka.TopicPartitionOffset(topic, p, Confluent.Kafka.Offset.Beginning)));
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var ended = new HashSet<int>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (ended.Count < partitions && DateTime.UtcNow < deadline)
        {
            var r = c.Consume(TimeSpan.FromMilliseconds(100));
            if (r is null) continue;
            if (r.IsPartitionEOF) ended.Add(r.Partition.Value);
            else if (r.Message.Value is null) keys.Add(r.Message.Key);
        }
        return keys;
    }

    public Task Until(Func<bool> condition, Func<string> describe) => DeliveryHarness.Eventually(condition, Wait, describe);

    /// <summary>Advances the clock a minute at a time (the sla stage's deadline check runs once a minute of stage time)
    /// until <paramref name="condition"/> holds; time stepped past the event does not change it (events carry event time).</summary>
    public async Task StepUntil(Func<bool> condition, Func<string> describe, TimeSpan? step = null)
    {
        await Polling.Until(() =>
        {
            if (condition()) return true;
            Clock.Advance(step ?? TimeSpan.FromMinutes(1)); // the stage gets the poll interval to act on each step
            return false;
        }, Wait, describe, TimeSpan.FromMilliseconds(25));
    }

    public async ValueTask DisposeAsync()
    {
        Watch.Dispose();
        await H.DisposeAsync();
    }
}
