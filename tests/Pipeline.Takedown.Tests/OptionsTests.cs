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
    public void Backoff_doubles_up_to_the_cap()
    {
        var o = new DeliveryOptions { InitialBackoff = TimeSpan.FromMinutes(1), MaxBackoff = TimeSpan.FromMinutes(10) };
        Assert.Equal([1, 2, 4, 8, 10, 10], Enumerable.Range(1, 6).Select(a => o.Backoff(a).TotalMinutes));
    }
}
