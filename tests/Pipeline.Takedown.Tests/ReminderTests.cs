using System.Text.Json.Nodes;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown.Tests;

/// <summary>"A reminder every N hours until removal … timers survive restarts": reminders through real Kafka and a real
/// SMTP server on loopback, the clock driven by the test.</summary>
public class ReminderTests
{
    private static readonly DateTime T0 = TakedownFlow.T0;

    [Fact]
    public async Task Reminders_go_out_every_24_hours_after_the_notice_until_the_removal_is_confirmed_and_at_most_MaxCount_times()
    {
        await using var f = await TakedownFlow.StartAsync();
        var removed = TakedownFlow.Requested("slowhost", "abuse@slowhost.example");
        var silent = TakedownFlow.Requested("silenthost", "abuse@silenthost.example");
        await f.RequestAsync(removed, silent);
        await f.Until(() => f.Notices(removed.caseKey).Count == 1 && f.Notices(silent.caseKey).Count == 1 && f.H.Smtp.Messages.Count == 2,
            () => $"{f.H.Smtp.Messages.Count} first notices mailed");
        var firstA = f.First(removed);
        var firstB = f.First(silent);
        Assert.Equal(T0, firstA.issuedAt);

        f.At(T0.AddHours(24));
        await f.Until(() => f.Mails(Id(firstA, 1)).Count == 1 && f.Mails(Id(firstB, 1)).Count == 1 && f.Notices(removed.caseKey).Count == 2,
            () => $"{f.H.Smtp.Messages.Count} mails");
        var reminder = f.Notices(removed.caseKey).Single(n => n.kind == NoticeKind.REMINDER);
        Assert.Equal(T0.AddHours(24), reminder.issuedAt);
        Assert.Equal(1, reminder.sequence);
        Assert.Equal(firstA.noticeId, reminder.originalNoticeId);
        Assert.Equal(firstA.deadline, reminder.deadline);
        Assert.Equal(firstA.recipient.address, reminder.recipient.address);
        Assert.StartsWith($"Reminder 1 ({reminder.noticeId}) of notice {firstA.noticeId}, sent 2026-02-02 10:00 UTC.", reminder.text, StringComparison.Ordinal);
        Assert.EndsWith(firstA.text, reminder.text, StringComparison.Ordinal);
        var xarf = JsonNode.Parse(reminder.xarf)!;
        Assert.Equal(reminder.noticeId, (string?)xarf["report_id"]);
        Assert.Equal(firstA.noticeId, (string?)xarf["reminder_of"]);
        Assert.Equal(firstA.url, (string?)xarf["url"]);
        var mail = Assert.Single(f.Mails(reminder.noticeId));
        Assert.Equal($"notice-{reminder.noticeId}@hotline.example", mail.MessageId);
        Assert.Equal(["abuse@slowhost.example"], mail.To.Mailboxes.Select(m => m.Address));
        await f.Until(() => f.SlaEvents(removed.caseKey, SlaEventKind.REMINDER_SENT).Count == 1, () => "REMINDER_SENT of the first reminder");
        var sent = Assert.Single(f.SlaEvents(removed.caseKey, SlaEventKind.REMINDER_SENT));
        Assert.Equal(reminder.noticeId, sent.noticeId);
        Assert.Equal(T0.AddHours(24), sent.occurredAt);
        Assert.Equal(firstA.deadline, sent.deadline);

        // Confirmed removed at 26 h (offline since 25:30): the timer stops.
        f.At(T0.AddHours(26));
        await f.RemovedAsync(firstA, T0.AddHours(25.5), T0.AddHours(26));
        await f.Until(() => f.Watch.Events<TakedownNotice>(Topics.TakedownReminders, n => n.caseKey == removed.caseKey && n.timeline.removalObservedAt is not null).Count == 1,
            () => "the removal stopped the timer in takedown.reminders.v1");
        Assert.Equal(T0.AddHours(25.5), f.Watch.Events<TakedownNotice>(Topics.TakedownReminders, n => n.caseKey == removed.caseKey && n.timeline.removalObservedAt is not null)
            .Single().timeline.removalObservedAt);

        foreach (var (hours, number) in new[] { (48, 2), (72, 3) })
        {
            f.At(T0.AddHours(hours));
            await f.Until(() => f.Mails(Id(firstB, number)).Count == 1 && f.Notices(silent.caseKey).Count == number + 1, () => $"reminder {number} of the silent hoster");
        }
        // MaxCount is 3: a case noticed at 72 h gets its reminders at 96 h and 120 h; once the second is out, the pass at
        // 96 h has certainly run, and the silent hoster got no fourth reminder in it.
        var late = TakedownFlow.Requested("latehost", "abuse@latehost.example");
        await f.RequestAsync(late);
        await f.Until(() => f.Notices(late.caseKey).Count == 1, () => "the late notice");
        var firstC = f.First(late);
        foreach (var hours in new[] { 96, 120 })
        {
            f.At(T0.AddHours(hours));
            await f.Until(() => f.Notices(late.caseKey).Count == (hours - 72) / 24 + 1, () => $"reminders of the late case at {hours} h");
        }

        Assert.Equal([T0, T0.AddHours(24)], f.Notices(removed.caseKey).Where(n => n.kind != NoticeKind.CONFIRMATION).Select(n => n.issuedAt));
        // The removed case's last word: one confirmation of its removal (Takedown:ConfirmRemoval), after which nothing.
        Assert.Single(f.Notices(removed.caseKey), n => n.kind == NoticeKind.CONFIRMATION);
        Assert.Equal([T0, T0.AddHours(24), T0.AddHours(48), T0.AddHours(72)], f.Notices(silent.caseKey).Select(n => n.issuedAt));
        Assert.Equal([0, 1, 2, 3], f.Notices(silent.caseKey).Select(n => n.sequence));
        Assert.Equal([T0.AddHours(72), T0.AddHours(96), T0.AddHours(120)], f.Notices(late.caseKey).Select(n => n.issuedAt));
        Assert.Equal(firstC.noticeId, f.Notices(late.caseKey)[2].originalNoticeId);
        // The notices are on the topic; their mails may still be on the way (batching, then SMTP).
        await f.Until(() => f.H.Smtp.Messages.Count >= 2 + 1 + 4 + 3, () => $"{f.H.Smtp.Messages.Count} of 10 mails");
        Assert.Equal(2 + 1 + 4 + 3, f.H.Smtp.Messages.Count);
        Assert.Equal(f.H.Smtp.Messages.Count, f.H.Smtp.Messages.Select(m => m.Message.MessageId).Distinct().Count());
        await f.Until(() => f.Watch.Events<SlaEvent>(Topics.SlaEvents, e => e.kind == SlaEventKind.REMINDER_SENT).Count == 1 + 3 + 2, () => "REMINDER_SENT per reminder");
        Assert.Equal([T0.AddHours(24), T0.AddHours(48), T0.AddHours(72)], f.SlaEvents(silent.caseKey, SlaEventKind.REMINDER_SENT).Select(e => e.occurredAt).Order());

        // Seven days (the retention of takedown.requested.v1) after their first notice, stopped timers are deleted: no
        // request can be replayed any more. The late case (first notice at 72 h) keeps its entry.
        f.At(T0.AddDays(7).AddHours(1));
        await f.Until(() => f.Tombstones(Topics.TakedownReminders).IsSupersetOf([removed.caseKey, silent.caseKey]), () => "stopped timers deleted");
        Assert.DoesNotContain(late.caseKey, f.Tombstones(Topics.TakedownReminders));
        // Its third reminder, due at 144 h while the clock jumped from 120 h to 169 h, goes out once, at 169 h.
        await f.Until(() => f.Notices(late.caseKey).Count == 4, () => "the late case's third reminder");
        Assert.Equal(T0.AddDays(7).AddHours(1), f.Notices(late.caseKey)[3].issuedAt);
    }

    [Fact]
    public async Task A_restart_sends_no_reminder_twice_even_when_the_crash_came_between_issuing_a_reminder_and_recording_it()
    {
        await using var f = await TakedownFlow.StartAsync();
        var request = TakedownFlow.Requested("restarthost", "abuse@restarthost.example");
        await f.RequestAsync(request);
        await f.Until(() => f.H.Smtp.Messages.Count == 1 && f.Notices(request.caseKey).Count == 1, () => "the first notice issued and mailed");
        var first = f.First(request);
        f.At(T0.AddHours(24));
        await f.Until(() => f.Mails(Id(first, 1)).Count == 1, () => "reminder 1 mailed");

        // 1. A plain restart at the same instant: the timer is restored from takedown.reminders.v1 with reminder 1 sent.
        await f.StopHostAsync();
        await f.StartHostAsync();
        f.At(T0.AddHours(48));
        await f.Until(() => f.Mails(Id(first, 2)).Count == 1 && f.Notices(request.caseKey).Count == 3, () => "reminder 2 issued and mailed after the restart");
        Assert.Equal(1, f.TimesIssued(Id(first, 1)));

        // 2. A crash after reminder 3 went to notices.issued but before the timer recorded it: the timer topic still
        // holds reminder 2 as the latest (written here as the crashed process left it).
        await f.StopHostAsync();
        var state = f.Watch.Deliveries(Topics.TakedownReminders).Last(s => s.Key == request.caseKey);
        var reminder2 = f.Notices(request.caseKey).Single(n => n.sequence == 2);
        f.At(T0.AddHours(72));
        var reminder3 = NoticeComposer.Reminder(reminder2, T0.AddHours(72));
        await f.H.Publisher.PublishAsync(Topics.NoticesIssued, request.caseKey, reminder3);
        await f.H.Publisher.PublishAsync(Topics.TakedownReminders, request.caseKey, reminder2, state.Partition);
        await f.StartHostAsync();
        await f.Until(() => f.TimesIssued(Id(first, 3)) == 2, () => "reminder 3 issued again after the restart");
        // The delivery stage has read the re-issued reminder 3 once it committed past it.
        await f.H.WaitUntilDeliveryGroupCaughtUpAsync();

        Assert.Single(f.Mails(Id(first, 3)));
        Assert.Single(f.H.DeliveriesOf(Id(first, 3)));
        Assert.Equal([1, 1, 1, 1], new[] { first.noticeId, Id(first, 1), Id(first, 2), Id(first, 3) }.Select(id => f.Mails(id).Count));
        var sent = EventIds.Derive("sla-reminder-sent", Id(first, 3));
        await f.Until(() => f.TimesPublished(sent) >= 1, () => "REMINDER_SENT of reminder 3");
        Assert.Equal(1, f.TimesPublished(sent));
        Assert.Equal([T0, T0.AddHours(24), T0.AddHours(48), T0.AddHours(72)], f.Notices(request.caseKey).Select(n => n.issuedAt));
    }

    private static string Id(TakedownNotice first, int number) =>
        EventIds.Derive("reminder", first.noticeId, number.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
