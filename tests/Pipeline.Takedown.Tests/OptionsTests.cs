namespace Pipeline.Takedown.Tests;

public class OptionsTests
{
    [Fact]
    public void A_missing_smtp_relay_and_a_user_without_password_are_named_with_their_fix()
    {
        var o = new DeliveryOptions();
        o.Smtp.Username = "notices";
        var result = new DeliveryOptionsValidator().Validate(null, o);
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("Takedown:Delivery:Smtp:Host is not set. Fix:", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("Takedown__Delivery__Smtp__Password", StringComparison.Ordinal));
    }

    [Fact]
    public void Relookup_attempts_outside_1_to_5_are_named_with_their_fix()
    {
        var o = new DeliveryOptions { Smtp = { Host = "smtp.hotline.example" }, Relookup = { Attempts = 0 } };
        var result = new DeliveryOptionsValidator().Validate(null, o);
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("Takedown:Delivery:Relookup:Attempts 0 is outside 1..5. Fix:", StringComparison.Ordinal));
        o.Relookup.Attempts = 2;
        Assert.True(new DeliveryOptionsValidator().Validate(null, o).Succeeded);
    }

    [Fact]
    public void Backoff_doubles_up_to_the_cap()
    {
        var o = new DeliveryOptions { InitialBackoff = TimeSpan.FromMinutes(1), MaxBackoff = TimeSpan.FromMinutes(10) };
        Assert.Equal([1, 2, 4, 8, 10, 10], Enumerable.Range(1, 6).Select(a => o.Backoff(a).TotalMinutes));
    }

    [Fact]
    public void A_reminder_interval_in_days_by_mistake_and_a_negative_count_are_named_with_their_fix()
    {
        var o = new TakedownOptions { SenderOrganisation = "Example Hotline", SenderContact = "notices@hotline.example" };
        o.Reminders.Interval = TimeSpan.FromDays(24); // "24:00:00" binds as 24 days
        o.Reminders.MaxCount = -1;
        var result = new TakedownOptionsValidator().Validate(null, o);
        Assert.True(result.Failed);
        Assert.Equal(2, result.Failures!.Count());
        Assert.Contains(result.Failures!, f => f.StartsWith("Takedown:Reminders:Interval 24.00:00:00 must lie between 1 minute and 7 days. Fix: use 1.00:00:00", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Takedown:Reminders:MaxCount -1 must lie between 0 (no reminders) and 100. Fix:", StringComparison.Ordinal));
        Assert.True(new TakedownOptionsValidator().Validate(null, new TakedownOptions { SenderOrganisation = "Example Hotline", SenderContact = "notices@hotline.example" }).Succeeded);
    }

    [Fact]
    public void A_sender_that_xarf_cannot_carry_is_named_with_its_fix()
    {
        var o = new TakedownOptions { SenderOrganisation = new string('x', 201), SenderContact = "notices@hotline.example", SenderDomain = "hotline example" };
        var result = new TakedownOptionsValidator().Validate(null, o);
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("Takedown:SenderOrganisation is 201 characters long; X-ARF v4 allows at most 200", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Takedown:SenderDomain 'hotline example' is not a host name", StringComparison.Ordinal) && f.Contains("Fix:", StringComparison.Ordinal));
    }
}
