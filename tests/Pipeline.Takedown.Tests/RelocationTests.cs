using System.Globalization;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Geolocation.Simulation;
using Pipeline.Platform;
using Pipeline.Routing;
using Pipeline.Sla;
using Pipeline.TestSupport;

namespace Pipeline.Takedown.Tests;

/// <summary>
/// The re-lookup just before a notice leaves, and the re-route of a moved case (issue 12, "stale hoster"), end to end on
/// the embedded cluster: routing, takedown and its delivery in one host on a test clock, the production re-lookup
/// (section Geolocation: a loopback DNS server, the hoster directory, a loopback RDAP server for the abuse contacts), a
/// real SMTP server on loopback. A host whose DNS answer changes between routing and sending is routed again.
/// </summary>
public sealed class RelocationTests : IAsyncDisposable
{
    private static readonly DateTime T0 = TakedownFlow.T0;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    // Hoster A and B at home (NL), hoster C abroad (DE, partner hotline de-hotline); documentation addresses only.
    private const string AddressA = "198.51.100.10";
    private const string AddressB = "198.51.100.80";
    private const string AddressC = "203.0.113.10";

    private readonly FakeTimeProvider clock = new(new DateTimeOffset(T0));
    private DeliveryHarness h = null!;
    private LoopbackDnsServer dns = null!;
    private LoopbackRdapServer rdap = null!;
    private TopicWatcher watch = null!;

    private async Task<WebApplication> StartAsync()
    {
        h ??= await DeliveryHarness.StartAsync();
        if (dns is null)
        {
            dns = new LoopbackDnsServer();
            rdap = await LoopbackRdapServer.StartAsync();
            rdap.Add("198.51.100.0/26", "NET-A", "HOSTER-A", "NL", "abuse@hoster-a.example");
            rdap.Add("198.51.100.64/26", "NET-B", "HOSTER-B", "NL", "abuse@hoster-b.example");
            rdap.Add("203.0.113.0/26", "NET-C", "HOSTER-C", "DE", "abuse@hoster-c.example");
            watch = new TopicWatcher(h.Runtime.BootstrapServers, h.Runtime.SchemaRegistryUrl,
                Topics.NoticesIssued, Topics.ReportsRelocated, Topics.TakedownRequested, Topics.ExchangeOutbound);
        }
        var settings = new Dictionary<string, string?>
        {
            ["Routing:HomeCountry"] = "NL",
            ["Routing:HomeHotline"] = "nl-hotline",
            ["Routing:Partners:DE"] = "de-hotline",
            ["Takedown:Reminders:Interval"] = "1.00:00:00",
            ["Takedown:Reminders:MaxCount"] = "3",
            ["Geolocation:Dns:NameServers:0"] = dns.Address,
            ["Geolocation:Dns:TimeoutMs"] = "1000",
            ["Geolocation:Rdap:Registries:0:Prefix"] = "198.51.100.0/24",
            ["Geolocation:Rdap:Registries:0:BaseUrl"] = rdap.BaseUrl,
            ["Geolocation:Rdap:Registries:1:Prefix"] = "203.0.113.0/24",
            ["Geolocation:Rdap:Registries:1:BaseUrl"] = rdap.BaseUrl,
            ["Geolocation:Rdap:TrustContacts"] = "true",
        };
        var i = 0;
        foreach (var (prefix, id, country) in new[] { ("198.51.100.0/26", "hoster-a", "NL"), ("198.51.100.64/26", "hoster-b", "NL"), ("203.0.113.0/26", "hoster-c", "DE") })
        {
            var p = $"Geolocation:Networks:{i++}:";
            settings[p + "Prefix"] = prefix;
            settings[p + "Asn"] = (64496 + i).ToString(CultureInfo.InvariantCulture);
            settings[p + "AsOrganisation"] = $"{id} (example)";
            settings[p + "Country"] = country;
            settings[p + "HosterId"] = id;
            settings[p + "HosterName"] = "Hoster " + id;
            settings[p + "AbusePrecedence"] = "Fallback"; // RDAP names the abuse desk
        }
        return await h.StartHostAsync(settings, b => b.AddRouting().AddTakedown().AddNoticeDelivery().AddSla(), clock);
    }

    public async ValueTask DisposeAsync()
    {
        watch?.Dispose();
        if (rdap is not null) await rdap.DisposeAsync();
        if (dns is not null) await dns.DisposeAsync();
        if (h is not null) await h.DisposeAsync();
    }

    /// <summary>A known report hosted at hoster A (routing-time data), its host answering <paramref name="address"/> in DNS.</summary>
    private ReportClassified Classified(string name, string address)
    {
        var r = TakedownFlow.Requested(name, $"abuse@{name}.example");
        var host = new Uri(r.caseKey).Host;
        dns.A(host, address, ttl: 3600);
        r.report.reporterContact = new ReporterContact { name = "A. Reporter", email = "reporter@public.example", phone = null };
        r.hosting.ips = [AddressA];
        r.hosting.hosterId = "hoster-a";
        r.hosting.hosterName = "Hoster hoster-a";
        r.hosting.abuseContact = new AbuseContact { address = "abuse@hoster-a.example", channel = NoticeChannel.EMAIL, foundVia = "rdap:test", approved = true };
        return new ReportClassified
        {
            eventId = EventIds.Derive("classified", r.caseKey), caseKey = r.caseKey, report = r.report, caseInfo = r.caseInfo, hosting = r.hosting,
            verdict = Verdict.KNOWN, matches = r.matches, assessment = null, classifiedAt = T0.AddMinutes(-1),
        };
    }

    private List<MimeKit.MimeMessage> MailsTo(string address) =>
        h.Smtp.Messages.Where(m => m.To.Single() == address).Select(m => m.Message).ToList();

    private List<NoticeDelivery> Moved(string caseKey) =>
        h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.caseKey == caseKey && d.status == DeliveryStatus.MOVED);

    private List<TakedownNotice> Notices(string caseKey) => watch.Events<TakedownNotice>(Topics.NoticesIssued, n => n.caseKey == caseKey);

    private Task Until(Func<bool> condition, Func<string> what) => Polling.Until(condition, Wait, what);

    [Fact]
    public async Task A_host_that_moved_before_the_first_notice_gets_nothing_and_its_new_hoster_a_notice_of_its_own_once_across_a_restart()
    {
        var app = await StartAsync();
        await watch.Assigned;
        var c = Classified("move-first", AddressB); // routed on hoster A, but DNS already answers hoster B's address
        await h.Publisher.PublishAsync(Topics.ReportsClassified, c.caseKey, c);

        await Until(() => MailsTo("abuse@hoster-b.example").Count == 1 && Moved(c.caseKey).Count == 1 && Notices(c.caseKey).Count == 2
                && watch.Events<ReportClassified>(Topics.ReportsRelocated, r => r.caseKey == c.caseKey).Count == 1,
            () => $"{Moved(c.caseKey).Count} MOVED, {MailsTo("abuse@hoster-b.example").Count} mails to hoster B, {Notices(c.caseKey).Count} notices");
        var moved = Assert.Single(Moved(c.caseKey));
        Assert.Equal("hoster-a", moved.hosterId);
        Assert.Equal("hoster-b", moved.movedTo?.hosterId);
        Assert.Equal("NL", moved.movedTo?.country);
        Assert.Empty(MailsTo("abuse@hoster-a.example"));
        var relocated = Assert.Single(watch.Events<ReportClassified>(Topics.ReportsRelocated, r => r.caseKey == c.caseKey));
        Assert.Equal(1, relocated.routeGeneration);
        Assert.Equal(AddressB, Assert.Single(relocated.hosting.ips));

        var notices = Notices(c.caseKey);
        var old = Assert.Single(notices, n => n.routeGeneration == 0);
        var fresh = Assert.Single(notices, n => n.routeGeneration == 1);
        Assert.NotEqual(old.noticeId, fresh.noticeId);
        Assert.Equal(moved.noticeId, old.noticeId);
        Assert.Equal("hoster-b", fresh.hosterId);
        Assert.Equal("abuse@hoster-b.example", fresh.recipient.address);
        Assert.Equal(fresh.noticeId, MailsTo("abuse@hoster-b.example").Single().Headers["X-Notice-Id"]);
        Assert.StartsWith("moved(route 1):", watch.Events<TakedownRequested>(Topics.TakedownRequested, r => r.caseKey == c.caseKey && r.routeGeneration == 1).Single().rule, StringComparison.Ordinal);

        // A crash before anything was committed: every stage reads its inputs again from the start. Nothing is sent or
        // routed twice: the delivery state knows both notices, the spent route ignores the old request and the MOVED record.
        await h.StopHostAsync(app);
        await Rewind(RoutingService.Stage, Topics.ReportsClassified, Topics.ReportsRelocated);
        await Rewind(TakedownService.Stage, Topics.TakedownRequested, Topics.NoticeDeliveries);
        await Rewind(TakedownService.DeliveryStage, Topics.NoticesIssued);
        app = await StartAsync();
        await h.WaitUntilDeliveryGroupCaughtUpAsync(TakedownService.Stage, Topics.NoticeDeliveries);
        await h.WaitUntilDeliveryGroupCaughtUpAsync();
        await h.StopAndReadToEndAsync(app, Wait);
        await watch.ReadToEndAsync(Wait, Topics.ReportsRelocated, Topics.NoticesIssued);
        Assert.Single(MailsTo("abuse@hoster-b.example"));
        Assert.Empty(MailsTo("abuse@hoster-a.example"));
        Assert.Single(h.DeliveriesOf(old.noticeId)); // the MOVED record, once (records, not distinct ids)
        Assert.Single(h.DeliveriesOf(fresh.noticeId), d => d.status == DeliveryStatus.SENT);
        Assert.Single(watch.Events<ReportClassified>(Topics.ReportsRelocated, r => r.caseKey == c.caseKey));
        Assert.Equal(2, Notices(c.caseKey).Select(n => n.noticeId).Distinct().Count());
    }

    [Fact]
    public async Task A_host_that_moves_to_another_hoster_at_home_before_a_reminder_stops_the_old_reminders_and_notices_the_new_hoster()
    {
        _ = await StartAsync();
        await watch.Assigned;
        var c = Classified("move-reminder", AddressA);
        await h.Publisher.PublishAsync(Topics.ReportsClassified, c.caseKey, c);
        await Until(() => MailsTo("abuse@hoster-a.example").Count == 1 && Notices(c.caseKey).Count == 1, () => "the first notice to hoster A");
        var first = Assert.Single(Notices(c.caseKey));

        dns.Clear(new Uri(c.caseKey).Host);
        dns.A(new Uri(c.caseKey).Host, AddressB, ttl: 3600); // the geolocation cache would still say A for an hour
        clock.Advance(TimeSpan.FromDays(1)); // the first reminder falls due
        await Until(() => MailsTo("abuse@hoster-b.example").Count == 1 && Moved(c.caseKey).Count == 1 && Notices(c.caseKey).Count == 3,
            () => $"{Moved(c.caseKey).Count} MOVED, {MailsTo("abuse@hoster-b.example").Count} mails to hoster B, {Notices(c.caseKey).Count} notices");
        var moved = Assert.Single(Moved(c.caseKey));
        var reminder = Assert.Single(Notices(c.caseKey), n => n.kind == NoticeKind.REMINDER);
        Assert.Equal(reminder.noticeId, moved.noticeId);
        Assert.Equal(first.noticeId, moved.notice?.originalNoticeId);
        Assert.Single(MailsTo("abuse@hoster-a.example")); // the first notice only: the reminder was not sent
        var fresh = Assert.Single(Notices(c.caseKey), n => n.routeGeneration == 1);
        Assert.Equal(NoticeKind.FIRST, fresh.kind);
        Assert.Equal("hoster-b", fresh.hosterId);

        // The old route's reminders stopped; the new route's own run from its first notice.
        clock.Advance(TimeSpan.FromDays(1));
        await Until(() => Notices(c.caseKey).Any(n => n.kind == NoticeKind.REMINDER && n.routeGeneration == 1),
            () => "the new route's first reminder");
        Assert.Single(Notices(c.caseKey), n => n.kind == NoticeKind.REMINDER && n.routeGeneration == 0);
        Assert.Single(MailsTo("abuse@hoster-a.example"));
    }

    [Fact]
    public async Task A_host_that_moved_abroad_is_forwarded_to_the_partner_hotline_without_the_reporter_and_nothing_is_sent()
    {
        var app = await StartAsync();
        await watch.Assigned;
        var c = Classified("move-abroad", AddressC);
        await h.Publisher.PublishAsync(Topics.ReportsClassified, c.caseKey, c);
        await Until(() => watch.Events<ReportForwarded>(Topics.ExchangeOutbound, f => f.caseKey == c.caseKey).Count == 1 && Moved(c.caseKey).Count == 1,
            () => "the forward to the partner hotline");
        var forward = Assert.Single(watch.Events<ReportForwarded>(Topics.ExchangeOutbound, f => f.caseKey == c.caseKey));
        Assert.Equal("de-hotline", forward.partnerHotline);
        Assert.Equal("DE", forward.partnerCountry);
        Assert.Null(forward.report.reporterContact);
        Assert.Equal("hoster-c", forward.hosting.hosterId);
        Assert.StartsWith("moved(route 1):", forward.rule, StringComparison.Ordinal);
        var moved = Assert.Single(Moved(c.caseKey));
        Assert.Equal("DE", moved.movedTo?.country);
        Assert.Empty(MailsTo("abuse@hoster-a.example"));
        Assert.Empty(MailsTo("abuse@hoster-c.example"));
        Assert.DoesNotContain(Notices(c.caseKey), n => n.routeGeneration > 0);

        // sla closed the moved notice unmeasured: no open entry is left for it (deleted, or closed ahead when the MOVED
        // record was read before the notice), so no deadline breach or escalation follows for the old hoster.
        await h.WaitUntilDeliveryGroupCaughtUpAsync(SlaService.Stage, Topics.NoticeDeliveries);
        await h.WaitUntilDeliveryGroupCaughtUpAsync(SlaService.Stage, Topics.NoticesIssued);
        var sla = (SlaState)app.Services.GetService(typeof(SlaState))!;
        Assert.False(sla.Open.TryFind(c.caseKey, out var open, out _) && open.timeline.removalObservedAt is null,
            "the moved notice is still open in sla (its deadline timer would breach and escalate the old hoster)");
    }

    [Fact]
    public async Task A_topic_channel_notice_whose_host_moved_is_not_published_and_the_case_is_routed_to_the_new_hoster()
    {
        _ = await StartAsync();
        await watch.Assigned;
        var c = Classified("move-topic", AddressB);
        c.hosting.abuseContact = new AbuseContact { address = "abuse.hoster-a.v1", channel = NoticeChannel.TOPIC, foundVia = "networks:table", approved = true };
        await h.Publisher.PublishAsync(Topics.ReportsClassified, c.caseKey, c);

        await Until(() => MailsTo("abuse@hoster-b.example").Count == 1 && Moved(c.caseKey).Count == 1 && Notices(c.caseKey).Count == 2
                && watch.Events<ReportClassified>(Topics.ReportsRelocated, r => r.caseKey == c.caseKey).Count == 1,
            () => $"{Moved(c.caseKey).Count} MOVED, {MailsTo("abuse@hoster-b.example").Count} mails to hoster B, {Notices(c.caseKey).Count} notices");
        var old = Assert.Single(Notices(c.caseKey), n => n.routeGeneration == 0);
        Assert.Equal(NoticeChannel.TOPIC, old.recipient.channel);
        var moved = Assert.Single(h.DeliveriesOf(old.noticeId)); // MOVED, and no SENT record: the topic recipient never sees it
        Assert.Equal(DeliveryStatus.MOVED, moved.status);
        Assert.Equal("hoster-b", moved.movedTo?.hosterId);
        var relocated = Assert.Single(watch.Events<ReportClassified>(Topics.ReportsRelocated, r => r.caseKey == c.caseKey));
        Assert.Equal(1, relocated.routeGeneration);
        var fresh = Assert.Single(Notices(c.caseKey), n => n.routeGeneration == 1);
        Assert.Equal("abuse@hoster-b.example", fresh.recipient.address);
    }

    [Fact]
    public async Task A_failed_relookup_sends_on_the_routing_time_hosting_and_says_so()
    {
        _ = await StartAsync();
        await watch.Assigned;
        var c = Classified("dns-down", AddressA);
        dns.ServerFailure[new Uri(c.caseKey).Host] = true; // our resolver answers SERVFAIL for the host when the notice is due
        await h.Publisher.PublishAsync(Topics.ReportsClassified, c.caseKey, c);
        await Until(() => MailsTo("abuse@hoster-a.example").Count == 1 && h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.caseKey == c.caseKey).Count == 1,
            () => "the notice sent to hoster A on the routing-time data");
        var sent = Assert.Single(h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.caseKey == c.caseKey));
        Assert.Equal(DeliveryStatus.SENT, sent.status);
        Assert.EndsWith(NoticeDeliverer.LookupFailedNote, sent.detail, StringComparison.Ordinal);
        Assert.Empty(Moved(c.caseKey));
        Assert.Empty(watch.Events<ReportClassified>(Topics.ReportsRelocated, r => r.caseKey == c.caseKey));
    }

    /// <summary>Sets a stage's committed offsets on its inputs back to the start, as if it had crashed before committing.</summary>
    private async Task Rewind(string group, params string[] topics)
    {
        var assigned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
        {
            BootstrapServers = h.Kafka.BootstrapServers, GroupId = group, EnableAutoCommit = false, SessionTimeoutMs = 3000,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range,
        }).SetPartitionsAssignedHandler((_, _) => assigned.TrySetResult()).Build();
        c.Subscribe(topics);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!assigned.Task.IsCompleted && DateTime.UtcNow < deadline) c.Consume(TimeSpan.FromMilliseconds(100));
        Assert.True(assigned.Task.IsCompleted, $"joined group {group} to rewind it");
        c.Commit(topics.SelectMany(t => Enumerable.Range(0, TopicCatalog.Get(t).Partitions).Select(p => new TopicPartitionOffset(t, p, 0))));
        c.Close();
        await Task.CompletedTask;
    }
}
