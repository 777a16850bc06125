using System.Text.Json;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Takedown;

namespace Pipeline.Services.Tests;

using Classification = Pipeline.Contracts.Classification;

public class NoticeComposerTests
{
    private static readonly DateTime IssuedAt = Fixtures.T0.AddMinutes(5);

    private static NoticeComposer Composer() => new(new TakedownOptions
    {
        Deadline = TimeSpan.FromHours(24),
        SenderOrganisation = "Example Hotline",
        SenderContact = "notices@hotline.example",
        SenderDomain = "hotline.example",
    });

    private static JsonElement Xarf(TakedownNotice notice) => JsonDocument.Parse(notice.xarf).RootElement.Clone();

    [Fact]
    public void Notice_id_is_deterministic_for_the_same_case_and_sequence()
    {
        var first = Composer().Compose(Fixtures.Requested(), IssuedAt);
        var again = Composer().Compose(Fixtures.Requested(), IssuedAt.AddHours(1));
        Assert.Equal(first.noticeId, again.noticeId);
        Assert.Equal(EventIds.Derive("notice", Fixtures.CaseKey, "0"), first.noticeId);
        Assert.Equal(first.eventId, again.eventId);
    }

    [Fact]
    public void Another_sequence_is_another_notice_and_a_reminder()
    {
        var first = Composer().Compose(Fixtures.Requested(), IssuedAt);
        var reminder = Composer().Compose(Fixtures.Requested(), IssuedAt, sequence: 1);
        Assert.NotEqual(first.noticeId, reminder.noticeId);
        Assert.NotEqual(first.eventId, reminder.eventId);
        Assert.Equal(NoticeKind.FIRST, first.kind);
        Assert.Equal(NoticeKind.REMINDER, reminder.kind);
        Assert.Equal(1, reminder.sequence);
    }

    [Fact]
    public void Same_request_and_time_give_the_same_notice()
    {
        var a = Composer().Compose(Fixtures.Requested(), IssuedAt);
        var b = Composer().Compose(Fixtures.Requested(), IssuedAt);
        Assert.Equal(a.xarf, b.xarf);
        Assert.Equal(a.text, b.text);
    }

    [Fact]
    public void Deadline_is_issue_time_plus_the_configured_deadline()
    {
        var notice = Composer().Compose(Fixtures.Requested(), IssuedAt);
        Assert.Equal(new DateTime(2025, 3, 2, 12, 5, 0, DateTimeKind.Utc), notice.deadline);
        Assert.Equal(IssuedAt, notice.issuedAt);
        Assert.Equal(IssuedAt, notice.timeline.noticeSentAt);
        Assert.Equal(Fixtures.T0, notice.timeline.receivedAt);
    }

    [Fact]
    public void Notice_carries_the_url_hoster_and_report_ids()
    {
        var notice = Composer().Compose(Fixtures.Requested(), IssuedAt);
        Assert.Equal(Fixtures.CaseKey, notice.url);
        Assert.Equal("hoster-a", notice.hosterId);
        Assert.Equal(["192.0.2.10"], notice.ips);
        Assert.Equal(64496L, notice.asn);
        Assert.Equal("NL", notice.country);
        Assert.Equal(["nl-2025-000001"], notice.reportIds);
        Assert.Equal("abuse@hoster-a.example", notice.recipient.address);
        Assert.Equal(NoticeChannel.EMAIL, notice.recipient.channel);
        Assert.Equal("Hoster A", notice.recipient.name);
    }

    [Fact]
    public void Xarf_is_version_4_content_csam()
    {
        var xarf = Xarf(Composer().Compose(Fixtures.Requested(), IssuedAt));
        Assert.StartsWith("4.", xarf.GetProperty("xarf_version").GetString(), StringComparison.Ordinal);
        Assert.Equal("content", xarf.GetProperty("category").GetString());
        Assert.Equal("csam", xarf.GetProperty("type").GetString());
        Assert.Equal(Fixtures.CaseKey, xarf.GetProperty("url").GetString());
        Assert.Equal(Fixtures.Host, xarf.GetProperty("domain").GetString());
        Assert.Equal("192.0.2.10", xarf.GetProperty("source_identifier").GetString());
        Assert.Equal(64496, xarf.GetProperty("asn").GetInt64());
        Assert.Equal("NL", xarf.GetProperty("country_code").GetString());
        Assert.Equal("Example Hotline", xarf.GetProperty("reporter").GetProperty("org").GetString());
        Assert.False(xarf.GetProperty("content_removed").GetBoolean());
    }

    [Fact]
    public void Xarf_report_id_and_timestamp_are_the_notice_id_and_issue_time()
    {
        var notice = Composer().Compose(Fixtures.Requested(), IssuedAt);
        var xarf = Xarf(notice);
        Assert.Equal(notice.noticeId, xarf.GetProperty("report_id").GetString());
        Assert.Equal(IssuedAt, xarf.GetProperty("timestamp").GetDateTime().ToUniversalTime());
    }

    [Fact]
    public void Xarf_hash_values_carry_the_report_hashes()
    {
        var hashes = Xarf(Composer().Compose(Fixtures.Requested(), IssuedAt)).GetProperty("hash_values");
        Assert.Equal(Fixtures.Sha256, hashes.GetProperty("sha256").GetString());
        Assert.Equal(Fixtures.Sha1, hashes.GetProperty("sha1").GetString());
        Assert.Equal(Fixtures.Md5, hashes.GetProperty("md5").GetString());
    }

    [Theory]
    [InlineData(true, "hash_match")]
    [InlineData(false, "manual_review")]
    public void Detection_method_is_hash_match_only_when_a_bank_matched(bool withMatches, string method)
    {
        var notice = Composer().Compose(Fixtures.Requested(withMatches: withMatches, assessment: Fixtures.Assessment(Classification.BASELINE)), IssuedAt);
        Assert.Equal(method, notice.detectionMethod);
        Assert.Equal(method, Xarf(notice).GetProperty("detection_method").GetString());
    }

    [Theory]
    [InlineData(null, Classification.BASELINE, "baseline")]
    [InlineData(Classification.BASELINE, Classification.BASELINE, "baseline")]
    [InlineData(Classification.NATIONAL, Classification.NATIONAL, "baseline")] // X-ARF has no "national": tagged legal:national-law (XarfConformanceTests)
    public void Classification_follows_the_assessment(Classification? assessed, Classification expected, string inXarf)
    {
        var notice = Composer().Compose(Fixtures.Requested(assessment: assessed is { } c ? Fixtures.Assessment(c) : null), IssuedAt);
        Assert.Equal(expected, notice.classification);
        Assert.Equal(inXarf, Xarf(notice).GetProperty("classification").GetString());
    }

    [Fact]
    public void Xarf_carries_no_media_or_evidence_payload()
    {
        var xarf = Xarf(Composer().Compose(Fixtures.Requested(), IssuedAt));
        if (xarf.TryGetProperty("evidence", out var evidence))
            Assert.Equal(0, evidence.GetArrayLength());
        string[] forbidden = ["media", "image", "images", "attachment", "attachments", "screenshot", "payload", "content_base64", "evidence_data"];
        Assert.All(Names(xarf), name => Assert.DoesNotContain(name, forbidden));
        Assert.All(Strings(xarf), s => Assert.True(s.Length < 1000, "a long string value may be an encoded payload"));

        static IEnumerable<string> Names(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.Object => e.EnumerateObject().SelectMany(p => Names(p.Value).Prepend(p.Name)),
            JsonValueKind.Array => e.EnumerateArray().SelectMany(Names),
            _ => [],
        };
        static IEnumerable<string> Strings(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.Object => e.EnumerateObject().SelectMany(p => Strings(p.Value)),
            JsonValueKind.Array => e.EnumerateArray().SelectMany(Strings),
            JsonValueKind.String => [e.GetString()!],
            _ => [],
        };
    }

    [Fact]
    public void Text_names_the_url_the_hash_and_the_deadline()
    {
        var text = Composer().Compose(Fixtures.Requested(), IssuedAt).text;
        Assert.Contains("URL: " + Fixtures.CaseKey, text, StringComparison.Ordinal);
        Assert.Contains("SHA-256: " + Fixtures.Sha256, text, StringComparison.Ordinal);
        Assert.Contains("before 2025-03-02 12:05 UTC", text, StringComparison.Ordinal);
        Assert.Contains("To: Hoster A <abuse@hoster-a.example>", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Xarf_description_names_the_deadline() =>
        Assert.Contains("2025-03-02 12:05 UTC", Xarf(Composer().Compose(Fixtures.Requested(), IssuedAt)).GetProperty("description").GetString(), StringComparison.Ordinal);

    [Theory]
    [InlineData(false, RecipientRole.HOSTER)]
    [InlineData(true, RecipientRole.CDN)]
    public void Recipient_role_is_cdn_when_the_host_is_behind_a_cdn(bool behindCdn, RecipientRole role) =>
        Assert.Equal(role, Composer().Compose(Fixtures.Requested(Fixtures.Hosting(behindCdn: behindCdn)), IssuedAt).recipient.role);

    [Fact]
    public void Behind_a_cdn_the_cdn_is_asked_to_disclose_the_origin()
    {
        var notice = Composer().Compose(Fixtures.Requested(Fixtures.Hosting(behindCdn: true)), IssuedAt);
        Assert.Contains("disclose the origin server", notice.text, StringComparison.Ordinal);
    }

    [Fact]
    public void Behind_a_cdn_with_a_known_origin_the_origin_hoster_is_addressed()
    {
        var hosting = Fixtures.Hosting(behindCdn: true);
        hosting.cdnName = "Edge CDN (example)";
        hosting.cdnAbuseContact = new AbuseContact { address = "abuse@edge-cdn.example", channel = NoticeChannel.EMAIL, foundVia = "directory", approved = true };
        var notice = Composer().Compose(Fixtures.Requested(hosting), IssuedAt);
        Assert.Equal(RecipientRole.HOSTER, notice.recipient.role);
        Assert.Equal(hosting.abuseContact!.address, notice.recipient.address);
        Assert.DoesNotContain("disclose the origin server", notice.text, StringComparison.Ordinal);
    }

    [Fact]
    public void Request_without_abuse_contact_cannot_be_composed() =>
        Assert.Throws<InvalidOperationException>(() => Composer().Compose(Fixtures.Requested(Fixtures.Hosting(withAbuseContact: false)), IssuedAt));
}
