using FsCheck.Xunit;
using Pipeline.Intake;

namespace Pipeline.Services.Tests;

public class UrlNormaliserTests
{
    private static UrlNormaliser.Result Normalise(string url)
    {
        Assert.True(UrlNormaliser.TryNormalise(url, out var result, out var code, out var message), $"{url}: {code} {message}");
        return result;
    }

    private static string RejectionCode(string? url)
    {
        Assert.False(UrlNormaliser.TryNormalise(url, out _, out var code, out var message), $"{url} was accepted");
        Assert.NotEmpty(message);
        return code;
    }

    [Fact]
    public void Scheme_and_host_are_lower_cased_but_the_path_is_not() =>
        Assert.Equal("http://www.site.example/Gallery/IMG.jpg", Normalise("HTTP://WWW.Site.EXAMPLE/Gallery/IMG.jpg").Key);

    [Fact]
    public void The_host_is_reported_separately_in_lower_case() =>
        Assert.Equal("www.site.example", Normalise("https://WWW.Site.Example/a").Host);

    [Theory]
    [InlineData("http://site.example:80/a", "http://site.example/a")]
    [InlineData("https://site.example:443/a", "https://site.example/a")]
    public void Default_port_is_dropped(string url, string key) => Assert.Equal(key, Normalise(url).Key);

    [Theory]
    [InlineData("http://site.example:8080/a", "http://site.example:8080/a")]
    [InlineData("https://site.example:80/a", "https://site.example:80/a")]
    public void Non_default_port_is_kept(string url, string key) => Assert.Equal(key, Normalise(url).Key);

    [Fact]
    public void Fragment_is_dropped_and_query_kept() =>
        Assert.Equal("http://site.example/a?b=1&c=2", Normalise("http://site.example/a?b=1&c=2#frag").Key);

    [Fact]
    public void Dot_segments_are_resolved() =>
        Assert.Equal("http://site.example/a/c/d", Normalise("http://site.example/a/b/../c/./d").Key);

    [Fact]
    public void Empty_path_becomes_slash() => Assert.Equal("http://site.example/", Normalise("http://site.example").Key);

    [Fact]
    public void Idn_host_becomes_punycode()
    {
        var result = Normalise("http://bücher.example/");
        Assert.Equal("http://xn--bcher-kva.example/", result.Key);
        Assert.Equal("xn--bcher-kva.example", result.Host);
    }

    [Fact]
    public void Upper_case_idn_host_gives_the_same_key_as_lower_case() =>
        Assert.Equal(Normalise("http://bücher.example/").Key, Normalise("http://BÜCHER.EXAMPLE/").Key);

    [Theory]
    [InlineData("http://192.0.2.1/a", "http://192.0.2.1/a")]
    [InlineData("http://0xC0.0.2.1/a", "http://192.0.2.1/a")]
    [InlineData("http://3221225985/a", "http://192.0.2.1/a")]
    public void Ipv4_literal_is_canonical(string url, string key)
    {
        var result = Normalise(url);
        Assert.Equal(key, result.Key);
        Assert.Equal("192.0.2.1", result.Host);
    }

    [Theory]
    [InlineData("http://[2001:DB8:0:0:0:0:0:1]/a", "http://[2001:db8::1]/a")]
    [InlineData("http://[2001:db8:0::1]:8080/a", "http://[2001:db8::1]:8080/a")]
    public void Ipv6_literal_is_canonical_in_brackets(string url, string key)
    {
        var result = Normalise(url);
        Assert.Equal(key, result.Key);
        Assert.Equal("[2001:db8::1]", result.Host);
    }

    [Fact]
    public void Trailing_dot_of_the_host_is_dropped()
    {
        var result = Normalise("http://site.example./a");
        Assert.Equal("http://site.example/a", result.Key);
        Assert.Equal("site.example", result.Host);
    }

    [Fact]
    public void Userinfo_is_removed_and_flagged()
    {
        var result = Normalise("http://user:secret@site.example/a");
        Assert.Equal("http://site.example/a", result.Key);
        Assert.True(result.UserinfoRemoved);
    }

    [Fact]
    public void Url_without_userinfo_is_not_flagged() => Assert.False(Normalise("http://site.example/a").UserinfoRemoved);

    [Fact]
    public void Percent_encoded_unreserved_characters_are_decoded() =>
        Assert.Equal("http://site.example/~user/Ab", Normalise("http://site.example/%7euser/%41b").Key);

    // Regression: %2f and %2F are equivalent (RFC 3986 §6.2.2, first rule) and must give one case key.
    [Fact]
    public void Percent_encoding_case_does_not_change_the_key() =>
        Assert.Equal(Normalise("http://site.example/a%2Fb").Key, Normalise("http://site.example/a%2fb").Key);

    [Fact]
    public void Surrounding_whitespace_is_ignored() =>
        Assert.Equal("http://site.example/a", Normalise("  http://site.example/a \t").Key);

    [Theory]
    [InlineData("ftp://site.example/file.jpg")]
    [InlineData("javascript:alert(1)")]
    [InlineData("mailto:abuse@site.example")]
    [InlineData("file:///etc/passwd")]
    public void Other_schemes_are_rejected(string url) => Assert.Equal("URL_SCHEME_NOT_ALLOWED", RejectionCode(url));

    [Theory]
    [InlineData("site.example/a.jpg")]
    [InlineData("gallery/a.jpg")]
    public void Relative_urls_are_unparsable(string url) => Assert.Equal("URL_UNPARSABLE", RejectionCode(url));

    [Theory]
    [InlineData("/gallery/a.jpg")]
    [InlineData("//site.example/a.jpg")]
    public void Rooted_and_scheme_relative_urls_are_rejected(string url)
    {
        // Uri reads these as file: URIs (a Unix path, a UNC path), so the reason given is the scheme, not "relative".
        Assert.Contains(RejectionCode(url), new[] { "URL_UNPARSABLE", "URL_SCHEME_NOT_ALLOWED" });
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Empty_url_is_missing(string? url) => Assert.Equal("URL_MISSING", RejectionCode(url));

    [Property(MaxTest = 1000)]
    public bool Normalising_the_key_again_yields_the_same_key(string? tail, bool https, byte hostChoice, bool withPort, ushort port)
    {
        string[] hosts = ["WWW.Site.Example", "bücher.example", "192.0.2.7", "[2001:DB8::7]", "site.example.", "user:pw@cdn.test", "0xC0.0.2.1"];
        var url = $"{(https ? "HTTPS" : "http")}://{hosts[hostChoice % hosts.Length]}{(withPort ? ":" + port : "")}/{tail}";
        if (!UrlNormaliser.TryNormalise(url, out var first, out _, out _)) return true;
        return UrlNormaliser.TryNormalise(first.Key, out var second, out _, out _) && second.Key == first.Key && second.Host == first.Host;
    }

    [Property(MaxTest = 1000)]
    public void Never_throws_on_arbitrary_strings(string? url) => UrlNormaliser.TryNormalise(url, out _, out _, out _);

    [Property(MaxTest = 1000)]
    public void Never_throws_on_arbitrary_http_urls(string? rest) => UrlNormaliser.TryNormalise("http://" + rest, out _, out _, out _);
}
