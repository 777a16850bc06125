using Pipeline.Contracts;

namespace Pipeline.Takedown.Tests;

public sealed class HostingChangeTests
{
    private static HostingInfo Hosting(string? hoster, string? country, bool resolved = true) => new()
    {
        resolved = resolved, ips = resolved ? ["192.0.2.10"] : [], hosterId = hoster, country = country,
        resolvedAt = new DateTime(2026, 12, 5, 0, 0, 0, DateTimeKind.Utc), sources = ["dns"], countries = country is null ? [] : [country],
    };

    [Fact]
    public void Same_hoster_and_country_is_unchanged_even_with_another_ip()
    {
        var now = Hosting("hoster-a", "NL");
        now.ips = ["192.0.2.99"];
        Assert.Equal(RelookupVerdict.Unchanged, HostingChange.Compare(Hosting("hoster-a", "NL"), now));
    }

    [Fact]
    public void Another_hoster_or_country_is_a_move_and_a_failed_lookup_is_not()
    {
        Assert.Equal(RelookupVerdict.HosterChanged, HostingChange.Compare(Hosting("hoster-a", "NL"), Hosting("hoster-b", "DE")));
        Assert.Equal(RelookupVerdict.CountryChanged, HostingChange.Compare(Hosting("hoster-a", "NL"), Hosting("hoster-a", "DE")));
        Assert.Equal(RelookupVerdict.LookupFailed, HostingChange.Compare(Hosting("hoster-a", "NL"), Hosting(null, null, resolved: false)));
        Assert.Equal(RelookupVerdict.LookupFailed, HostingChange.Compare(Hosting("hoster-a", "NL"), null));
        Assert.Equal("hoster", HostingChange.Reason(RelookupVerdict.HosterChanged));
    }
}
