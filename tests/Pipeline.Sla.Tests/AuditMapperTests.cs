using System.Text.RegularExpressions;
using Pipeline.Audit;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Sla.Tests;

/// <summary>The audit log's records: one per decision, named by the case token, with nothing that identifies a URL,
/// host, address, hash or person.</summary>
public sealed class AuditMapperTests
{
    private static readonly byte[] Key = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    private static readonly AuditMapper Mapper = new(new CaseTokens(Key));
    private const string Url = "https://media.hoster-a.example/gallery/7f3a.jpg";

    [Fact]
    public void A_case_token_is_the_same_for_the_same_case_and_key_and_reveals_nothing_of_the_url()
    {
        var tokens = new CaseTokens(Key);
        var token = tokens.Of(Url);
        Assert.Matches(new Regex("^ct-[a-z2-7]{26}$"), token);
        Assert.Equal(token, new CaseTokens(Key.ToArray()).Of(Url));
        Assert.NotEqual(token, tokens.Of(Url + "?x=1"));
        Assert.NotEqual(token, new CaseTokens(Enumerable.Repeat((byte)7, 32).ToArray()).Of(Url)); // another key, another token
        Assert.DoesNotContain("hoster", token, StringComparison.Ordinal);
    }

    [Fact]
    public void A_notice_becomes_one_record_with_its_token_notice_reports_and_hosting_but_no_url_address_or_hash()
    {
        var notice = History.Notice("hoster-a", Url, History.T0);
        var record = Mapper.Map(notice, Topics.NoticesIssued, "takedown");

        Assert.NotNull(record);
        Assert.Equal("notice.issued", record.action);
        Assert.Equal(new CaseTokens(Key).Of(Url), record.caseToken);
        Assert.Equal(notice.noticeId, record.noticeId);
        Assert.Equal(notice.reportIds, record.reportIds);
        Assert.Equal("stage:takedown", record.actor);
        Assert.Equal(History.T0, record.at);
        Assert.Equal("first", record.details["kind"]);
        Assert.Equal("hoster-a", record.details["hosterId"]);
        Assert.Equal("NL", record.details["country"]);
        Assert.Equal("64500", record.details["asn"]);
        AssertAnonymous(record, Url, "media.hoster-a.example", "192.0.2.10", notice.hashes.sha256, notice.recipient.address);
    }

    [Fact]
    public void A_replayed_event_gives_the_same_record_id_and_another_event_another()
    {
        var notice = History.Notice("hoster-a", Url, History.T0);
        var first = Mapper.Map(notice, Topics.NoticesIssued, "takedown")!;
        var replay = Mapper.Map(notice, Topics.NoticesIssued, "takedown")!;
        var reminder = Mapper.Map(History.Notice("hoster-a", Url, History.T0.AddHours(12), sequence: 1), Topics.NoticesIssued, "takedown")!;

        Assert.Equal(first.eventId, replay.eventId);
        Assert.NotEqual(first.eventId, reminder.eventId);
        Assert.Equal("reminder", reminder.details["kind"]);
        Assert.Equal(first.caseToken, reminder.caseToken);
    }

    [Fact]
    public void Attempts_to_be_retried_and_routine_checks_are_no_decisions_but_their_conclusions_are()
    {
        var notice = History.Notice("hoster-a", Url, History.T0);
        NoticeDelivery Delivery(DeliveryStatus status, int attempt) => new()
        {
            eventId = EventIds.Derive("delivery", notice.noticeId, attempt.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            noticeId = notice.noticeId, caseKey = notice.caseKey, hosterId = notice.hosterId, channel = NoticeChannel.EMAIL,
            address = notice.recipient.address, attempt = attempt, status = status, detail = "550 mailbox abuse@hoster-a.example unavailable",
            at = History.T0.AddMinutes(attempt), notice = notice,
        };
        ContentStatusObserved Check(bool removalConfirmed, bool reappeared) => new()
        {
            eventId = EventIds.Derive("observed", notice.noticeId, removalConfirmed.ToString(), reappeared.ToString()),
            caseKey = notice.caseKey, noticeId = notice.noticeId, url = Url, status = reappeared ? ContentStatus.ONLINE : removalConfirmed ? ContentStatus.REMOVED : ContentStatus.ONLINE,
            httpStatus = removalConfirmed ? 404 : 200, method = ObservationMethod.RECHECK, consecutiveMisses = removalConfirmed ? 3 : 0,
            hosterId = notice.hosterId, observedAt = History.T0.AddHours(2), offlineSince = removalConfirmed ? History.T0.AddHours(1) : null,
            removalConfirmed = removalConfirmed, reappeared = reappeared,
        };

        Assert.Null(Mapper.Map(Delivery(DeliveryStatus.RETRYING, 1), Topics.NoticeDeliveries, "takedown"));
        var failed = Mapper.Map(Delivery(DeliveryStatus.FAILED, 5), Topics.NoticeDeliveries, "takedown")!;
        Assert.Equal("notice.failed", failed.action);
        Assert.Equal("5", failed.details["attempt"]);
        AssertAnonymous(failed, Url, "abuse@hoster-a.example", "550"); // the receiver's answer can quote addresses: left out
        Assert.Equal("notice.delivered", Mapper.Map(Delivery(DeliveryStatus.SENT, 2), Topics.NoticeDeliveries, "takedown")!.action);
        Assert.Equal("notice.cancelled", Mapper.Map(Delivery(DeliveryStatus.CANCELLED, 0), Topics.NoticeDeliveries, "takedown-batching")!.action); // withdrawn before it left: no failure
        var movedDelivery = Delivery(DeliveryStatus.MOVED, 1);
        movedDelivery.detail = "not sent: the re-lookup before sending found the host moved (hoster: now hoster-de, DE)";
        movedDelivery.movedTo = new HostingInfo
        {
            resolved = true, ips = ["203.0.113.9"], asn = 64510, hosterId = "hoster-de", country = "DE",
            resolvedAt = History.T0, sources = ["dns"], countries = ["DE"],
        };
        var moved = Mapper.Map(movedDelivery, Topics.NoticeDeliveries, "takedown-delivery")!;
        Assert.Equal("notice.moved", moved.action);
        Assert.Equal("DE", moved.details["movedToCountry"]);
        Assert.Equal("hoster-de", moved.details["movedToHosterId"]);
        AssertAnonymous(moved, Url, "203.0.113.9", "abuse@hoster-a.example"); // the new address is not kept

        Assert.Null(Mapper.Map(Check(removalConfirmed: false, reappeared: false), Topics.ContentStatus, "recheck"));
        var removed = Mapper.Map(Check(removalConfirmed: true, reappeared: false), Topics.ContentStatus, "recheck")!;
        Assert.Equal("removal.confirmed", removed.action);
        Assert.Equal("2026-03-02T10:00:00.000Z", removed.details["offlineSince"]);
        AssertAnonymous(removed, Url);
        Assert.Equal("content.reappeared", Mapper.Map(Check(removalConfirmed: false, reappeared: true), Topics.ContentStatus, "recheck")!.action);
    }

    [Fact]
    public void A_rejection_names_its_rule_and_a_retraction_its_bank_but_neither_the_payload_nor_the_hash()
    {
        var rejected = Mapper.Map(new ReportRejected
        {
            eventId = "rej-1", caseKey = null, reportId = "r-1", sourceHotline = "nl-hotline", sourceReference = "ref-1",
            reasonCode = "URL_SCHEME_NOT_ALLOWED", message = "scheme ftp of ftp://files.hoster-b.example/x is not allowed",
            originalPayload = System.Text.Encoding.UTF8.GetBytes("{\"url\":\"ftp://files.hoster-b.example/x\",\"reporterContact\":\"someone@mail.example\"}"),
            originTopic = Topics.ReportsSubmitted, originPartition = 0, originOffset = 12, rejectedAt = History.T0,
        }, Topics.ReportsRejected, "intake")!;
        Assert.Equal("report.rejected", rejected.action);
        Assert.Equal("URL_SCHEME_NOT_ALLOWED", rejected.rule);
        Assert.Null(rejected.caseToken);
        Assert.Equal(["r-1"], rejected.reportIds);
        AssertAnonymous(rejected, "hoster-b.example", "someone@mail.example", "ftp://");

        const string hash = "4be1d1d0c3c1a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7";
        var retracted = Mapper.Map(new HashRetracted
        {
            eventId = "ret-1", caseKey = Url, reportId = "r-2", classifiedEventId = "cls-1", bank = "test-bank", algorithm = HashAlgorithm.SHA256,
            value = hash, distance = 0, category = "A1", remainingMatches = 0, matchedAt = History.T0, retractedAt = History.T0.AddDays(3),
        }, Topics.HashesRetractions, "classification")!;
        Assert.Equal("hash.retracted", retracted.action);
        Assert.Equal("test-bank", retracted.details["bank"]);
        Assert.Equal("0", retracted.details["remainingMatches"]);
        AssertAnonymous(retracted, Url, hash);
    }

    [Theory]
    [InlineData(null, "Audit:TokenKey is not set")]
    [InlineData("not base64!", "Audit:TokenKey is not base64")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAA==", "Audit:TokenKey is 16 bytes; it must be at least 32")]
    public void A_missing_or_weak_token_key_is_refused_with_the_setting_and_the_fix(string? key, string expected)
    {
        var validator = new AuditOptionsValidator();
        var result = validator.Validate(null, new AuditOptions { TokenKey = key });
        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Fix: set Audit:TokenKey", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(validator.Validate(null, new AuditOptions { TokenKey = Convert.ToBase64String(Key) }).Succeeded);
    }

    private static void AssertAnonymous(AuditRecord record, params string[] forbidden)
    {
        var texts = new List<string?> { record.caseToken, record.action, record.stage, record.actor, record.rule, record.noticeId, record.sourceTopic, record.sourceEventId };
        texts.AddRange(record.reportIds);
        texts.AddRange(record.details.Keys);
        texts.AddRange(record.details.Values);
        foreach (var text in texts.OfType<string>())
        foreach (var f in forbidden)
            Assert.False(text.Contains(f, StringComparison.OrdinalIgnoreCase), $"audit record {record.action} holds \"{f}\" in \"{text}\"");
    }
}
