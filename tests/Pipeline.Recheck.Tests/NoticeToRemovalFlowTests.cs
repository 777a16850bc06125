using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Takedown;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>
/// Issue 7, "Done when": hosters with known removal delays taken through takedown → delivery (real SMTP server and
/// webhook receiver) → recheck (a simulated hoster web server that takes URLs offline at scheduled times) → SLA, on a
/// clock the test drives, checking every notice and reminder, every mail and webhook POST, every check, the breach and
/// escalation at the deadline, and the time-to-removal figures to the second.
/// </summary>
public class NoticeToRemovalFlowTests
{
    private static readonly TimeSpan H = TimeSpan.FromHours(1), M = TimeSpan.FromMinutes(1), D = TimeSpan.FromDays(1);

    [Fact]
    public async Task Hosters_with_known_removal_delays_are_measured_to_the_second()
    {
        await using var h = await StartAsync();
        var swift = new Hosters.Hoster("swift-host", "www.swift-host.example", "192.0.2.21", 64496, NoticeChannel.EMAIL, "abuse@swift-host.example");
        var slow = new Hosters.Hoster("slow-host", "files.slow-host.example", "198.51.100.22", 64497, NoticeChannel.WEBHOOK, h.Webhook.BaseUrl + "/abuse/slow-host");
        var honest = new Hosters.Hoster("honest-host", "img.honest-host.example", "203.0.113.23", 64498, NoticeChannel.EMAIL, "abuse@honest-host.example");
        var fibbing = new Hosters.Hoster("fibbing-host", "cdn.fibbing-host.example", "192.0.2.24", 64499, NoticeChannel.EMAIL, "abuse@fibbing-host.example");
        var urls = new Dictionary<string, string>
        {
            [swift.Id] = swift.Url("a/1.jpg"), [slow.Id] = slow.Url("b/2.jpg"), [honest.Id] = honest.Url("c/3.jpg"), [fibbing.Id] = fibbing.Url("d/4.jpg"),
        };
        var received = T0 - 30 * M;           // the reports reached the hotline half an hour before the notices
        var reuploadSeen = T0 + 3 * D + 2 * H + 25 * M; // the watch's daily check after swift's removal that finds it back

        // What each hoster does, on the test's clock.
        h.Web.RemoveAt(urls[swift.Id], T0 + 2 * H);
        h.Web.RestoreAt(urls[swift.Id], T0 + 3 * D);          // re-uploaded
        h.Web.RemoveAt(urls[swift.Id], reuploadSeen + 90 * M); // removed again 1 h 30 m after the second notice
        h.Web.RemoveAt(urls[slow.Id], T0 + 30 * H);           // after the 24 h deadline
        h.Web.RemoveAt(urls[honest.Id], T0 + 5 * H);          // and confirms it at 5 h 10 m
        h.Web.RemoveAt(urls[fibbing.Id], T0 + 3 * H + 30 * M); // but claims removal at 1 h already

        // The settings the timeline below is computed from, stated here rather than left to the defaults: the 24 h deadline,
        // a reminder every 24 h (at most 7), and a 2-minute batch window per recipient before a notice is sent.
        var deadline = D;
        var reminderInterval = D;
        const int maxReminders = 7;
        var window = 2 * M;
        await h.StartStagesAsync([swift.Host, slow.Host, honest.Host, fibbing.Host], new Dictionary<string, string?>
        {
            ["Takedown:Deadline"] = deadline.ToString("c", CultureInfo.InvariantCulture),
            ["Takedown:Reminders:Interval"] = reminderInterval.ToString("c", CultureInfo.InvariantCulture),
            ["Takedown:Reminders:MaxCount"] = maxReminders.ToString(CultureInfo.InvariantCulture),
            ["Takedown:Delivery:BatchWindow"] = window.ToString("c", CultureInfo.InvariantCulture),
        });
        // The stages really run with them (a misspelt key would fall back to a default silently).
        var bound = (h.App!.Services.GetRequiredService<IOptions<TakedownOptions>>().Value, h.App.Services.GetRequiredService<IOptions<DeliveryOptions>>().Value);
        Assert.Equal((deadline, reminderInterval, maxReminders, window), (bound.Item1.Deadline, bound.Item1.Reminders.Interval, bound.Item1.Reminders.MaxCount, bound.Item2.BatchWindow));

        foreach (var hoster in new[] { swift, slow, honest, fibbing })
            await h.Clients.Publisher.PublishAsync(Topics.TakedownRequested, urls[hoster.Id], Hosters.Request(hoster, urls[hoster.Id], received, T0));
        var firstNotice = urls.ToDictionary(u => u.Key, u => NoticeComposer.NoticeId(u.Value, 0, 0));
        var reuploadNotice = NoticeComposer.NoticeId(urls[swift.Id], 1, 0);
        // Only the slow host is still online a day after its notice: it gets reminder 1 at T0 + 24 h (its id derives from
        // the first notice id and the number). Its removal at 30 h 15 m, confirmed at 30 h 25 m, stops the timer, so
        // reminders 2 and 3 (due at 48 h and 72 h, within the run) never come. Every other URL, and the re-upload (whose
        // own timer would first fire a day after its notice), is confirmed removed within a day of its notice: no reminder.
        var slowReminder = EventIds.Derive("reminder", firstNotice[slow.Id], "1");

        // The notices are issued at T0 and wait for their batch windows (one per recipient) to close; nothing is sent before.
        await Until(() => firstNotice.Values.All(id => h.Schedule.Find(id) is not null && h.Delivering(id)),
            TimeSpan.FromSeconds(60), () => $"notices scheduled: {h.Schedule.Count}, taken by delivery: {firstNotice.Values.Count(h.Delivering)}");
        Assert.Equal((0, 0), (h.Smtp.Messages.Count, h.Webhook.Requests.Count));
        await h.RunUntilAsync(T0 + window, [], () => Task.CompletedTask);
        Assert.Equal((3, 1), (h.Smtp.Messages.Count, h.Webhook.Requests.Count));

        // The hosters read the notice id from the notice they received, as they would.
        string MailedNoticeId(string address) => h.Smtp.Messages.First(m => m.To.Contains(address)).Message.Headers["X-Notice-Id"] ?? "";
        Assert.Equal(firstNotice[honest.Id], MailedNoticeId(honest.Address));
        Assert.Equal(firstNotice[fibbing.Id], MailedNoticeId(fibbing.Address));
        var confirmations = new List<(DateTime, HttpStatusCode)>();
        using var http = new HttpClient { BaseAddress = new Uri(h.BaseUrl) };
        Func<Task> Confirm(string noticeId, DateTime removedAt) => async () =>
        {
            var body = Encoding.UTF8.GetBytes($$"""{"removedAt":"{{removedAt:yyyy-MM-ddTHH:mm:ssZ}}"}""");
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/notices/{noticeId}/confirmation") { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new("application/json");
            request.Headers.Add("X-Signature", "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(WebhookSecret), body)));
            using var response = await http.SendAsync(request);
            confirmations.Add((h.Now, response.StatusCode));
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        };

        // The clock steps from one due thing to the next: checks, the reminder, batch windows closing.
        await h.RunUntilAsync(T0 + 3 * D + 5 * H,
            [
                (T0 + 1 * H, Confirm(MailedNoticeId(fibbing.Address), T0 + 50 * M)),
                (T0 + 5 * H + 10 * M, Confirm(MailedNoticeId(honest.Address), T0 + 5 * H)),
            ],
            afterStep: async () =>
            {
                // The re-appearance asks for a new takedown; time stands still until its notice is issued, scheduled and
                // waiting for delivery.
                if (h.Now >= reuploadSeen)
                    await Until(() => h.Schedule.Find(reuploadNotice) is not null && h.Delivering(reuploadNotice), TimeSpan.FromSeconds(120),
                        () => "the re-upload's notice was not scheduled or not taken by delivery");
                await h.SlaCaughtUpAsync(firstNotice.Values.Append(reuploadNotice));
            });

        Assert.Equal([(T0 + 1 * H, HttpStatusCode.Accepted), (T0 + 5 * H + 10 * M, HttpStatusCode.Accepted)], confirmations);

        // Everything the run produced has reached the watcher: 6 notices, 6 deliveries, 5 outcomes, 9 SLA events.
        await Until(() => h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).Count >= 6
                          && h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries).Count >= 6
                          && h.Watcher.Events<NoticeOutcome>(Topics.NoticeOutcomes).Count >= 5
                          && h.Watcher.Events<SlaEvent>(Topics.SlaEvents).Count >= 9,
            TimeSpan.FromSeconds(60), () => $"notices {h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued).Count}, deliveries {h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries).Count}, "
                + $"outcomes {h.Watcher.Events<NoticeOutcome>(Topics.NoticeOutcomes).Count}, SLA events: "
                + string.Join("; ", h.Watcher.Events<SlaEvent>(Topics.SlaEvents).Select(e => $"{e.kind} {e.noticeId[..8]}")));

        // Notices: one per URL at T0, the slow host's single reminder at T0 + 24 h (same recipient and deadline, numbered,
        // pointing at its first notice), and swift's re-upload (a new notice id, episode 1) when it was seen again.
        var notices = h.Watcher.Events<TakedownNotice>(Topics.NoticesIssued);
        Assert.Equal(notices.Count, notices.Select(n => n.noticeId).Distinct().Count());
        Assert.Equal(
            new (string, NoticeKind, int, int, DateTime, DateTime, string?, string)[]
            {
                (firstNotice[swift.Id], NoticeKind.FIRST, 0, 0, T0, T0 + deadline, null, swift.Address),
                (firstNotice[slow.Id], NoticeKind.FIRST, 0, 0, T0, T0 + deadline, null, slow.Address),
                (firstNotice[honest.Id], NoticeKind.FIRST, 0, 0, T0, T0 + deadline, null, honest.Address),
                (firstNotice[fibbing.Id], NoticeKind.FIRST, 0, 0, T0, T0 + deadline, null, fibbing.Address),
                (slowReminder, NoticeKind.REMINDER, 1, 0, T0 + reminderInterval, T0 + deadline, firstNotice[slow.Id], slow.Address), // deadline unchanged
                (reuploadNotice, NoticeKind.FIRST, 0, 1, reuploadSeen, reuploadSeen + deadline, null, swift.Address),
            }.OrderBy(n => n.Item5).ThenBy(n => n.Item1, StringComparer.Ordinal),
            notices.Select(n => (n.noticeId, n.kind, n.sequence, n.episode, n.issuedAt, n.deadline, (string?)n.originalNoticeId, n.recipient.address))
                .OrderBy(n => n.issuedAt).ThenBy(n => n.noticeId, StringComparer.Ordinal));
        var reminder = notices.Single(n => n.noticeId == slowReminder);
        Assert.Equal((T0, urls[slow.Id], NoticeChannel.WEBHOOK), (reminder.timeline.noticeSentAt, reminder.url, reminder.recipient.channel));
        Assert.StartsWith($"Reminder 1 ({slowReminder}) of notice {firstNotice[slow.Id]}, sent {T0.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC.", reminder.text, StringComparison.Ordinal);
        var second = notices.Single(n => n.noticeId == reuploadNotice);
        Assert.Equal((reuploadSeen, urls[swift.Id]), (second.timeline.receivedAt, second.url)); // the re-upload's clock starts when it was seen again

        // Deliveries: each notice once, at the first attempt, when its batch window closed (issuedAt + window: each batch
        // has one member, as no two notices for one recipient were issued within a window). The reminder's REMINDER_SENT
        // below carries the same time.
        Assert.Equal(
            new (string, DeliveryStatus, int, DateTime, NoticeChannel, string)[]
            {
                (firstNotice[swift.Id], DeliveryStatus.SENT, 1, T0 + window, NoticeChannel.EMAIL, swift.Address),
                (firstNotice[slow.Id], DeliveryStatus.SENT, 1, T0 + window, NoticeChannel.WEBHOOK, slow.Address),
                (firstNotice[honest.Id], DeliveryStatus.SENT, 1, T0 + window, NoticeChannel.EMAIL, honest.Address),
                (firstNotice[fibbing.Id], DeliveryStatus.SENT, 1, T0 + window, NoticeChannel.EMAIL, fibbing.Address),
                (slowReminder, DeliveryStatus.SENT, 1, T0 + reminderInterval + window, NoticeChannel.WEBHOOK, slow.Address),
                (reuploadNotice, DeliveryStatus.SENT, 1, reuploadSeen + window, NoticeChannel.EMAIL, swift.Address),
            }.OrderBy(d => d.Item4).ThenBy(d => d.Item1, StringComparer.Ordinal),
            h.Watcher.Events<NoticeDelivery>(Topics.NoticeDeliveries).Select(d => (d.noticeId, d.status, d.attempt, d.at, d.channel, d.address))
                .OrderBy(d => d.at).ThenBy(d => d.noticeId, StringComparer.Ordinal));

        // What the hosters' desks received: four mails (swift twice: the first notice and the re-upload's), each a plain
        // notice dated at its issue; the slow host's endpoint two signed POSTs, the notice and the reminder.
        Assert.Equal(
            new[]
            {
                (swift.Address, firstNotice[swift.Id], T0), (honest.Address, firstNotice[honest.Id], T0), (fibbing.Address, firstNotice[fibbing.Id], T0),
                (swift.Address, reuploadNotice, reuploadSeen),
            }.OrderBy(m => m.Item3).ThenBy(m => m.Item2, StringComparer.Ordinal),
            h.Smtp.Messages.Select(m => (Assert.Single(m.To), m.Message.Headers["X-Notice-Id"] ?? "", m.Message.Date.UtcDateTime))
                .OrderBy(m => m.UtcDateTime).ThenBy(m => m.Item2, StringComparer.Ordinal));
        Assert.All(h.Smtp.Messages, m => Assert.Equal($"notice-{m.Message.Headers["X-Notice-Id"]}@hotline.example", m.Message.MessageId));
        var hooks = h.Webhook.Requests.ToList();
        Assert.Equal([firstNotice[slow.Id], slowReminder], hooks.Select(r => r.IdempotencyKey));
        Assert.All(hooks, r => Assert.True(r.SignatureValid && r.Path == "/abuse/slow-host", r.Path));
        (string?, DateTime, string?, int?) Xarf(string body)
        {
            var x = JsonNode.Parse(body)!;
            return ((string?)x["report_id"], DateTime.Parse((string)x["timestamp"]!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind).ToUniversalTime(),
                (string?)x["reminder_of"], (int?)x["reminder_number"]);
        }
        Assert.Equal([(firstNotice[slow.Id], T0, null, null), (slowReminder, T0 + reminderInterval, firstNotice[slow.Id], 1)], hooks.Select(r => Xarf(r.Body)));

        // Every check, per URL: (time, status, consecutive misses, removal confirmed, re-appeared, method). The reminder
        // leaves the slow host's hourly checks as they were.
        List<(TimeSpan, ContentStatus, int, bool, bool, ObservationMethod)> Checks(string url) => h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.url == url)
            .OrderBy(o => o.observedAt).Select(o => (o.observedAt - T0, o.status, o.consecutiveMisses, o.removalConfirmed, o.reappeared, o.method)).ToList();
        async Task AssertChecks(string url, (TimeSpan, ContentStatus, int, bool, bool, ObservationMethod)[] expected)
        {
            // The watcher reads each topic partition at its own pace: wait until it has read as many checks as expected.
            await Until(() => Checks(url).Count >= expected.Length, TimeSpan.FromSeconds(120), () => $"{Checks(url).Count} checks of {url} seen");
            Assert.Equal(expected, Checks(url));
        }
        var on = ContentStatus.ONLINE;
        var gone = ContentStatus.REMOVED;
        const ObservationMethod R = ObservationMethod.RECHECK;
        await AssertChecks(urls[swift.Id],
        [
            (15 * M, on, 0, false, false, R), (H + 15 * M, on, 0, false, false, R),
            (2 * H + 15 * M, gone, 1, false, false, R), (2 * H + 20 * M, gone, 2, false, false, R), (2 * H + 25 * M, gone, 3, true, false, R),
            (D + 2 * H + 25 * M, gone, 0, false, false, R), (2 * D + 2 * H + 25 * M, gone, 0, false, false, R),
            (3 * D + 2 * H + 25 * M, on, 0, false, true, R), // back online: a re-upload
            // the re-upload's notice, from its own first check
            (3 * D + 2 * H + 40 * M, on, 0, false, false, R), (3 * D + 3 * H + 40 * M, on, 0, false, false, R),
            (3 * D + 4 * H + 40 * M, gone, 1, false, false, R), (3 * D + 4 * H + 45 * M, gone, 2, false, false, R), (3 * D + 4 * H + 50 * M, gone, 3, true, false, R),
        ]);
        await AssertChecks(urls[slow.Id],
        [
            .. Enumerable.Range(0, 30).Select(i => (i * H + 15 * M, on, 0, false, false, R)),
            (30 * H + 15 * M, gone, 1, false, false, R), (30 * H + 20 * M, gone, 2, false, false, R), (30 * H + 25 * M, gone, 3, true, false, R),
            (D + 30 * H + 25 * M, gone, 0, false, false, R), // watched daily; the next one (3 d 6 h 25 m) is after the end
        ]);
        await AssertChecks(urls[honest.Id],
        [
            (15 * M, on, 0, false, false, R), (H + 15 * M, on, 0, false, false, R), (2 * H + 15 * M, on, 0, false, false, R),
            (3 * H + 15 * M, on, 0, false, false, R), (4 * H + 15 * M, on, 0, false, false, R),
            (5 * H + 10 * M, gone, 1, true, false, ObservationMethod.HOSTER_CONFIRMATION), // the check the confirmation asked for agreed
            (D + 5 * H + 10 * M, gone, 0, false, false, R), (2 * D + 5 * H + 10 * M, gone, 0, false, false, R),
        ]);
        await AssertChecks(urls[fibbing.Id],
        [
            (15 * M, on, 0, false, false, R),
            (H, on, 0, false, false, R), // checked at once on the hoster's word, and contradicted: no removal
            (2 * H, on, 0, false, false, R), (3 * H, on, 0, false, false, R),
            (4 * H, gone, 1, false, false, R), (4 * H + 5 * M, gone, 2, false, false, R), (4 * H + 10 * M, gone, 3, true, false, R),
            (D + 4 * H + 10 * M, gone, 0, false, false, R), (2 * D + 4 * H + 10 * M, gone, 0, false, false, R), (3 * D + 4 * H + 10 * M, gone, 0, false, false, R),
        ]);

        // Time to removal, from the notice and from the report, to the second; within the 24 h norm or not. One outcome per
        // first notice (the reminder is not measured on its own).
        var outcomes = h.Watcher.Events<NoticeOutcome>(Topics.NoticeOutcomes).ToDictionary(o => o.noticeId);
        Assert.Equal(firstNotice.Values.Append(reuploadNotice).Order(StringComparer.Ordinal), outcomes.Keys.Order(StringComparer.Ordinal));
        (long FromNotice, long FromReport, bool Within, DateTime RemovedAt, DateTime Deadline) Measured(string noticeId) =>
            (outcomes[noticeId].timeToRemovalFromNoticeMs / 1000, outcomes[noticeId].timeToRemovalFromReportMs / 1000, outcomes[noticeId].withinNorm,
                outcomes[noticeId].removedAt, outcomes[noticeId].deadline);
        Assert.Equal((8_100L, 9_900L, true, T0 + 2 * H + 15 * M, T0 + deadline), Measured(firstNotice[swift.Id]));            // 2 h 15 m
        Assert.Equal((108_900L, 110_700L, false, T0 + 30 * H + 15 * M, T0 + deadline), Measured(firstNotice[slow.Id]));       // 30 h 15 m: breached
        Assert.Equal((18_000L, 19_800L, true, T0 + 5 * H, T0 + deadline), Measured(firstNotice[honest.Id]));                  // 5 h, as the hoster said and a check agreed
        Assert.Equal((14_400L, 16_200L, true, T0 + 4 * H, T0 + deadline), Measured(firstNotice[fibbing.Id]));                 // 4 h, by our own checks
        Assert.Equal((8_100L, 8_100L, true, reuploadSeen + 2 * H + 15 * M, reuploadSeen + deadline), Measured(reuploadNotice)); // the re-upload, measured on its own
        Assert.StartsWith("confirmed by the hoster; a check agreed (REMOVED, HTTP 404)", outcomes[firstNotice[honest.Id]].verification, StringComparison.Ordinal);

        // SLA events: removals; for the slow host the breach and the escalation to the authority at its deadline (once
        // each) and the delivered reminder (at its delivery, when the batch window closed); the re-upload.
        var events = h.Watcher.Events<SlaEvent>(Topics.SlaEvents)
            .Select(e => (e.noticeId, e.kind, e.occurredAt)).OrderBy(e => e.occurredAt).ThenBy(e => e.kind).ToList();
        Assert.Equal(
        [
            (firstNotice[swift.Id], SlaEventKind.REMOVED_WITHIN_NORM, T0 + 2 * H + 15 * M),
            (firstNotice[fibbing.Id], SlaEventKind.REMOVED_WITHIN_NORM, T0 + 4 * H),
            (firstNotice[honest.Id], SlaEventKind.REMOVED_WITHIN_NORM, T0 + 5 * H),
            (firstNotice[slow.Id], SlaEventKind.DEADLINE_BREACHED, T0 + deadline),
            (firstNotice[slow.Id], SlaEventKind.ESCALATED, T0 + deadline),
            (slowReminder, SlaEventKind.REMINDER_SENT, T0 + reminderInterval + window),
            (firstNotice[slow.Id], SlaEventKind.REMOVED_AFTER_DEADLINE, T0 + 30 * H + 15 * M),
            (reuploadNotice, SlaEventKind.REUPLOAD, reuploadSeen),
            (reuploadNotice, SlaEventKind.REMOVED_WITHIN_NORM, reuploadSeen + 2 * H + 15 * M),
        ], events);
        var slowEvents = h.Watcher.Events<SlaEvent>(Topics.SlaEvents, e => e.caseKey == urls[slow.Id]).ToDictionary(e => e.kind);
        Assert.Equal((T0 + deadline, T0 + deadline), (slowEvents[SlaEventKind.DEADLINE_BREACHED].deadline, slowEvents[SlaEventKind.ESCALATED].deadline));
        Assert.StartsWith($"sector norm missed: {urls[slow.Id]} still online at the deadline; notice {firstNotice[slow.Id]}", slowEvents[SlaEventKind.ESCALATED].detail, StringComparison.Ordinal);
        Assert.Equal($"reminder 1 of notice {firstNotice[slow.Id]} sent by WEBHOOK to {slow.Address} (attempt 1)", slowEvents[SlaEventKind.REMINDER_SENT].detail);

        // The reminder timers at the end: every one stopped by its URL's confirmed removal. The slow host's after reminder 1;
        // swift's is the re-upload's own (started at its notice, so its first reminder would have been due a day after
        // that), stopped by the re-upload's removal.
        var timers = h.Timers!.State.Entries.ToDictionary(e => e.Key, e => (e.Value.noticeId, e.Value.kind, e.Value.issuedAt, e.Value.timeline.removalObservedAt));
        Assert.Equal(4, timers.Count);
        Assert.Equal((reuploadNotice, NoticeKind.FIRST, reuploadSeen, reuploadSeen + 2 * H + 15 * M), timers[urls[swift.Id]]);
        Assert.Equal((slowReminder, NoticeKind.REMINDER, T0 + reminderInterval, T0 + 30 * H + 15 * M), timers[urls[slow.Id]]);
        Assert.Equal((firstNotice[honest.Id], NoticeKind.FIRST, T0, T0 + 5 * H), timers[urls[honest.Id]]);
        Assert.Equal((firstNotice[fibbing.Id], NoticeKind.FIRST, T0, T0 + 4 * H), timers[urls[fibbing.Id]]);

        // The re-upload went through takedown as one: one request, one notice, delivered by e-mail once.
        var reupload = Assert.Single(h.Watcher.Events<TakedownRequested>(Topics.TakedownRequested, r => r.caseInfo.reupload).DistinctBy(r => r.eventId));
        Assert.Equal((1, reuploadSeen, ReporterType.CRAWLER, firstNotice[swift.Id]), (reupload.caseInfo.episode, reupload.requestedAt, reupload.report.reporterType, reupload.report.sourceReference));
    }
}
