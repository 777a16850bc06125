using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.TestSupport;

namespace Pipeline.Takedown.Tests;

/// <summary>
/// Issue 12, "the directory gains per-contact grouping hours, template and language": the contact directory's
/// <c>groupingHours</c> batches a recipient's notices over its own window (the deadline unmoved), <c>language</c> writes
/// its notices' text in that language, <c>template</c> chooses the full or the brief text; what cannot be written falls
/// back to English and the standard template, logged and counted.
/// </summary>
public class ContactStyleTests
{
    private static readonly DateTime T0 = TakedownFlow.T0;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(40);

    private static ContactDirectoryEntry Entry(string address, double? groupingHours = null, string? language = null, string? template = null)
    {
        var e = ContactEntries.New(ContactDirectory.IdOf(NoticeChannel.EMAIL, address), ContactSource.CLI, T0);
        ContactEntries.Approve(e, "analyst@hotline.example", T0);
        e.groupingHours = groupingHours;
        e.language = language;
        e.template = template;
        return e;
    }

    [Fact]
    public async Task A_contact_with_grouping_hours_gets_its_notices_in_one_mail_after_its_window_and_another_at_the_default()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var clock = new FakeTimeProvider(new DateTimeOffset(T0));
        await ContactEntries.WriteAsync(h.Publisher, Entry("abuse@slowdesk.example", groupingHours: 4), "analyst@hotline.example", T0, CancellationToken.None);
        await h.StartHostAsync(new Dictionary<string, string?> { ["Takedown:Delivery:BatchWindow"] = "00:02:00" }, time: clock);

        var slow = Enumerable.Range(0, 2).Select(i => DeliveryHarness.Notice("slowdesk", i, NoticeChannel.EMAIL, "abuse@slowdesk.example")).ToList();
        var fast = Enumerable.Range(0, 2).Select(i => DeliveryHarness.Notice("fastdesk", i, NoticeChannel.EMAIL, "abuse@fastdesk.example")).ToList();
        await h.PublishAsync([.. slow, .. fast]);
        using var batches = new TopicWatcher(h.Runtime.BootstrapServers, h.Runtime.SchemaRegistryUrl, Topics.TakedownBatches);
        await DeliveryHarness.Eventually(() => batches.Events<NoticeDelivery>(Topics.TakedownBatches).Count == 4, Wait, () => "four notices waiting in batches");
        Assert.All(slow, n =>
        {
            var waiting = batches.Events<NoticeDelivery>(Topics.TakedownBatches, d => d.noticeId == n.noticeId).Single();
            Assert.Equal(T0.AddHours(4), waiting.nextAttemptAt);
            Assert.Equal(T0.AddHours(24), waiting.notice!.deadline); // grouping delays the mail, never the deadline
        });

        clock.Advance(TimeSpan.FromMinutes(2)); // the default window closes; the 4 h one does not
        await DeliveryHarness.Eventually(() => h.Final().Count == 2, Wait, () => $"{h.Final().Count} of 2 delivered at the default window");
        var first = Assert.Single(h.Smtp.Messages).Message;
        Assert.Equal("abuse@fastdesk.example", first.To.Mailboxes.Single().Address);
        Assert.All(fast, n => Assert.Equal(T0.AddMinutes(2), Assert.Single(h.DeliveriesOf(n.noticeId)).at));

        clock.Advance(TimeSpan.FromHours(4) - TimeSpan.FromMinutes(2));
        await DeliveryHarness.Eventually(() => h.Final().Count == 4, Wait, () => $"{h.Final().Count} of 4 delivered after 4 h");
        var grouped = Assert.Single(h.Smtp.Messages, m => m.To.Single() == "abuse@slowdesk.example").Message;
        Assert.Equal(slow.Select(n => n.noticeId).Order(StringComparer.Ordinal), grouped.Headers["X-Notice-Ids"]!.Split(", ").Order(StringComparer.Ordinal));
        Assert.All(slow, n =>
        {
            var d = Assert.Single(h.DeliveriesOf(n.noticeId));
            Assert.Equal(T0.AddHours(4), d.at);
            Assert.Contains(n.url, grouped.TextBody, StringComparison.Ordinal);
        });
        Assert.Equal(2, h.Smtp.Messages.Count);
    }

    [Fact]
    public async Task A_contact_with_language_nl_gets_Dutch_text_a_brief_template_shortens_it_and_an_unknown_language_or_template_falls_back_visibly()
    {
        await using var f = await TakedownFlow.StartAsync();
        var directory = f.Host!.Services.GetRequiredService<ContactDirectory>();
        var entries = new[]
        {
            Entry("abuse@dutchdesk.example", language: "nl-NL"),
            Entry("abuse@briefdesk.example", template: "brief"),
            Entry("abuse@frenchdesk.example", language: "fr"),
            Entry("abuse@oddtemplate.example", template: "fancy"),
        };
        foreach (var e in entries) await ContactEntries.WriteAsync(f.H.Publisher, e, "analyst@hotline.example", T0, CancellationToken.None);
        await f.Until(() => entries.All(e => directory.Find(e.contactId) is not null), () => "the directory entries read by the takedown stage");
        var languageFallbacks = NoticeStyle.FallbacksCounter.WithLabels("language").Value;
        var templateFallbacks = NoticeStyle.FallbacksCounter.WithLabels("template").Value;

        var dutch = TakedownFlow.Requested("dutchdesk", "abuse@dutchdesk.example");
        var brief = TakedownFlow.Requested("briefdesk", "abuse@briefdesk.example");
        var french = TakedownFlow.Requested("frenchdesk", "abuse@frenchdesk.example");
        var odd = TakedownFlow.Requested("oddtemplate", "abuse@oddtemplate.example");
        var plain = TakedownFlow.Requested("plaindesk", "abuse@plaindesk.example");
        var all = new[] { dutch, brief, french, odd, plain };
        await f.RequestAsync(all);
        await f.Until(() => all.All(r => f.Notices(r.caseKey).Count == 1 && f.Mails(f.First(r).noticeId).Count == 1), () => "five first notices mailed");

        var nl = f.Mails(f.First(dutch).noticeId).Single().TextBody!;
        Assert.StartsWith($"Melding {f.First(dutch).noticeId} van Example Hotline (test)", nl, StringComparison.Ordinal);
        Assert.Contains("Wij verzoeken u het materiaal van seksueel misbruik van kinderen op het volgende adres, dat op uw netwerk wordt gehost, te verwijderen:", nl, StringComparison.Ordinal);
        Assert.Contains($"Wij verzoeken u het materiaal vóór {T0.AddHours(24):yyyy-MM-dd HH:mm} UTC te verwijderen.", nl, StringComparison.Ordinal);
        Assert.Contains("vastgesteld via een hashmatch met bekend materiaal", nl, StringComparison.Ordinal);
        Assert.DoesNotContain("We ask you", nl, StringComparison.Ordinal);
        // The X-ARF document stays as it is: the same fields and English description as the English notice's.
        var en = f.First(plain);
        Assert.Equal(System.Text.Json.Nodes.JsonNode.Parse(en.xarf)!["description"]!.ToString().Replace(en.deadline.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture), "", StringComparison.Ordinal),
            System.Text.Json.Nodes.JsonNode.Parse(f.First(dutch).xarf)!["description"]!.ToString().Replace(f.First(dutch).deadline.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture), "", StringComparison.Ordinal));

        var standard = f.First(plain).text;
        var shortText = f.First(brief).text;
        Assert.Contains("SHA-256", standard, StringComparison.Ordinal);
        Assert.DoesNotContain("SHA-256", shortText, StringComparison.Ordinal);
        Assert.Contains($"Please remove the child sexual abuse material at {brief.caseKey} before {T0.AddHours(24):yyyy-MM-dd HH:mm} UTC. The details are in the X-ARF report", shortText, StringComparison.Ordinal);
        string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Equal(10, Lines(standard).Length);
        Assert.Equal(5, Lines(shortText).Length); // header, recipient, blank, the request, no imagery

        // Unknown language and template: English, the standard text, the reason counted (and logged).
        Assert.StartsWith("Notice ", f.First(french).text, StringComparison.Ordinal);
        Assert.Contains("We ask you to remove child sexual abuse material", f.First(french).text, StringComparison.Ordinal);
        Assert.Contains("SHA-256", f.First(odd).text, StringComparison.Ordinal);
        Assert.Equal(1, NoticeStyle.FallbacksCounter.WithLabels("language").Value - languageFallbacks);
        Assert.Equal(1, NoticeStyle.FallbacksCounter.WithLabels("template").Value - templateFallbacks);

        // The reminder in Dutch, above the Dutch notice.
        f.At(T0.AddDays(1).AddMinutes(1));
        await f.Until(() => f.Notices(dutch.caseKey).Any(n => n.kind == NoticeKind.REMINDER), () => "the Dutch desk's reminder");
        var reminder = f.Notices(dutch.caseKey).Single(n => n.kind == NoticeKind.REMINDER);
        Assert.StartsWith($"Herinnering 1 ({reminder.noticeId}) aan melding {f.First(dutch).noticeId}", reminder.text, StringComparison.Ordinal);
        Assert.Contains($"Melding {f.First(dutch).noticeId} van", reminder.text, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_notice_kind_has_Dutch_text_and_only_the_text_changes()
    {
        var options = new TakedownOptions { SenderOrganisation = "Example Hotline", SenderContact = "notices@hotline.example", SenderDomain = "hotline.example" };
        var nl = NoticeStyle.Of(Entry("abuse@desk.example", language: "nl"));
        Assert.Empty(nl.Fallbacks);
        var request = TakedownFlow.Requested("desk", "abuse@desk.example");
        var first = new NoticeComposer(options).Compose(request, T0, style: nl);
        var english = new NoticeComposer(options).Compose(request, T0);
        Assert.Equal(english.xarf, first.xarf);
        Assert.NotEqual(english.text, first.text);
        var reminder = NoticeComposer.Reminder(first, T0.AddHours(30), nl);
        Assert.Contains($"en is de verwijdertermijn ({T0.AddHours(24):yyyy-MM-dd HH:mm} UTC) verstreken", reminder.text, StringComparison.Ordinal);
        Assert.Equal(first.text, NoticeComposer.FirstText(reminder.text)); // the three header lines, then the notice
        var registrar = new NoticeRecipient { role = RecipientRole.REGISTRAR, name = "Registrar", address = "abuse@registrar.example", channel = NoticeChannel.EMAIL, foundVia = "test" };
        var escalation = Escalations.Compose(reminder, 1, registrar, T0.AddDays(4), nl);
        Assert.Contains("als registrar van het domein", escalation.text, StringComparison.Ordinal);
        Assert.Contains("Hieronder volgt de melding aan de hostingprovider.", escalation.text, StringComparison.Ordinal);
        Assert.DoesNotContain("hoster ", escalation.text.Split("\n\n")[0], StringComparison.Ordinal); // one word for it: hostingprovider
        Assert.Equal(Escalations.Compose(reminder, 1, registrar, T0.AddDays(4)).xarf, escalation.xarf);
        var withdrawal = Withdrawals.Compose(reminder, new HashRetracted
        {
            eventId = "r", caseKey = request.caseKey, reportId = "r-1", classifiedEventId = "c-1", bank = "police-nl", algorithm = Pipeline.Contracts.HashAlgorithm.SHA256,
            value = request.report.hashes.sha256!, distance = 0, remainingMatches = 0, matchedAt = T0, retractedAt = T0.AddDays(2),
        }, T0.AddDays(2), nl);
        Assert.StartsWith("Intrekking (", withdrawal.text, StringComparison.Ordinal);
        var confirmation = Withdrawals.Confirmation(reminder, new ContentStatusObserved
        {
            eventId = "s", caseKey = request.caseKey, noticeId = first.noticeId, url = request.caseKey, status = ContentStatus.REMOVED, httpStatus = 404,
            method = ObservationMethod.RECHECK, consecutiveMisses = 3, observedAt = T0.AddDays(2), offlineSince = T0.AddDays(2), removalConfirmed = true,
        }, T0.AddDays(2), nl);
        Assert.StartsWith("Bevestiging van verwijdering (", confirmation.text, StringComparison.Ordinal);
        Assert.Contains("48,0 uur na de melding", confirmation.text, StringComparison.Ordinal); // the Dutch decimal comma

        var fallback = NoticeStyle.Of(Entry("abuse@desk.example", language: "fr", template: "fancy"));
        Assert.Same(NoticeTexts.English, fallback.Texts);
        Assert.Equal(NoticeStyle.Standard, fallback.Template);
        Assert.Equal(2, fallback.Fallbacks.Count);
        Assert.Contains("language 'fr'", fallback.Fallbacks[0], StringComparison.Ordinal);
        Assert.Contains("template 'fancy'", fallback.Fallbacks[1], StringComparison.Ordinal);
        Assert.Null(NoticeStyle.TemplateError("Brief", "--template"));
        Assert.Contains("Fix: one of standard, brief", NoticeStyle.TemplateError("fancy", "--template"), StringComparison.Ordinal);
    }

    [Fact]
    public void The_send_window_line_is_written_in_the_recipients_language()
    {
        var window = ParsedWindow.Parse(new SendWindowSettings { Enabled = true, Holidays = ["2026-12-25", "2026-12-26"] }.ToRecord(), "test").Window!;
        Assert.Equal("This desk sends notices Mon–Fri 09:00–17:00 Europe/Amsterdam, except 2 holiday(s).", window.Line(NoticeTexts.English));
        Assert.Equal("Dit meldpunt verzendt meldingen op ma–vr van 09:00 tot 17:00 (Europe/Amsterdam), behalve op 2 feestdag(en).", window.Line(NoticeTexts.Dutch));
        Assert.Equal("Mon–Fri 09:00–17:00 Europe/Amsterdam, except 2 holiday(s)", window.Describe()); // hold reasons and logs stay English
        var weekend = ParsedWindow.Parse(new SendWindowSettings { Enabled = true, Days = ["Sat", "Mon"] }.ToRecord(), "test").Window!;
        Assert.Equal("Dit meldpunt verzendt meldingen op ma, za van 09:00 tot 17:00 (Europe/Amsterdam).", weekend.Line(NoticeTexts.Dutch));
    }
}
