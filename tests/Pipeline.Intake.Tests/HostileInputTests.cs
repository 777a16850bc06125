using System.Security.Cryptography;
using System.Text;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Intake.Tests;

/// <summary>Hostile input never stops, slows or splits intake (issue 15).</summary>
public class HostileInputTests
{
    /// <summary>Just below the producer's message.max.bytes (1,000,000 including key): the largest record a hotline
    /// system can put on reports.submitted. A rejection or dead letter carrying it whole plus its envelope would not fit.</summary>
    private const int NearKafkasLimit = 999_900;

    [Fact]
    public async Task A_record_near_Kafkas_limit_is_rejected_or_dead_lettered_by_reference_and_intake_goes_on()
    {
        await using var h = await IntakeHarness.StartAsync();
        await h.StartIntakeAsync();
        var rejected = h.Reader<ReportRejected>(Topics.ReportsRejected);
        var deadLetters = h.Reader<DeadLetter>(Topics.DeadLetter(IntakeService.Stage));
        var accepted = h.Reader<ReportAccepted>(Topics.ReportsAccepted);

        // A valid Avro report whose URL is far too long (URL_TOO_LONG), and junk that is not Avro at all (dead letter),
        // both as large as Kafka takes; then a good report on the same partitions (same keys).
        var big = IntakeHarness.Submitted("big", "http://files.example/");
        var bytes = await h.Serdes.SerializeAsync(big, Topics.ReportsSubmitted);
        big.report.url += new string('a', NearKafkasLimit - bytes.Length);
        bytes = await h.Serdes.SerializeAsync(big, Topics.ReportsSubmitted);
        big.report.url = big.report.url[..^(bytes.Length - NearKafkasLimit)];
        bytes = await h.Serdes.SerializeAsync(big, Topics.ReportsSubmitted);
        Assert.InRange(bytes.Length, NearKafkasLimit - 2, NearKafkasLimit);
        var junk = RandomNumberGenerator.GetBytes(NearKafkasLimit);
        junk[0] = 0xFF; // no Confluent magic byte
        await h.Publisher.PublishRawAsync(Topics.ReportsSubmitted, Encoding.UTF8.GetBytes("k1"), bytes);
        await h.Publisher.PublishRawAsync(Topics.ReportsSubmitted, Encoding.UTF8.GetBytes("k2"), junk);
        var good1 = IntakeHarness.Submitted("good-1", "http://files.example/good-1.jpg");
        var good2 = IntakeHarness.Submitted("good-2", "http://files.example/good-2.jpg");
        await h.Publisher.PublishRawAsync(Topics.ReportsSubmitted, Encoding.UTF8.GetBytes("k1"), await h.Serdes.SerializeAsync(good1, Topics.ReportsSubmitted));
        await h.Publisher.PublishRawAsync(Topics.ReportsSubmitted, Encoding.UTF8.GetBytes("k2"), await h.Serdes.SerializeAsync(good2, Topics.ReportsSubmitted));

        await accepted.ReadUntilAsync(r => r.Count >= 2, TimeSpan.FromSeconds(120));
        var rejection = (await rejected.ReadUntilAsync(r => r.Count >= 1, TimeSpan.FromSeconds(120))).Single().Value;
        Assert.Equal("URL_TOO_LONG", rejection.reasonCode);
        Assert.Equal(bytes.Length, rejection.originalPayloadLength);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), rejection.originalPayloadSha256);
        Assert.True(rejection.originalPayload.Length is > 0 and <= 900_000);
        Assert.True(bytes.AsSpan().StartsWith(rejection.originalPayload));

        var dead = (await deadLetters.ReadUntilAsync(r => r.Count >= 1, TimeSpan.FromSeconds(120))).Single().Value;
        Assert.Equal(junk.Length, dead.valueLength);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(junk)), dead.valueSha256);
        Assert.True(junk.AsSpan().StartsWith(dead.value));
        Assert.Equal("k2", Encoding.UTF8.GetString(dead.key));
        Assert.Null(dead.keyLength);

        // A small rejection still keeps the exact bytes, whole.
        var small = IntakeHarness.Submitted("small", "ftp://files.example/a.jpg");
        var smallBytes = await h.Serdes.SerializeAsync(small, Topics.ReportsSubmitted);
        await h.Publisher.PublishRawAsync(Topics.ReportsSubmitted, Encoding.UTF8.GetBytes("k3"), smallBytes);
        var whole = (await rejected.ReadUntilAsync(r => r.Count >= 2, TimeSpan.FromSeconds(120)))[1].Value;
        Assert.Equal(smallBytes, whole.originalPayload);
        Assert.Null(whole.originalPayloadLength);
        Assert.Null(whole.originalPayloadSha256);
    }
}

/// <summary>Hosts as the WHATWG URL standard parses them: UTS #46 mapping, then punycode; numbers are IPv4 or invalid.</summary>
public class UrlHostTests
{
    [Theory]
    [InlineData("http://ｅｘａｍｐｌｅ.test/a", "http://example.test/a")]
    [InlineData("http://ﬁle.test/a", "http://file.test/a")]
    [InlineData("http://ẞ.test/a", "http://ss.test/a")]
    [InlineData("http://ß.test/a", "http://xn--zca.test/a")]
    [InlineData("http://ⓔⓧⓐⓜⓟⓛⓔ.test/a", "http://example.test/a")]
    [InlineData("http://ⒺⓍⒶⓂⓅⓁⒺ.test/a", "http://example.test/a")]
    [InlineData("http://example。test/a", "http://example.test/a")]
    [InlineData("http://0x7f.1/a", "http://127.0.0.1/a")]
    [InlineData("http://0300.0250.0.1/a", "http://192.168.0.1/a")]
    [InlineData("http://3221225985/a", "http://192.0.2.1/a")]
    [InlineData("http://192.0.2.1./a", "http://192.0.2.1/a")]
    [InlineData("http://files.example.0x7g/a", "http://files.example.0x7g/a")]
    public void Hosts_map_like_WHATWG(string url, string key)
    {
        Assert.True(UrlNormaliser.TryNormalise(url, out var result, out var code, out var message), $"{code}: {message}");
        Assert.Equal(key, result.Key);
    }

    [Theory]
    [InlineData("http://4294967296/a", "URL_HOST_INVALID")]
    [InlineData("http://192.0.2.999/a", "URL_HOST_INVALID")]
    [InlineData("http://192.0.2.09/a", "URL_HOST_INVALID")]
    [InlineData("http://192.0.2.4.5/a", "URL_HOST_INVALID")]
    [InlineData("http://files.example.123/a", "URL_HOST_INVALID")]
    [InlineData("http://ｅｘａｍｐｌｅ／.test/a", "URL_HOST_INVALID")]
    [InlineData("http://[fe80::1%25eth0]/a", "URL_IPV6_ZONE_ID")]
    public void Invalid_hosts_are_refused_with_a_reason(string url, string expected)
    {
        Assert.False(UrlNormaliser.TryNormalise(url, out _, out var code, out var message));
        Assert.True(expected == code, $"{url}: expected {expected}, got {code} ({message})");
    }
}
