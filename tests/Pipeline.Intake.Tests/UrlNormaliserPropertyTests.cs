using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Pipeline.Intake;

namespace Pipeline.Intake.Tests;

/// <summary>Idempotence and "never throws" on generated URLs, plus a corpus of hostile ones.</summary>
public class UrlNormaliserPropertyTests
{
    private static readonly string[] Schemes = ["http", "HTTP", "https", "HtTpS", "ftp", "javascript", ""];
    private static readonly string[] Hosts =
    [
        "site.example", "WWW.Site.EXAMPLE", "bücher.example", "BÜCHER.example.", "xn--bcher-kva.example", "exa\u200Bmple.test",
        "192.0.2.7", "0xC0.0.2.7", "3221225991", "0x7f.1", "192.0.2.7.", "[2001:DB8::7]", "[2001:db8:0:0:0:0:0:7]", "[::ffff:192.0.2.7]",
        "user:pw@cdn.test", "@site.example", "пример.example", "例え.test", "ΑΒΓ.example", "a_b.example", "", "%73ite.example",
    ];
    private static readonly string[] Pieces =
    [
        "a", "B", "/", ".", "..", "%2e", "%2E%2e", "%2f", "%2F", "%7e", "%41", "%zz", "%", "%E2%80%8B", "\u200B", "\uFEFF", "ü", "例",
        "?", "#", "&", "=", " ", "\t", "\\", ":", "@", "!", "$", "'", "(", "*", "+", ",", ";", "[", "]", "{", "|", "^", "`", "\"",
        "<", "%00", "\u0000", "\uD83D\uDE00", "\uD800", "~", "-", "_", "//", "/./", "/../",
    ];

    private static Arbitrary<string> Urls()
    {
        var gen =
            from scheme in Gen.Elements(Schemes)
            from sep in Gen.Elements("://", "://", "://", ":/", ":", ":///")
            from host in Gen.Elements(Hosts)
            from port in Gen.Elements("", "", ":80", ":443", ":8080", ":0", ":99999", ":")
            from pieces in Gen.ListOf(Gen.Elements(Pieces))
            select scheme + sep + host + port + "/" + string.Concat(pieces);
        return gen.ToArbitrary();
    }

    [Property(MaxTest = 3000)]
    public Property Normalising_a_key_again_gives_the_same_key() => Prop.ForAll(Urls(), url =>
    {
        if (!UrlNormaliser.TryNormalise(url, out var first, out _, out _)) return true.Label("rejected");
        var again = UrlNormaliser.TryNormalise(first.Key, out var second, out var code, out _);
        return (again && second.Key == first.Key && second.Host == first.Host && !second.UserinfoRemoved)
            .Label($"{url} → {first.Key} → {(again ? second.Key : code)}");
    });

    [Property(MaxTest = 3000)]
    public Property Never_throws_and_always_explains_a_rejection() => Prop.ForAll(Urls(), url =>
    {
        var ok = UrlNormaliser.TryNormalise(url, out var result, out var code, out var message);
        return ok ? result.Key.Length > 0 && result.Key.All(c => c > 0x20 && c < 0x7F) : code.Length > 0 && message.Length > 0;
    });

    [Property(MaxTest = 2000)]
    public bool Never_throws_on_arbitrary_strings(string? url)
    {
        UrlNormaliser.TryNormalise(url, out _, out _, out _);
        UrlNormaliser.TryNormalise("http://site.example/" + url, out _, out _, out _);
        return true;
    }

    [Property(MaxTest = 1000)]
    public Property Keys_are_ascii_without_fragment_or_userinfo() => Prop.ForAll(Urls(), url =>
    {
        if (!UrlNormaliser.TryNormalise(url, out var r, out _, out _)) return true;
        var authority = r.Key[(r.Key.IndexOf("://", StringComparison.Ordinal) + 3)..].Split('/')[0];
        return !r.Key.Contains('#', StringComparison.Ordinal) && !authority.Contains('@', StringComparison.Ordinal) && r.Key.StartsWith("http", StringComparison.Ordinal);
    });

    public static TheoryData<string, string> Equivalents => new()
    {
        { "http://0x7f.1/", "http://127.0.0.1/" },
        { "http://127.1/", "http://127.0.0.1/" },
        { "http://0300.0000.0002.0001/a", "http://192.0.2.1/a" },
        { "http://192.0.2.1./a", "http://192.0.2.1/a" },
        { "http://[::ffff:c000:201]/", "http://[::ffff:192.0.2.1]/" },
        { "http://site.example/a/%2e%2e/b", "http://site.example/b" },
        { "http://site.example/a/%2E./b/.%2e/c", "http://site.example/c" },
        { "http://site.example/../../a", "http://site.example/a" },
        { "http://exa\u200Bmple.test/p\u200Bq", "http://example.test/pq" },
        { "http://example.test/p%E2%80%8Bq", "http://example.test/pq" },
        { "\uFEFF http://site.example/a\u00AD", "http://site.example/a" },
        { "http://si\nte.exam\tple/a\r", "http://site.example/a" },
        { "http://site.example/a%2fb", "http://site.example/a%2Fb" },
        { "http://site.example/%7Euser/%5f", "http://site.example/~user/_" },
        { "http://site.example/a b", "http://site.example/a%20b" },
        { "http://site.example/ü?q=ä", "http://site.example/%C3%BC?q=%C3%A4" },
        { "http://site.example/a%zz%", "http://site.example/a%25zz%25" },
        { "http://site.example/a\\b", "http://site.example/a/b" },
        { "HTTP://USER:PW@BÜCHER.EXAMPLE.:80/#x", "http://xn--bcher-kva.example/" },
    };

    [Theory]
    [MemberData(nameof(Equivalents))]
    public void Hostile_spellings_give_the_canonical_key(string url, string key)
    {
        Assert.True(UrlNormaliser.TryNormalise(url, out var r, out var code, out var message), $"{code}: {message}");
        Assert.Equal(key, r.Key);
    }

    [Fact]
    public void Percent_encoded_slash_is_not_a_path_separator()
    {
        Assert.True(UrlNormaliser.TryNormalise("http://site.example/a%2Fb", out var encoded, out _, out _));
        Assert.True(UrlNormaliser.TryNormalise("http://site.example/a/b", out var plain, out _, out _));
        Assert.NotEqual(plain.Key, encoded.Key);
    }

    [Theory]
    [InlineData(65_536)]
    [InlineData(1_000_000)]
    public void Huge_urls_are_rejected_or_normalised_without_throwing(int length)
    {
        var url = "http://site.example/" + new string('a', length);
        var ok = UrlNormaliser.TryNormalise(url, out var r, out var code, out _);
        Assert.True(ok ? r.Key.Length >= length : code == "URL_UNPARSABLE");
        var hostile = "http://" + string.Concat(Enumerable.Repeat("%2e%2e/\u200B例", length / 12));
        UrlNormaliser.TryNormalise(hostile, out _, out _, out _);
        UrlNormaliser.TryNormalise("http://site.example/" + string.Concat(Enumerable.Repeat("%2e%2e%2f", length / 9)), out _, out _, out _);
    }

    [Theory]
    [InlineData("http://пример.example/а", "http://xn--e1afmkfd.example/%D0%B0")]
    public void Mixed_scripts_become_punycode(string url, string key)
    {
        Assert.True(UrlNormaliser.TryNormalise(url, out var r, out _, out _));
        Assert.Equal(key, r.Key);
    }

    [Fact]
    public void Upper_and_lower_case_greek_hosts_give_one_key()
    {
        Assert.True(UrlNormaliser.TryNormalise("http://ΑΒΓ.example/", out var upper, out _, out _));
        Assert.True(UrlNormaliser.TryNormalise("http://αβγ.example/", out var lower, out _, out _));
        Assert.Equal(lower.Key, upper.Key);
        Assert.StartsWith("http://xn--", upper.Key, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://", "URL_UNPARSABLE")]
    [InlineData("http:///a", "URL_UNPARSABLE")]
    [InlineData("http://[2001:db8::zz]/", "URL_UNPARSABLE")]
    [InlineData("http://site..example/", "URL_UNPARSABLE")]
    [InlineData("data:text/html,x", "URL_SCHEME_NOT_ALLOWED")]
    [InlineData("\u200B", "URL_MISSING")]
    public void Hostile_urls_are_rejected_with_a_reason(string url, string expected)
    {
        Assert.False(UrlNormaliser.TryNormalise(url, out _, out var code, out var message));
        Assert.Contains(code, new[] { expected, "URL_HOST_INVALID", "URL_UNPARSABLE", "URL_NO_HOST" });
        Assert.NotEmpty(message);
    }
}
