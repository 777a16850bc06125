using Microsoft.Extensions.DependencyInjection;
using Pipeline.Contracts;
using Pipeline.Loopback;
using Pipeline.Platform;
using Pipeline.Sla;
using Pipeline.Takedown;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>
/// Issue 12, withdrawal: the hash-list entry a notice rested on is retracted (classification reports it on
/// hashes.retractions.v1 for each case it matched). The hoster gets one WITHDRAWAL notice by its channel (a real SMTP
/// server on loopback), however often the retraction is replayed; no reminder follows, the deadline passes without a
/// breach, and the recheck stops checking the URL. A notice withdrawn while it still waits in a delivery batch never
/// leaves, and neither does its withdrawal.
/// </summary>
public class WithdrawalTests
{
    private static readonly TimeSpan M = TimeSpan.FromMinutes(1), H = TimeSpan.FromHours(1);

    [Fact]
    public async Task A_retraction_sends_one_withdrawal_notice_and_stops_reminders_deadline_and_rechecks()
    {
        await using var h = await StartAsync();
        var hoster = new Hosters.Hoster("wd-host", "www.wd-host.example", "198.51.100.73", 64511, NoticeChannel.EMAIL, "abuse@wd-host.example");
        var kept = new Hosters.Hoster("kept-host", "www.kept-host.example", "198.51.100.74", 64496, NoticeChannel.EMAIL, "abuse@kept-host.example");
        var url = hoster.Url("x/1.jpg");
        var other = kept.Url("x/2.jpg");
        await h.StartStagesAsync([hoster.Host, kept.Host], new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:00:00" });
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, url, Hosters.Request(hoster, url, T0 - 10 * M, T0));
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, other, Hosters.Request(kept, other, T0 - 10 * M, T0));
        var first = NoticeComposer.NoticeId(url, 0, 0);
        await Until(() => h.Smtp.Messages.Count == 2 && h.Schedule.Find(first) is not null, TimeSpan.FromSeconds(30), () => "both first notices sent and scheduled");
        await h.RunUntilAsync(T0 + 2 * H, [], () => Task.CompletedTask);

        // The entry is retracted at 2 h: nothing supports the first case's notice any more; the other case still matches
        // another bank's entry.
        HashRetracted Retraction(string caseKey, int remaining) => new()
        {
            eventId = EventIds.Derive("retracted", caseKey, "police-nl"), caseKey = caseKey, reportId = "r-" + caseKey, classifiedEventId = "c-" + caseKey,
            bank = "police-nl", algorithm = Pipeline.Contracts.HashAlgorithm.SHA256, value = new string('a', 64), distance = 0, category = "A",
            remainingMatches = remaining, matchedAt = T0 - 10 * M, retractedAt = h.Now,
        };
        await h.Clients.Publisher.PublishAsync(Topics.HashesRetractions, url, Retraction(url, 0));
        await h.Clients.Publisher.PublishAsync(Topics.HashesRetractions, other, Retraction(other, 1));
        var withdrawalId = EventIds.Derive("withdrawal", first);
        await Until(() => h.Smtp.Messages.Count == 3 && h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued, n => n.kind == NoticeKind.WITHDRAWAL).Count > 0,
            TimeSpan.FromSeconds(30), () => $"the withdrawal issued and sent; mails {h.Smtp.Messages.Count}");
        await h.Clients.Publisher.PublishAsync(Topics.HashesRetractions, url, Retraction(url, 0)); // replayed
        await h.SettleAsync();

        // Three days on: no reminder and no breach for the withdrawn notice; the other case gets both.
        await h.RunUntilAsync(T0 + 3 * 24 * H, [], () => Task.CompletedTask);
        var notices = h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).DistinctBy(n => n.eventId).ToList();
        var withdrawal = Assert.Single(notices, n => n.kind == NoticeKind.WITHDRAWAL);
        Assert.Equal((withdrawalId, first, hoster.Address, T0 + 2 * H), (withdrawal.noticeId, withdrawal.originalNoticeId, withdrawal.recipient.address, withdrawal.issuedAt));
        Assert.Contains($"Withdrawal ({withdrawalId}) of notice {first}", withdrawal.text, StringComparison.Ordinal);
        Assert.DoesNotContain(notices, n => n.kind == NoticeKind.REMINDER && n.caseKey == url);
        Assert.Contains(notices, n => n.kind == NoticeKind.REMINDER && n.caseKey == other);
        var delivered = h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.noticeId == withdrawalId && d.status == DeliveryStatus.SENT).DistinctBy(d => d.eventId);
        Assert.Single(delivered);
        Assert.Single(h.Smtp.Messages, m => m.Message.TextBody?.Contains(withdrawalId, StringComparison.Ordinal) == true); // one mail, however often the retraction came
        var breaches = h.Watcher.Events<SlaEvent>(Topics.SlaEvents, e => e.kind == SlaEventKind.DEADLINE_BREACHED).Select(e => e.caseKey).ToList();
        Assert.DoesNotContain(url, breaches);
        Assert.Contains(other, breaches);
        Assert.Null(h.Schedule.Find(first)); // no longer checked
    }

    /// <summary>The case as classification re-sends it when an analyst reverses the assessment to NOT_ILLEGAL.</summary>
    private static ReportClassified Reversed(TakedownRequested r, DateTime at) => new()
    {
        eventId = EventIds.Derive("classified", r.eventId, "reassessed"), caseKey = r.caseKey, report = r.report, caseInfo = r.caseInfo, hosting = r.hosting,
        verdict = Verdict.NOT_ILLEGAL, matches = r.matches,
        assessment = new Assessment
        {
            classification = Classification.NOT_ILLEGAL, ageGroup = AgeGroup.NOT_DETERMINED, gender = Gender.NOT_DETERMINED,
            isVirtual = false, userGenerated = false, analyst = "analyst-2", assessedAt = at,
        },
        classifiedAt = at,
    };

    [Fact]
    public async Task A_reversed_assessment_withdraws_the_sent_notice_once_and_drops_a_held_one_with_a_review_record()
    {
        await using var h = await StartAsync();
        var sent = new Hosters.Hoster("rv-host", "www.rv-host.example", "198.51.100.75", 64505, NoticeChannel.EMAIL, "abuse@rv-host.example");
        var held = new Hosters.Hoster("rv-held", "www.rv-held.example", "198.51.100.76", 64506, NoticeChannel.EMAIL, "abuse@rv-held.example");
        var url = sent.Url("r/1.jpg");
        var heldUrl = held.Url("r/2.jpg");
        await h.StartStagesAsync([sent.Host, held.Host], new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:00:00" });
        using var reviews = new Pipeline.TestSupport.TopicWatcher(h.Runtime.BootstrapServers, h.Runtime.SchemaRegistryUrl, Topics.ReportsReview);
        await reviews.Assigned.WaitAsync(TimeSpan.FromSeconds(30));
        var request = Hosters.Request(sent, url, T0 - 10 * M, T0);
        var heldRequest = Hosters.Request(held, heldUrl, T0 - 10 * M, T0);
        heldRequest.hosting.abuseContact.approved = false; // found by RDAP, not approved: the notice waits for a person
        heldRequest.hosting.abuseContact.foundVia = "rdap:test";
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, url, request);
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, heldUrl, heldRequest);
        var first = NoticeComposer.NoticeId(url, 0, 0);
        var heldId = NoticeComposer.NoticeId(heldUrl, 0, 0);
        await Until(() => h.Smtp.Messages.Count == 1 && h.Schedule.Find(first) is not null && h.IsHeld(heldId), TimeSpan.FromSeconds(30),
            () => "the first notice sent and scheduled, the other held for approval");
        await h.RunUntilAsync(T0 + 2 * H, [], () => Task.CompletedTask);

        // At 2 h an analyst reverses both cases to NOT_ILLEGAL; the reversal is replayed.
        await h.Clients.Publisher.PublishAsync(Topics.ReportsClassified, url, Reversed(request, h.Now));
        await h.Clients.Publisher.PublishAsync(Topics.ReportsClassified, heldUrl, Reversed(heldRequest, h.Now));
        var withdrawalId = EventIds.Derive("withdrawal", first);
        await Until(() => h.Smtp.Messages.Count == 2 && !h.IsHeld(heldId) && h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued, n => n.kind == NoticeKind.WITHDRAWAL).Count > 0, TimeSpan.FromSeconds(30),
            () => $"the withdrawal sent and the held notice dropped; mails {h.Smtp.Messages.Count}");
        await h.Clients.Publisher.PublishAsync(Topics.ReportsClassified, url, Reversed(request, h.Now));
        await h.Clients.Publisher.PublishAsync(Topics.ReportsClassified, heldUrl, Reversed(heldRequest, h.Now));
        await h.SettleAsync();

        // Three days on: one withdrawal, no reminder, no breach, no more checks; the held notice never left.
        await h.RunUntilAsync(T0 + 3 * 24 * H, [], () => Task.CompletedTask);
        var notices = h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).DistinctBy(n => n.eventId).ToList();
        var withdrawal = Assert.Single(notices, n => n.kind == NoticeKind.WITHDRAWAL);
        Assert.Equal((withdrawalId, first, sent.Address), (withdrawal.noticeId, withdrawal.originalNoticeId, withdrawal.recipient.address));
        Assert.Contains("assessment it rested on was reversed", withdrawal.xarf, StringComparison.Ordinal);
        Assert.Contains("found it not illegal", withdrawal.text, StringComparison.Ordinal);
        Assert.DoesNotContain(notices, n => n.kind == NoticeKind.REMINDER);
        Assert.DoesNotContain(notices, n => n.caseKey == heldUrl);
        Assert.Single(h.Smtp.Messages, m => m.Message.TextBody?.Contains(withdrawalId, StringComparison.Ordinal) == true);
        Assert.DoesNotContain(h.Smtp.Messages, m => m.To.Single() == held.Address);
        await Until(() => reviews.Events<ReviewRequested>(Topics.ReportsReview, r => r.caseKey == heldUrl).Count > 0, TimeSpan.FromSeconds(30), () => "the review record of the dropped notice");
        var review = Assert.Single(reviews.Events<ReviewRequested>(Topics.ReportsReview, r => r.caseKey == heldUrl).DistinctBy(r => r.eventId));
        Assert.Equal("takedown:assessment-reversed→held-notice-dropped", review.rule);
        Assert.Contains(heldId, review.reason, StringComparison.Ordinal);
        Assert.DoesNotContain(h.Watcher.Events<SlaEvent>(Topics.SlaEvents, e => e.kind == SlaEventKind.DEADLINE_BREACHED), e => e.caseKey == url);
        Assert.Null(h.Schedule.Find(first));
    }

    [Fact]
    public async Task A_reversal_inside_the_grouping_window_sends_no_mail_for_the_case_while_the_batch_still_takes_the_other_case()
    {
        await using var h = await StartAsync();
        var hoster = new Hosters.Hoster("un-host", "www.un-host.example", "198.51.100.77", 64507, NoticeChannel.EMAIL, "abuse@un-host.example");
        var url = hoster.Url("u/1.jpg");
        var other = hoster.Url("u/2.jpg");
        var window = 10 * M;
        await h.StartStagesAsync([hoster.Host], new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:10:00" });
        var request = Hosters.Request(hoster, url, T0 - 10 * M, T0);
        var otherRequest = Hosters.Request(hoster, other, T0 - 10 * M, T0);
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, url, request);
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, other, otherRequest);
        var first = NoticeComposer.NoticeId(url, 0, 0);
        var otherFirst = NoticeComposer.NoticeId(other, 0, 0);
        await Until(() => h.Delivering(first) && h.Delivering(otherFirst), TimeSpan.FromSeconds(30), () => "both first notices waiting in the desk's batch");
        Assert.Empty(h.Smtp.Messages);

        // Inside the window (the batch closes at T0 + 10 min) an analyst reverses the first case; the reversal is replayed.
        await h.AdvanceToAsync(T0 + 4 * M);
        await h.Clients.Publisher.PublishAsync(Topics.ReportsClassified, url, Reversed(request, h.Now));
        var withdrawalId = EventIds.Derive("withdrawal", first);
        List<NoticeDelivery> Final(string noticeId) =>
            h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.noticeId == noticeId && d.status != DeliveryStatus.RETRYING).DistinctBy(d => d.eventId).ToList();
        await Until(() => Final(first).Count > 0 && Final(withdrawalId).Count > 0, TimeSpan.FromSeconds(30), () => "the waiting notice and its withdrawal recorded");
        await h.Clients.Publisher.PublishAsync(Topics.ReportsClassified, url, Reversed(request, h.Now));
        // recheck and sla read the withdrawal on notices.issued.v1 beside the batching stage: the clock waits for them.
        var sla = h.App!.Services.GetRequiredService<SlaState>();
        await Until(() => h.Schedule.Find(first) is null && !sla.Open.TryFind(url, out _, out _), TimeSpan.FromSeconds(30),
            () => "recheck and sla closed the withdrawn notice");
        await h.SettleAsync();

        // The batch closes: one mail, the other case's notice alone (a plain notice: the batch has one member left).
        await h.RunUntilAsync(T0 + window, [], () => Task.CompletedTask);
        await Until(() => Final(otherFirst).Count > 0, TimeSpan.FromSeconds(30), () => "the other case's notice sent when the batch closed");
        var mail = Assert.Single(h.Smtp.Messages);
        Assert.True(Mentions(mail, otherFirst), "the remaining member went out");
        var otherSent = Assert.Single(Final(otherFirst));
        Assert.Equal((DeliveryStatus.SENT, (string?)null), (otherSent.status, otherSent.batchId));

        // Three days on: nothing about the first case ever reached the desk; no reminder, breach or check follows for it.
        await h.RunUntilAsync(T0 + 3 * 24 * H, [], () => Task.CompletedTask);
        Assert.DoesNotContain(h.Smtp.Messages, m => Mentions(m, url) || Mentions(m, first) || Mentions(m, withdrawalId));
        var cancelled = Assert.Single(Final(first));
        Assert.Equal((DeliveryStatus.CANCELLED, 0), (cancelled.status, cancelled.attempt));
        Assert.Contains($"because notice {first} is withdrawn ({withdrawalId})", cancelled.detail, StringComparison.Ordinal);
        var notNeeded = Assert.Single(Final(withdrawalId));
        Assert.Equal(DeliveryStatus.CANCELLED, notNeeded.status);
        Assert.Contains("not needed", notNeeded.detail, StringComparison.Ordinal);
        var notices = h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).DistinctBy(n => n.eventId).ToList();
        Assert.Single(notices, n => n.kind == NoticeKind.WITHDRAWAL); // replayed reversal: no second withdrawal
        Assert.DoesNotContain(notices, n => n.kind == NoticeKind.REMINDER && n.caseKey == url);
        Assert.Contains(notices, n => n.kind == NoticeKind.REMINDER && n.caseKey == other);
        Assert.Contains(h.Smtp.Messages, m => Mentions(m, other) && m != mail); // the other case's reminders reach the desk
        var breaches = h.Watcher.Events<SlaEvent>(Topics.SlaEvents, e => e.kind == SlaEventKind.DEADLINE_BREACHED).Select(e => e.caseKey).ToList();
        Assert.DoesNotContain(url, breaches);
        Assert.Contains(other, breaches);
        Assert.Null(h.Schedule.Find(first));
        Assert.False(sla.Open.TryFind(url, out _, out _), "sla waits for no removal of the notice that never left");
        Assert.DoesNotContain(h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus), o => o.caseKey == url);
    }

    [Fact]
    public async Task A_reversal_after_the_batch_closed_sends_the_withdrawal_through_the_batch()
    {
        await using var h = await StartAsync();
        var hoster = new Hosters.Hoster("cl-host", "www.cl-host.example", "198.51.100.78", 64508, NoticeChannel.EMAIL, "abuse@cl-host.example");
        var url = hoster.Url("c/1.jpg");
        await h.StartStagesAsync([hoster.Host], new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:10:00" });
        var request = Hosters.Request(hoster, url, T0 - 10 * M, T0);
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, url, request);
        var first = NoticeComposer.NoticeId(url, 0, 0);
        await Until(() => h.Delivering(first), TimeSpan.FromSeconds(30), () => "the first notice waiting in its batch");
        await h.RunUntilAsync(T0 + 2 * H, [], () => Task.CompletedTask);
        Assert.True(Mentions(Assert.Single(h.Smtp.Messages), first), "the first notice left when its batch closed");

        // Reversed after the notice left: the withdrawal waits in a batch of its own and goes out when that closes.
        await h.Clients.Publisher.PublishAsync(Topics.ReportsClassified, url, Reversed(request, h.Now));
        var withdrawalId = EventIds.Derive("withdrawal", first);
        await Until(() => h.Delivering(withdrawalId), TimeSpan.FromSeconds(30), () => "the withdrawal taken by the batching stage");
        await h.RunUntilAsync(T0 + 3 * H, [], () => Task.CompletedTask);
        Assert.Single(h.Smtp.Messages, m => Mentions(m, withdrawalId));
        List<NoticeDelivery> Sent() => h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.noticeId == withdrawalId && d.status == DeliveryStatus.SENT);
        await Until(() => Sent().Count > 0, TimeSpan.FromSeconds(30), () => "the withdrawal's SENT record");
        Assert.Single(Sent().DistinctBy(d => d.eventId));
        Assert.DoesNotContain(h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries), d => d.status == DeliveryStatus.CANCELLED);
    }

    [Fact]
    public async Task A_reminder_waiting_in_a_batch_when_its_notice_is_withdrawn_is_cancelled_and_the_withdrawal_goes_alone()
    {
        await using var h = await StartAsync();
        var hoster = new Hosters.Hoster("rm-host", "www.rm-host.example", "198.51.100.79", 64509, NoticeChannel.EMAIL, "abuse@rm-host.example");
        var url = hoster.Url("m/1.jpg");
        await h.StartStagesAsync([hoster.Host], new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:10:00" });
        var request = Hosters.Request(hoster, url, T0 - 10 * M, T0);
        await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, url, request);
        var first = NoticeComposer.NoticeId(url, 0, 0);
        await Until(() => h.Delivering(first), TimeSpan.FromSeconds(30), () => "the first notice waiting in its batch");
        // The first notice leaves at 10 min; the first reminder is issued at 24 h and waits in a batch until 24 h 10 min.
        await h.RunUntilAsync(T0 + 24 * H + 2 * M, [], () => Task.CompletedTask);
        List<TakedownNotice> Reminders() => h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued, n => n.kind == NoticeKind.REMINDER).DistinctBy(n => n.eventId).ToList();
        await Until(() => Reminders().Count > 0, TimeSpan.FromSeconds(30), () => "the first reminder issued");
        var reminder = Assert.Single(Reminders());
        Assert.True(h.Delivering(reminder.noticeId));
        Assert.True(Mentions(Assert.Single(h.Smtp.Messages), first));

        await h.Clients.Publisher.PublishAsync(Topics.ReportsClassified, url, Reversed(request, h.Now));
        var withdrawalId = EventIds.Derive("withdrawal", first);
        List<NoticeDelivery> Final(string noticeId) =>
            h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries, d => d.noticeId == noticeId && d.status != DeliveryStatus.RETRYING).DistinctBy(d => d.eventId).ToList();
        await Until(() => Final(reminder.noticeId).Count > 0 && h.Delivering(withdrawalId), TimeSpan.FromSeconds(30), () => "the reminder cancelled, the withdrawal batched");
        await h.RunUntilAsync(T0 + 26 * H, [], () => Task.CompletedTask);
        await Until(() => Final(withdrawalId).Count > 0, TimeSpan.FromSeconds(30), () => "the withdrawal's record");

        Assert.Equal(DeliveryStatus.CANCELLED, Assert.Single(Final(reminder.noticeId)).status);
        Assert.Equal(DeliveryStatus.SENT, Assert.Single(Final(withdrawalId)).status);
        Assert.Equal(2, h.Smtp.Messages.Count); // the first notice, then the withdrawal alone
        Assert.DoesNotContain(h.Smtp.Messages, m => Mentions(m, reminder.noticeId));
        Assert.Single(h.Smtp.Messages, m => Mentions(m, withdrawalId));
        Assert.DoesNotContain(h.Watcher.Events<SlaEvent>(Topics.SlaEvents), e => e.kind == SlaEventKind.REMINDER_SENT && e.caseKey == url);
    }

    /// <summary>Whether a mail names a notice id or URL: in its text, its Message-ID or its headers (a batch's X-Notice-Ids).</summary>
    private static bool Mentions(LoopbackSmtpServer.Received m, string s) =>
        m.Message.TextBody?.Contains(s, StringComparison.Ordinal) == true || m.Message.MessageId?.Contains(s, StringComparison.Ordinal) == true
        || m.Message.Headers.Any(x => x.Value.Contains(s, StringComparison.Ordinal));
}
