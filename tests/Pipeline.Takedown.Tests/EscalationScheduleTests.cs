using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown.Tests;

/// <summary>The escalation ladder's schedule, recipients, ids and settings, without Kafka.</summary>
public class EscalationScheduleTests
{
    private static readonly DateTime T0 = new(2026, 2, 2, 10, 0, 0, DateTimeKind.Utc);

    private static TakedownOptions.EscalationSettings Ladder() => new()
    {
        Authority = new() { Name = "Authority", Address = "orders@authority.example" },
        Registrars = new(StringComparer.OrdinalIgnoreCase) { ["example"] = new() { Name = "Registrar", Address = "abuse@registrar.example" } },
        SiteOwners = new(StringComparer.OrdinalIgnoreCase) { ["ladder.example"] = new() { Name = "Owner", Address = "owner@ladder.example" } },
    };

    private static TakedownNotice First() => DeliveryHarness.Notice("ladder", 1, NoticeChannel.EMAIL, "abuse@ladder.example");

    [Fact]
    public void Steps_fall_due_at_their_After_from_the_first_notice_in_order_and_end_with_the_last()
    {
        var settings = Ladder();
        var first = First();
        var latest = first;
        var due = new List<(DateTime, RecipientRole, string)>();
        while (Escalations.NextDue(latest, settings) is { } at)
        {
            var (number, step) = Escalations.NextStep(latest, settings)!.Value;
            var recipient = Escalations.Recipient(step, latest.url, settings)!;
            var escalation = Escalations.Compose(latest, number, recipient, at);
            Assert.Equal((EventIds.Derive("escalation", first.noticeId, number.ToString(System.Globalization.CultureInfo.InvariantCulture)), first.noticeId, NoticeKind.ESCALATION, number),
                (escalation.noticeId, escalation.originalNoticeId, escalation.kind, escalation.escalationsIssued));
            due.Add((at, recipient.role, recipient.address));
            latest = Escalations.Advanced(latest);
            if (number == 1) latest = NoticeComposer.Reminder(latest, at); // a reminder in between keeps the steps done
        }
        Assert.Equal([(T0.AddDays(2), RecipientRole.SITE_OWNER, "owner@ladder.example"), (T0.AddDays(4), RecipientRole.REGISTRAR, "abuse@registrar.example"),
            (T0.AddDays(7), RecipientRole.AUTHORITY, "orders@authority.example")], due);
        Assert.Equal(3, latest.escalationsIssued);
    }

    [Fact]
    public void A_removal_a_withdrawal_a_police_hold_or_a_disabled_ladder_stops_it()
    {
        var settings = Ladder();
        Assert.Null(Escalations.NextDue(ReminderSchedule.Stopped(First(), T0.AddHours(30)), settings));
        var withdrawal = NoticeComposer.Copy(First(), T0, null);
        withdrawal.kind = NoticeKind.WITHDRAWAL;
        Assert.Null(Escalations.NextDue(withdrawal, settings));
        var held = First();
        held.policeHold = true;
        Assert.Null(Escalations.NextDue(held, settings));
        settings.Enabled = false;
        Assert.Null(Escalations.NextDue(First(), settings));
    }

    [Fact]
    public void The_longest_domain_suffix_names_the_recipient_and_an_unknown_one_gives_none()
    {
        var settings = Ladder();
        settings.Registrars["ladder.example"] = new() { Name = "Closer registrar", Address = "abuse@closer.example" };
        var registrar = new TakedownOptions.EscalationStep { Role = RecipientRole.REGISTRAR, After = TimeSpan.FromDays(4) };
        var owner = new TakedownOptions.EscalationStep { Role = RecipientRole.SITE_OWNER, After = TimeSpan.FromDays(2) };
        Assert.Equal("abuse@closer.example", Escalations.Recipient(registrar, "https://files.ladder.example/a.jpg", settings)!.address);
        Assert.Equal("abuse@registrar.example", Escalations.Recipient(registrar, "https://other.example/a.jpg", settings)!.address);
        Assert.Null(Escalations.Recipient(registrar, "https://other.test/a.jpg", settings));
        Assert.Null(Escalations.Recipient(owner, "https://other.example/a.jpg", settings));
        settings.Authority = null;
        Assert.Null(Escalations.Recipient(new() { Role = RecipientRole.AUTHORITY, After = TimeSpan.FromDays(7) }, "https://other.example/a.jpg", settings));
    }

    [Fact]
    public void The_defaults_are_site_owner_registrar_authority_at_2_4_and_7_days()
    {
        Assert.Equal([(RecipientRole.SITE_OWNER, TimeSpan.FromDays(2)), (RecipientRole.REGISTRAR, TimeSpan.FromDays(4)), (RecipientRole.AUTHORITY, TimeSpan.FromDays(7))],
            new TakedownOptions().Escalation.EffectiveSteps.Select(s => (s.Role, s.After)));
    }

    [Fact]
    public void Invalid_escalation_settings_name_the_setting_and_the_fix()
    {
        var o = new TakedownOptions { SenderOrganisation = "Example Hotline", SenderContact = "notices@hotline.example" };
        o.Escalation.Steps = [new() { Role = RecipientRole.HOSTER, After = TimeSpan.FromDays(2) }, new() { Role = RecipientRole.AUTHORITY, After = TimeSpan.FromDays(1) }];
        o.Escalation.Authority = new() { Address = "not-an-address" };
        o.Escalation.Registrars["bad suffix"] = new() { Address = "abuse@registrar.example" };
        var result = new TakedownOptionsValidator().Validate(null, o);
        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains(failures, f => f.StartsWith("Takedown:Escalation:Steps:0:Role", StringComparison.Ordinal) && f.Contains("Fix:", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Takedown:Escalation:Steps:1:After", StringComparison.Ordinal) && f.Contains("Fix:", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Takedown:Escalation:Authority:Address", StringComparison.Ordinal) && f.Contains("Fix:", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Takedown:Escalation:Registrars:bad suffix", StringComparison.Ordinal) && f.Contains("Fix:", StringComparison.Ordinal));
        o.Escalation.Enabled = false;
        Assert.True(new TakedownOptionsValidator().Validate(null, o).Succeeded);
    }
}
