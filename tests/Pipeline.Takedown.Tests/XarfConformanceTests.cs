using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MimeKit;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown.Tests;

using Classification = Pipeline.Contracts.Classification;
using ContentType = Pipeline.Contracts.ContentType;

/// <summary>
/// Every notice variant the composer produces today — first notice, reminders before and after the deadline, a notice
/// whose authority deadline passed before it went out; baseline, national and each A1/A2/B1/B2 category; DNS, IPv4,
/// IPv6 and punycode hosts; directory and RDAP-only contacts; every content type; e-mail and webhook batches — checked
/// against the X-ARF v4 rules (<see cref="XarfV4Rules"/>), and the rules shown to reject the defects notices had.
/// </summary>
public partial class XarfConformanceTests
{
    private static readonly DateTime T0 = new(2026, 2, 2, 10, 0, 0, DateTimeKind.Utc);

    private static readonly TakedownOptions Options = new()
    {
        Deadline = TimeSpan.FromHours(24),
        SenderOrganisation = "Example Hotline",
        SenderContact = "notices@hotline.example",
        SenderDomain = "hotline.example",
    };

    public enum HostKind { Dns, IPv4, IPv6, Punycode }

    public enum Contact { Directory, RdapOnly }

    /// <summary>How the material was classified: a hash match (no assessment), or an analyst's classification with or
    /// without an A1/A2/B1/B2 category.</summary>
    public static readonly (string Name, Classification? Classification, SeverityCategory Category, string Expected)[] Classes =
    [
        ("hash match", null, SeverityCategory.NOT_DETERMINED, "baseline"),
        ("baseline", Classification.BASELINE, SeverityCategory.NOT_DETERMINED, "baseline"),
        ("baseline A1", Classification.BASELINE, SeverityCategory.A1, "A1"),
        ("baseline A2", Classification.BASELINE, SeverityCategory.A2, "A2"),
        ("baseline B1", Classification.BASELINE, SeverityCategory.B1, "B1"),
        ("baseline B2", Classification.BASELINE, SeverityCategory.B2, "B2"),
        ("national", Classification.NATIONAL, SeverityCategory.NOT_DETERMINED, "baseline"),
        ("national B2", Classification.NATIONAL, SeverityCategory.B2, "B2"),
    ];

    public static TheoryData<HostKind, int, Contact> Variants()
    {
        var data = new TheoryData<HostKind, int, Contact>();
        foreach (var host in Enum.GetValues<HostKind>())
            for (var c = 0; c < Classes.Length; c++)
                foreach (var contact in Enum.GetValues<Contact>())
                    data.Add(host, c, contact);
        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Every_notice_variant_conforms_to_xarf_v4(HostKind host, int classIndex, Contact contact)
    {
        var (_, classification, category, expected) = Classes[classIndex];
        var contentType = Enum.GetValues<ContentType>()[(((int)host * Classes.Length) + classIndex) % Enum.GetValues<ContentType>().Length];
        var request = Request(host, classification, category, contact, contentType);
        var composer = new NoticeComposer(Options);
        var first = composer.Compose(request, T0);
        var reminderBeforeDeadline = NoticeComposer.Reminder(first, T0.AddHours(12));
        var reminderAfterDeadline = NoticeComposer.Reminder(reminderBeforeDeadline, T0.AddHours(36));
        var laterSequence = composer.Compose(request, T0.AddHours(24), sequence: 1);
        var lateOrder = Request(host, classification, category, contact, contentType);
        lateOrder.orderedRemovalBy = T0.AddHours(-1); // the authority's deadline passed while the notice waited (police hold)
        lateOrder.orderReference = "ORDER-2026-0099";
        var afterOrderDeadline = composer.Compose(lateOrder, T0);

        var withdrawal = Withdrawals.Compose(reminderAfterDeadline, new HashRetracted
        {
            eventId = "r", caseKey = request.caseKey, reportId = "r-1", classifiedEventId = "c-1", bank = "police-nl", algorithm = Pipeline.Contracts.HashAlgorithm.SHA256,
            value = new string('b', 64), distance = 0, remainingMatches = 0, matchedAt = T0, retractedAt = T0.AddHours(40),
        }, T0.AddHours(40));
        Conforms(withdrawal.xarf, $"WITHDRAWAL ({host}, {Classes[classIndex].Name}, {contact}, {contentType})");
        var confirmation = Withdrawals.Confirmation(reminderAfterDeadline, new ContentStatusObserved
        {
            eventId = "o", caseKey = request.caseKey, noticeId = first.noticeId, url = request.caseKey, status = ContentStatus.REMOVED, httpStatus = 404,
            method = ObservationMethod.RECHECK, consecutiveMisses = 3, observedAt = T0.AddHours(38), offlineSince = T0.AddHours(37), removalConfirmed = true,
        }, T0.AddHours(38));
        Conforms(confirmation.xarf, $"CONFIRMATION ({host}, {Classes[classIndex].Name}, {contact}, {contentType})");
        Assert.True((bool)JsonNode.Parse(confirmation.xarf)!["content_removed"]!);
        Assert.Equal((withdrawal.noticeId, first.noticeId), ((string?)JsonNode.Parse(withdrawal.xarf)!["report_id"], (string?)JsonNode.Parse(withdrawal.xarf)!["withdrawal_of"]));

        // Escalations: from the first notice (no reminders configured) and after a reminder, to each role of the ladder.
        var roles = new[] { RecipientRole.SITE_OWNER, RecipientRole.REGISTRAR, RecipientRole.AUTHORITY };
        for (var step = 1; step <= roles.Length; step++)
        {
            var recipient = new NoticeRecipient { role = roles[step - 1], name = "Escalation desk", address = "desk@escalation.example", channel = NoticeChannel.EMAIL, foundVia = "config" };
            foreach (var from in new[] { first, reminderAfterDeadline })
            {
                var escalation = Escalations.Compose(from, step, recipient, T0.AddDays(step * 2));
                Conforms(escalation.xarf, $"ESCALATION {step} {roles[step - 1]} after {from.kind} ({host}, {Classes[classIndex].Name}, {contact}, {contentType})");
                var doc = JsonNode.Parse(escalation.xarf)!.AsObject();
                Assert.Equal((escalation.noticeId, first.noticeId, step), ((string?)doc["report_id"], (string?)doc["escalation_of"], (int)doc["escalation_step"]!));
                Assert.Equal(expected, (string?)doc["classification"]);
                Assert.False(doc.ContainsKey("reminder_of"));
                Assert.False((bool)doc["content_removed"]!);
            }
        }

        foreach (var notice in new[] { first, reminderBeforeDeadline, reminderAfterDeadline, laterSequence, afterOrderDeadline })
        {
            Conforms(notice.xarf, $"{notice.kind} {notice.sequence} ({host}, {Classes[classIndex].Name}, {contact}, {contentType})");
            var doc = JsonNode.Parse(notice.xarf)!.AsObject();
            Assert.Equal(expected, (string?)doc["classification"]);
            Assert.False((bool)doc["content_removed"]!); // first notices and reminders: the material is still online
            Assert.Equal(notice.noticeId, (string?)doc["report_id"]);
            Assert.False(doc.ContainsKey("evidence"));
            Assert.Equal(contentType is ContentType.LINK or ContentType.OTHER ? null : contentType switch
            {
                ContentType.IMAGE => "image",
                ContentType.VIDEO => "video",
                ContentType.TEXT => "text",
                _ => "mixed",
            }, (string?)doc["media_type"]);
            Assert.Equal(host == HostKind.Dns ? request.caseInfo.host : null, (string?)doc["domain"]);
            Assert.Equal(contact == Contact.Directory, doc.ContainsKey("asn"));
            Assert.Equal(contact == Contact.Directory, doc.ContainsKey("hosting_provider"));
            Assert.Equal(classification == Classification.NATIONAL, doc["tags"] is JsonArray tags && tags.Any(t => (string?)t == XarfShape.NationalLawTag));
            NeverBeforeAPastTime((string)doc["description"]!, notice.issuedAt);
            // A reminder's own header (the first notice follows it, quoted as it was sent); a first notice's whole text.
            NeverBeforeAPastTime(notice.kind == NoticeKind.FIRST ? notice.text : notice.text.Split("\n\n")[0], notice.issuedAt);
        }
        Assert.Contains("has passed", (string)JsonNode.Parse(reminderAfterDeadline.xarf)!["description"]!, StringComparison.Ordinal);
        Assert.Contains("has passed", (string)JsonNode.Parse(afterOrderDeadline.xarf)!["description"]!, StringComparison.Ordinal);

        // Verification: the analyst's assessment on the first notice and the reminders copied from it; a hash match alone
        // gives none. A withdrawal claims none; a confirmation carries the check that found the URL gone.
        var assessed = classification is null ? null : "2026-02-02T09:50:00.000Z";
        foreach (var notice in new[] { first, reminderBeforeDeadline, reminderAfterDeadline, laterSequence, afterOrderDeadline })
            Assert.Equal((assessed, assessed is null ? null : "manual"), Verification(notice.xarf));
        Assert.Equal((null, null), Verification(withdrawal.xarf));
        Assert.Equal(("2026-02-04T00:00:00.000Z", "automated_crawler"), Verification(confirmation.xarf));

        // Recheck found the URL online (kept in the timer's state): the reminders and escalations composed from that state
        // carry that observation, whatever verified the first notice; they still conform.
        foreach (var state in new[] { first, reminderBeforeDeadline })
        {
            var seenAt = state.issuedAt.AddHours(6);
            var seen = SeenOnline(state, Online(request.caseKey, first.noticeId, seenAt), Options);
            Assert.NotNull(seen);
            Assert.Equal(state.noticeId, seen.noticeId); // the timer's notice, only its verification changed
            var verified = (XarfShape.Timestamp(seenAt), "automated_crawler");
            var reminder = NoticeComposer.Reminder(seen, seenAt.AddHours(6));
            Conforms(reminder.xarf, $"REMINDER {reminder.sequence} after a recheck saw it online ({host}, {Classes[classIndex].Name}, {contact}, {contentType})");
            Assert.Equal(verified, Verification(reminder.xarf));
            var step = 1;
            foreach (var role in roles)
            {
                var recipient = new NoticeRecipient { role = role, name = "Escalation desk", address = "desk@escalation.example", channel = NoticeChannel.EMAIL, foundVia = "config" };
                var escalation = Escalations.Compose(seen, step, recipient, seenAt.AddDays(step++));
                Conforms(escalation.xarf, $"ESCALATION {role} after a recheck saw it online ({host}, {Classes[classIndex].Name}, {contact}, {contentType})");
                Assert.Equal(verified, Verification(escalation.xarf));
            }
            // An older observation (a replay) does not move the verification back; a removal-confirmed timer takes none.
            Assert.Null(SeenOnline(seen, Online(request.caseKey, first.noticeId, seenAt.AddHours(-1)), Options));
            Assert.Null(SeenOnline(ReminderSchedule.Stopped(state, seenAt), Online(request.caseKey, first.noticeId, seenAt.AddHours(1)), Options));
            Assert.Null(SeenOnline(state, Online(request.caseKey, "another-episode-notice", seenAt), Options));
            // A withdrawal from a state seen online claims no verification.
            Assert.Equal((null, null), Verification(Withdrawals.Compose(seen, new ReportClassified(), seenAt).xarf));
        }
        Assert.Contains("has passed", afterOrderDeadline.text, StringComparison.Ordinal);
    }

    [Fact]
    public void An_email_batch_is_one_conforming_document_per_url_in_one_mail()
    {
        var notices = AllVariants().ToList();
        var batch = new NoticeBatch(notices);
        using var channel = new EmailChannel(new DeliveryOptions.SmtpSettings { Host = "127.0.0.1" }, Options);
        var mail = channel.Compose(batch);
        var attachments = mail.Attachments.OfType<MimePart>().ToList();
        Assert.Equal(notices.Count, attachments.Count);
        foreach (var part in attachments)
        {
            Assert.Equal("application/json", part.ContentType.MimeType);
            using var body = new MemoryStream();
            part.Content!.DecodeTo(body);
            Conforms(Encoding.UTF8.GetString(body.ToArray()), part.FileName ?? "attachment");
        }
        Assert.Equal(notices.Select(n => $"report-{n.noticeId}.json").Order(StringComparer.Ordinal), attachments.Select(a => a.FileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_webhook_batch_is_a_list_of_conforming_documents()
    {
        var notices = AllVariants().ToList();
        var body = JsonNode.Parse(WebhookChannel.BatchBody(new NoticeBatch(notices)));
        var list = Assert.IsType<JsonArray>(body); // no {"batch_id", "reports"} envelope: X-ARF has none
        Assert.Equal(notices.Count, list.Count);
        for (var i = 0; i < list.Count; i++)
        {
            Conforms(list[i]!.ToJsonString(), $"batch member {i}");
            Assert.Equal(notices[i].noticeId, (string?)list[i]!["report_id"]);
        }
    }

    [Fact]
    public void Without_a_sender_domain_the_contact_address_domain_is_the_reporter_domain()
    {
        var options = new TakedownOptions { SenderOrganisation = "Example Hotline", SenderContact = "desk@notices.hotline.example" };
        var notice = new NoticeComposer(options).Compose(Request(HostKind.Dns, null, SeverityCategory.NOT_DETERMINED, Contact.Directory, ContentType.IMAGE), T0);
        Conforms(notice.xarf, "no SenderDomain");
        Assert.Equal("notices.hotline.example", (string?)JsonNode.Parse(notice.xarf)!["reporter"]!["domain"]);
    }

    /// <summary>Through the delivery stage: composed notices of several variants for one webhook desk and one e-mail desk,
    /// batched, arrive as a JSON array of conforming documents and as one mail with a conforming attachment per URL.</summary>
    [Fact]
    public async Task Delivered_batches_carry_conforming_documents()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(T0));
        var host = await h.StartHostAsync(new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:02:00" }, time: clock);
        var composer = new NoticeComposer(Options);
        // Per desk three variants (different URLs per desk: a notice id belongs to one URL).
        TakedownRequested[] Variants(ContentType a, ContentType b, ContentType c) =>
        [
            Request(HostKind.IPv6, Classification.NATIONAL, SeverityCategory.NOT_DETERMINED, Contact.RdapOnly, a),
            Request(HostKind.Punycode, Classification.BASELINE, SeverityCategory.A2, Contact.Directory, b),
            Request(HostKind.IPv4, null, SeverityCategory.NOT_DETERMINED, Contact.RdapOnly, c),
        ];
        var notices = new List<TakedownNotice>();
        foreach (var (channel, address, variants) in new[]
                 {
                     (NoticeChannel.WEBHOOK, $"{h.Webhook.BaseUrl}/abuse/xarfhost", Variants(ContentType.VIDEO, ContentType.CONTAINER, ContentType.LINK)),
                     (NoticeChannel.EMAIL, "abuse@xarfhost.example", Variants(ContentType.IMAGE, ContentType.TEXT, ContentType.OTHER)),
                 })
            foreach (var request in variants)
            {
                var first = composer.Compose(request, T0);
                first.recipient.channel = channel;
                first.recipient.address = address;
                var reminder = NoticeComposer.Reminder(first, T0.AddHours(30));
                reminder.issuedAt = T0; // issued now on the test clock, as a reminder after the deadline would be
                notices.Add(first);
                notices.Add(reminder);
            }
        await h.PublishAsync(notices);
        using var batches = new Pipeline.TestSupport.TopicWatcher(h.Runtime.BootstrapServers, h.Runtime.SchemaRegistryUrl, Topics.TakedownBatches);
        int Waiting() => batches.Events<NoticeDelivery>(Topics.TakedownBatches, d => d.status == DeliveryStatus.RETRYING && d.attempt == 0).Count;
        await DeliveryHarness.Eventually(() => Waiting() == notices.Count, TimeSpan.FromSeconds(40), () => $"{Waiting()} of {notices.Count} notices waiting in batches");
        clock.Advance(TimeSpan.FromMinutes(2));
        await DeliveryHarness.Eventually(() => h.Final().Count == notices.Count, TimeSpan.FromSeconds(40), () => $"{h.Final().Count} of {notices.Count} delivered");
        await h.StopHostAsync(host);

        var post = Assert.Single(h.Webhook.Requests);
        Assert.True(post.SignatureValid);
        var list = Assert.IsType<JsonArray>(JsonNode.Parse(post.Body));
        Assert.Equal(6, list.Count);
        foreach (var doc in list) Conforms(doc!.ToJsonString(), $"posted {(string?)doc["report_id"]}");
        Assert.Equal(post.IdempotencyKey, post.BatchId);
        var mail = Assert.Single(h.Smtp.Messages).Message;
        var attachments = mail.Attachments.OfType<MimePart>().ToList();
        Assert.Equal(6, attachments.Count);
        foreach (var part in attachments)
        {
            using var body = new MemoryStream();
            await part.Content!.DecodeToAsync(body);
            Conforms(Encoding.UTF8.GetString(body.ToArray()), part.FileName ?? "attachment");
        }
    }

    /// <summary>A re-upload's first notice (recheck found the URL online again after its removal; no analyst, no hash
    /// match of its own) is verified by that check: automated_crawler, when it saw it.</summary>
    [Fact]
    public void A_reupload_notice_is_verified_by_the_check_that_saw_it_online_again()
    {
        var request = Request(HostKind.Dns, null, SeverityCategory.NOT_DETERMINED, Contact.Directory, ContentType.OTHER);
        request.matches = [];
        request.caseInfo.reupload = true;
        request.caseInfo.episode = 1;
        request.report.reporterType = ReporterType.CRAWLER;
        request.report.receivedAt = T0.AddMinutes(-5);
        var notice = new NoticeComposer(Options).Compose(request, T0);
        Conforms(notice.xarf, "re-upload");
        Assert.Equal(("2026-02-02T09:55:00.000Z", "automated_crawler"), Verification(notice.xarf));
        // A crawler's report that is no re-upload verified nothing at the URL by itself: no verification.
        request.caseInfo.reupload = false;
        Assert.Equal((null, null), Verification(new NoticeComposer(Options).Compose(request, T0).xarf));
    }

    /// <summary>A reminder of a notice written before these fixes (from state) is brought into shape.</summary>
    [Fact]
    public void A_reminder_of_a_notice_written_before_the_fixes_conforms()
    {
        var first = new NoticeComposer(Options).Compose(Request(HostKind.IPv4, Classification.NATIONAL, SeverityCategory.NOT_DETERMINED, Contact.RdapOnly, ContentType.IMAGE), T0);
        first.xarf = OldNotice;
        Assert.NotEmpty(XarfV4Rules.Check(first.xarf));
        var reminder = NoticeComposer.Reminder(first, T0.AddHours(30));
        Conforms(reminder.xarf, "reminder of an old notice");
        Assert.Contains(XarfShape.NationalLawTag, reminder.xarf, StringComparison.Ordinal);
    }

    // ---- the rules reject what they must: the defects of the notices before, one at a time ----

    /// <summary>A first notice as the composer wrote it before: national, RDAP-only contact (null ASN and hoster), an
    /// IP-literal host as domain, an empty evidence array.</summary>
    private const string OldNotice = """
        {
          "xarf_version": "4.0.0",
          "report_id": "5f0c6a3e-8b1d-8c2a-9e4f-0a1b2c3d4e5f",
          "timestamp": "2026-02-02T10:00:00.0000000Z",
          "reporter": { "org": "Example Hotline", "contact": "notices@hotline.example", "domain": "hotline.example" },
          "sender": { "org": "Example Hotline", "contact": "notices@hotline.example", "domain": "hotline.example" },
          "source_identifier": "192.0.2.44",
          "category": "content",
          "type": "csam",
          "url": "http://192.0.2.44/m/1.jpg",
          "domain": "192.0.2.44",
          "hosting_provider": null,
          "asn": null,
          "country_code": "NL",
          "classification": "national",
          "detection_method": "manual_review",
          "hash_values": { "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
          "content_removed": false,
          "description": "Child sexual abuse material reported to Example Hotline. Remove it before 2026-02-03 10:00 UTC.",
          "evidence": []
        }
        """;

    [Fact]
    public void The_old_notice_is_rejected_for_each_of_its_defects()
    {
        var errors = XarfV4Rules.Check(OldNotice);
        Assert.Contains(errors, e => e.StartsWith("classification:", StringComparison.Ordinal) && e.Contains("content-csam.json", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("asn: is an integer, not null", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("hosting_provider: is a string, not null", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("domain:", StringComparison.Ordinal) && e.Contains("content-base.json", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("evidence:", StringComparison.Ordinal));
        Assert.Equal(5, errors.Count);
    }

    public static TheoryData<string, string, string> Defects() => new()
    {
        { "asn", "null", "asn: is an integer" },
        { "asn", "\"64496\"", "asn: is an integer" },
        { "asn", "0", "asn: 0 is outside" },
        { "asn", "64496.5", "asn: is an integer" },
        { "hosting_provider", "null", "hosting_provider: is a string" },
        { "classification", "\"national\"", "classification:" },
        { "classification", "\"a1\"", "classification:" },
        { "domain", "\"192.0.2.44\"", "domain:" },
        { "domain", "\"xn--mnchen-3ya.example\"", "domain:" },
        { "domain", "\"Img.Example\"", "domain:" },
        { "domain", "\"2001:db8::44\"", "domain:" },
        { "evidence", "[]", "evidence:" },
        { "evidence", """[{"content_type": "image/jpeg", "payload": "AAAA"}]""", "evidence[0].content_type:" },
        { "evidence", """[{"content_type": "text/plain"}]""", "evidence[0].payload: is required" },
        { "media_type", "\"picture\"", "media_type:" },
        { "detection_method", "\"crawler\"", "detection_method:" },
        { "content_removed", "\"no\"", "content_removed: is a boolean" },
        { "country_code", "\"nl\"", "country_code:" },
        { "report_id", "\"notice-1\"", "report_id:" },
        { "timestamp", "\"2026-02-02T10:00:00\"", "timestamp:" },
        { "timestamp", "\"2026-02-02 10:00\"", "timestamp:" },
        { "xarf_version", "\"4.0\"", "xarf_version:" },
        { "category", "\"messaging\"", "category:" },
        { "type", "\"csem\"", "type:" },
        { "url", "\"/m/1.jpg\"", "url:" },
        { "url", "\"http://bücher.example/m/1.jpg\"", "url:" },
        { "hash_values", """{"sha256": "abc"}""", "hash_values.sha256:" },
        { "reporter", """{"org": "Example Hotline", "contact": "notices@hotline.example"}""", "reporter.domain: is required" },
        { "reporter", """{"org": "Example Hotline", "contact": "notices@hotline.example", "domain": "hotline.example", "phone": "1"}""", "reporter.phone:" },
        { "sender", """{"org": "Example Hotline", "contact": "not an address", "domain": "hotline.example"}""", "sender.contact:" },
        { "description", "\"" + new string('x', 1001) + "\"", "description:" },
        { "tags", """["National"]""", "tags[0]:" },
        { "confidence", "1.5", "confidence:" },
        { "_internal", """{"ticket": "1"}""", "_internal:" },
    };

    [Theory]
    [MemberData(nameof(Defects))]
    public void The_rules_reject_a_defect(string field, string value, string expected)
    {
        var doc = JsonNode.Parse(new NoticeComposer(Options).Compose(Request(HostKind.Dns, null, SeverityCategory.NOT_DETERMINED, Contact.Directory, ContentType.IMAGE), T0).xarf)!.AsObject();
        Assert.Empty(XarfV4Rules.Check(doc.ToJsonString()));
        doc[field] = JsonNode.Parse(value);
        var errors = XarfV4Rules.Check(doc.ToJsonString());
        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("xarf_version")]
    [InlineData("report_id")]
    [InlineData("timestamp")]
    [InlineData("reporter")]
    [InlineData("sender")]
    [InlineData("source_identifier")]
    [InlineData("category")]
    [InlineData("type")]
    [InlineData("url")]
    [InlineData("classification")]
    [InlineData("detection_method")]
    public void The_rules_reject_a_missing_required_field(string field)
    {
        var doc = JsonNode.Parse(new NoticeComposer(Options).Compose(Request(HostKind.Dns, null, SeverityCategory.NOT_DETERMINED, Contact.Directory, ContentType.IMAGE), T0).xarf)!.AsObject();
        doc.Remove(field);
        Assert.Contains($"{field}: is required", string.Join("\n", XarfV4Rules.Check(doc.ToJsonString())), StringComparison.Ordinal);
    }

    [Fact]
    public void The_rules_accept_the_specifications_own_csam_sample()
    {
        // The example of content-csam.json (xarf-spec), with documentation addresses.
        const string sample = """
            {
              "xarf_version": "4.0.0", "report_id": "550e8400-e29b-41d4-a716-446655440000", "timestamp": "2025-01-15T10:30:00Z",
              "reporter": { "org": "Content Safety Service", "contact": "safety@example.org", "domain": "example.org" },
              "sender": { "org": "Content Safety Service", "contact": "safety@example.org", "domain": "example.org" },
              "source_identifier": "198.51.100.42", "category": "content", "type": "csam", "url": "https://example.com/illegal-content",
              "classification": "A1", "detection_method": "hash_match", "media_type": "image",
              "hash_values": { "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
              "ncmec_report_id": "12345678", "content_removed": true, "account_suspended": true, "evidence_source": "automated_scan"
            }
            """;
        Assert.Empty(XarfV4Rules.Check(sample));
    }

    // ---- helpers ----

    private static (string? At, string? Method) Verification(string xarf)
    {
        var doc = JsonNode.Parse(xarf)!.AsObject();
        return ((string?)doc["verified_at"], (string?)doc["verification_method"]);
    }

    private static ContentStatusObserved Online(string caseKey, string noticeId, DateTime at) => new()
    {
        eventId = $"online-{at:O}", caseKey = caseKey, noticeId = noticeId, url = caseKey, status = ContentStatus.ONLINE, httpStatus = 200,
        method = ObservationMethod.RECHECK, consecutiveMisses = 0, observedAt = at, offlineSince = null, removalConfirmed = false,
    };

    private static void Conforms(string xarf, string what)
    {
        var errors = XarfV4Rules.Check(xarf);
        Assert.True(errors.Count == 0, $"{what} does not conform to X-ARF v4:\n  {string.Join("\n  ", errors)}\n{xarf}");
    }

    [GeneratedRegex(@"before (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC", RegexOptions.CultureInvariant)]
    private static partial Regex Before();

    /// <summary>"remove ... before T" only for a T still ahead of the notice's issue time.</summary>
    private static void NeverBeforeAPastTime(string text, DateTime issuedAt)
    {
        foreach (Match m in Before().Matches(text))
        {
            var t = DateTime.ParseExact(m.Groups[1].Value, "yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
            Assert.True(t > issuedAt, $"'{m.Value}' is not after the issue time {issuedAt:O}: {text}");
        }
    }

    private static IEnumerable<TakedownNotice> AllVariants()
    {
        var composer = new NoticeComposer(Options);
        var i = 0;
        foreach (var host in Enum.GetValues<HostKind>())
            foreach (var (_, classification, category, _) in Classes)
                foreach (var contact in Enum.GetValues<Contact>())
                {
                    var contentType = Enum.GetValues<ContentType>()[i++ % Enum.GetValues<ContentType>().Length];
                    var first = composer.Compose(Request(host, classification, category, contact, contentType), T0);
                    yield return first;
                    yield return NoticeComposer.Reminder(first, T0.AddHours(30));
                }
    }

    private static TakedownRequested Request(HostKind kind, Classification? classification, SeverityCategory category, Contact contact, ContentType contentType)
    {
        var id = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes($"{kind}{classification}{category}{contact}{contentType}")))[..8];
        var (host, ip) = kind switch
        {
            HostKind.Dns => ("img.hoster-x.example", "198.51.100.20"),
            HostKind.IPv4 => ("192.0.2.44", "192.0.2.44"),
            HostKind.IPv6 => ("[2001:db8::44]", "2001:db8::44"),
            _ => ("xn--mnchen-3ya.example", "203.0.113.7"),
        };
        var url = $"https://{host}/m/{id}.jpg";
        var sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(url)));
        var rdap = contact == Contact.RdapOnly;
        return new TakedownRequested
        {
            eventId = EventIds.Derive("takedown-requested", url),
            caseKey = url,
            report = new Report
            {
                reportId = $"nl-{id}", sourceHotline = "nl-hotline", sourceReference = $"REF-{id}", externalIds = new Dictionary<string, string>(),
                receivedAt = T0.AddMinutes(-30), reportedAt = null, url = url, parentUrl = null, isSourceUrl = true, contentType = contentType,
                siteType = SiteType.IMAGE_HOST, commercial = false, hashes = new ContentHashes { sha256 = sha256, md5 = sha256[..32], sha1 = sha256[..40] },
                reporterType = ReporterType.PUBLIC, reporterContact = null, assessment = null, hops = [],
            },
            caseInfo = new CaseInfo { normalizedUrl = url, host = host, caseOpenedAt = T0.AddMinutes(-30), reportCount = 1, reupload = false, userinfoRemoved = false },
            hosting = new HostingInfo
            {
                resolved = true, ips = [ip], asn = rdap ? null : 64501, asOrganisation = rdap ? null : "Hoster X B.V. (example)", country = rdap ? null : "NL",
                hosterId = rdap ? null : "hoster-x", hosterName = rdap ? null : "Hoster X",
                abuseContact = new AbuseContact { address = rdap ? "abuse@rdap-found.example" : "abuse@hoster-x.example", channel = NoticeChannel.EMAIL, foundVia = rdap ? "rdap" : "hosters:table", approved = !rdap },
                behindCdn = false, originIp = null, resolvedAt = T0.AddMinutes(-20), sources = [rdap ? "rdap" : "hosters:table"], unresolvedReason = null, countries = rdap ? [] : ["NL"],
            },
            verdict = classification is null ? Verdict.KNOWN : Verdict.NEW,
            matches = classification is null ? [new HashMatch { bank = "police-nl", algorithm = Pipeline.Contracts.HashAlgorithm.SHA256, value = sha256, distance = 0, category = "A" }] : [],
            assessment = classification is { } c
                ? new Assessment { classification = c, category = category, ageGroup = AgeGroup.PREPUBESCENT, gender = Gender.FEMALE, analyst = "analyst-7", assessedAt = T0.AddMinutes(-10) }
                : null,
            rule = "home+known→takedown",
            policeHold = false,
            timeline = new Timeline { receivedAt = T0.AddMinutes(-30), referredToPoliceAt = null, noticeSentAt = null, removalObservedAt = null },
            requestedAt = T0.AddMinutes(-1),
        };
    }

    /// <summary>The timer's state after recheck found the URL online, as the stage makes it when a notice is composed.</summary>
    private static TakedownNotice? SeenOnline(TakedownNotice latest, ContentStatusObserved observed, TakedownOptions settings) =>
        ReminderSchedule.Verifies(latest, observed, settings) ? ReminderSchedule.WithVerified(latest, observed.observedAt) : null;
}
