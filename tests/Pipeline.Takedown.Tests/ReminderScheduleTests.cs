using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown.Tests;

/// <summary>The reminder cadence and the reminder's content, without Kafka.</summary>
public class ReminderScheduleTests
{
    private static readonly DateTime T0 = new(2026, 2, 2, 10, 0, 0, DateTimeKind.Utc);
    private static readonly TakedownOptions.ReminderSettings Daily = new() { Interval = TimeSpan.FromHours(24), MaxCount = 3 };

    private static TakedownNotice First() => DeliveryHarness.Notice("cadence", 1, NoticeChannel.EMAIL, "abuse@cadence.example");

    [Fact]
    public void Reminders_fall_due_at_whole_intervals_after_the_first_notice_and_stop_at_MaxCount()
    {
        var first = First();
        var latest = first;
        var issued = new List<DateTime>();
        while (ReminderSchedule.NextDue(latest, Daily) is { } due)
        {
            issued.Add(due);
            latest = NoticeComposer.Reminder(latest, due);
        }
        Assert.Equal([T0.AddHours(24), T0.AddHours(48), T0.AddHours(72)], issued);
        Assert.Equal(3, latest.sequence);
        Assert.Equal(EventIds.Derive("reminder", first.noticeId, "3"), latest.noticeId);
    }

    [Fact]
    public void A_reminder_issued_late_is_followed_by_the_next_slot_of_the_cadence_not_a_burst()
    {
        var late = NoticeComposer.Reminder(First(), T0.AddHours(24 + 30)); // the service was down for 30 hours
        Assert.Equal(T0.AddHours(72), ReminderSchedule.NextDue(late, Daily));
    }

    [Fact]
    public void No_reminder_after_a_confirmed_removal_for_a_police_hold_or_with_reminders_off()
    {
        Assert.Null(ReminderSchedule.NextDue(ReminderSchedule.Stopped(First(), T0.AddHours(3)), Daily));
        var held = First();
        held.policeHold = true;
        Assert.Null(ReminderSchedule.NextDue(held, Daily));
        Assert.Null(ReminderSchedule.NextDue(First(), new TakedownOptions.ReminderSettings { Interval = TimeSpan.FromHours(24), MaxCount = 0 }));
    }

    [Fact]
    public void A_reminder_refers_to_the_first_notice_keeps_its_deadline_and_recipient_and_has_ids_of_its_own()
    {
        var first = First();
        var second = NoticeComposer.Reminder(NoticeComposer.Reminder(first, T0.AddHours(24)), T0.AddHours(48));
        Assert.Equal(NoticeKind.REMINDER, second.kind);
        Assert.Equal(2, second.sequence);
        Assert.Equal(first.noticeId, second.originalNoticeId);
        Assert.Equal(EventIds.Derive("reminder-issued", first.noticeId, "2"), second.eventId);
        Assert.Equal(first.deadline, second.deadline);
        Assert.Equal(first.recipient.address, second.recipient.address);
        Assert.Equal(T0, second.timeline.noticeSentAt);
        Assert.Equal(T0.AddHours(48), second.issuedAt);
        // The first notice's text once, under the reminder's own header (not nested reminder headers), which says that
        // the deadline has passed (it never asks for removal "before" a time already past).
        Assert.Equal($"Reminder 2 ({second.noticeId}) of notice {first.noticeId}, sent 2026-02-02 10:00 UTC.\nAs of 2026-02-04 10:00 UTC the material is still online and the removal deadline (2026-02-03 10:00 UTC) has passed: remove it now. The notice follows again.\n\n{first.text}", second.text);
        // Deterministic: the same reminder after a crash is the same notice.
        Assert.Equal(second.noticeId, NoticeComposer.Reminder(NoticeComposer.Reminder(first, T0.AddHours(24)), T0.AddHours(48)).noticeId);
    }

    [Fact]
    public void An_authority_order_earlier_than_the_norm_sets_the_deadline_and_a_later_one_does_not()
    {
        var composer = new NoticeComposer(new TakedownOptions { Deadline = TimeSpan.FromHours(24), SenderOrganisation = "Example Hotline", SenderContact = "notices@hotline.example" });
        var request = TakedownFlow.Requested("orders", "abuse@orders.example", orderedRemovalBy: T0.AddHours(1), orderReference: "ORDER-1");
        Assert.Equal(T0.AddHours(1), composer.Deadline(request, T0));
        request.orderedRemovalBy = T0.AddHours(30);
        Assert.Equal(T0.AddHours(24), composer.Deadline(request, T0));
        request.orderedRemovalBy = null;
        Assert.Equal(T0.AddHours(24), composer.Deadline(request, T0));
    }
}
