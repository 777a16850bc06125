using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

/// <summary>
/// Builds a takedown notice for one URL: X-ARF v4 (<c>content/csam</c>) JSON with hashes and reference ids — never
/// media — and the same content as readable text. Pure: the same request and time give the same notice.
/// </summary>
public sealed class NoticeComposer(TakedownOptions options)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <param name="style">The recipient's language and template (the contact directory's); null: English, standard.</param>
    public TakedownNotice Compose(TakedownRequested request, DateTime issuedAt, int sequence = 0, NoticeStyle? style = null)
    {
        var hosting = request.hosting;
        var contact = hosting.abuseContact ?? throw new InvalidOperationException("No abuse contact");
        var noticeId = NoticeId(request.caseKey, request.caseInfo.episode, sequence, request.routeGeneration);
        var deadline = Deadline(request, issuedAt);
        var classification = request.assessment?.classification ?? Classification.BASELINE;
        var detection = request.matches.Count > 0 ? "hash_match" : "manual_review";
        var timeline = new Timeline
        {
            receivedAt = request.timeline.receivedAt,
            referredToPoliceAt = request.timeline.referredToPoliceAt,
            noticeSentAt = issuedAt,
            removalObservedAt = null,
        };
        var notice = new TakedownNotice
        {
            eventId = EventIds.Derive("notice-issued", request.eventId, sequence.ToString(CultureInfo.InvariantCulture)),
            noticeId = noticeId,
            caseKey = request.caseKey,
            sequence = sequence,
            episode = request.caseInfo.episode,
            routeGeneration = request.routeGeneration,
            kind = sequence == 0 ? NoticeKind.FIRST : NoticeKind.REMINDER,
            recipient = new NoticeRecipient
            {
                role = ToCdn(hosting) ? RecipientRole.CDN : RecipientRole.HOSTER,
                name = (ToCdn(hosting) ? hosting.cdnName : null) ?? hosting.hosterName ?? hosting.asOrganisation ?? "unknown",
                address = contact.address,
                channel = contact.channel,
                foundVia = contact.foundVia,
            },
            hosterId = hosting.hosterId,
            hosterName = hosting.hosterName,
            url = request.caseKey,
            ips = hosting.ips,
            asn = hosting.asn,
            country = hosting.country,
            hashes = request.report.hashes,
            classification = classification,
            detectionMethod = detection,
            reportIds = [request.report.reportId],
            deadline = deadline,
            policeHold = request.policeHold,
            timeline = timeline,
            issuedAt = issuedAt,
            originalNoticeId = null,
            orderReference = deadline < issuedAt + options.Deadline ? request.orderReference : null,
        };
        notice.xarf = Xarf(notice, request);
        notice.text = Text(notice, request.assessment?.category ?? SeverityCategory.NOT_DETERMINED, style ?? NoticeStyle.Default);
        return notice;
    }

    /// <summary>The sector norm (Takedown:Deadline from the notice), or an authority's removal order when it is earlier.</summary>
    public DateTime Deadline(TakedownRequested request, DateTime issuedAt)
    {
        var norm = issuedAt + options.Deadline;
        return request.orderedRemovalBy is { } ordered && ordered < norm ? ordered : norm;
    }

    /// <summary>
    /// The reminder that follows <paramref name="latest"/> (the first notice or the previous reminder): the same URL,
    /// recipient, hashes and deadline; number = previous + 1; its own ids derived from the first notice id and the number
    /// (a re-issue after a crash carries the same ids, so the delivery stage sends it once); the first notice id in
    /// <c>originalNoticeId</c>, in the X-ARF JSON (<c>reminder_of</c>) and in the text, above the first notice's text.
    /// </summary>
    public static TakedownNotice Reminder(TakedownNotice latest, DateTime issuedAt, NoticeStyle? style = null)
    {
        var texts = (style ?? NoticeStyle.Default).Texts;
        if (latest.kind is not (NoticeKind.FIRST or NoticeKind.REMINDER))
            throw new ArgumentException($"A reminder follows a first notice or a reminder, not a {latest.kind}.", nameof(latest));
        var number = latest.kind == NoticeKind.FIRST ? 1 : latest.sequence + 1;
        var firstId = latest.originalNoticeId ?? latest.noticeId;
        var firstIssuedAt = latest.timeline.noticeSentAt ?? latest.issuedAt;
        var n = number.ToString(CultureInfo.InvariantCulture);
        var noticeId = EventIds.Derive("reminder", firstId, n);
        var overdue = latest.deadline <= issuedAt;
        // The first notice's document (one written before the X-ARF fixes is brought into shape), with the reminder's
        // own id and time, and a description of where the deadline stands at this reminder's issue.
        var xarf = XarfShape.Conform(JsonNode.Parse(latest.xarf)!.AsObject());
        xarf["report_id"] = noticeId;
        xarf["timestamp"] = XarfShape.Timestamp(issuedAt);
        xarf["content_removed"] = false;
        xarf["reminder_of"] = firstId;
        xarf["reminder_number"] = number;
        xarf["description"] = string.Create(CultureInfo.InvariantCulture,
            $"Reminder {number} of notice {firstId} (sent {firstIssuedAt:yyyy-MM-dd HH:mm} UTC): the child sexual abuse material is still online. {RemoveBy(latest.deadline, issuedAt)}");
        var text = new StringBuilder();
        text.Append(texts.ReminderHeader(number, noticeId, firstId, firstIssuedAt)).Append('\n');
        text.Append(overdue ? texts.StillOnlineOverdue(issuedAt, latest.deadline) : texts.StillOnline(issuedAt)).Append('\n');
        text.Append('\n');
        text.Append(latest.kind == NoticeKind.FIRST ? latest.text : FirstText(latest.text));
        var reminder = Copy(latest, firstIssuedAt, removalObservedAt: null);
        reminder.eventId = EventIds.Derive("reminder-issued", firstId, n);
        reminder.noticeId = noticeId;
        reminder.sequence = number;
        reminder.kind = NoticeKind.REMINDER;
        reminder.xarf = xarf.ToJsonString(Indented);
        reminder.text = text.ToString();
        reminder.issuedAt = issuedAt;
        reminder.originalNoticeId = firstId;
        return reminder; // recipient, URL, hashes, deadline, order: the first notice's
    }

    /// <summary>A shallow copy of <paramref name="source"/> with its own timeline (the source may still be waiting to be
    /// serialised as an output, so it is never changed).</summary>
    public static TakedownNotice Copy(TakedownNotice source, DateTime? noticeSentAt, DateTime? removalObservedAt)
    {
        var copy = new TakedownNotice();
        for (var i = 0; i < ((Avro.RecordSchema)copy.Schema).Fields.Count; i++) copy.Put(i, source.Get(i));
        copy.timeline = new Timeline
        {
            receivedAt = source.timeline.receivedAt,
            referredToPoliceAt = source.timeline.referredToPoliceAt,
            noticeSentAt = noticeSentAt,
            removalObservedAt = removalObservedAt,
        };
        return copy;
    }

    /// <summary>What the notice asks, said right at <paramref name="at"/>: remove before a deadline still ahead, or, once it
    /// has passed (a reminder after it; an authority's order whose deadline passed before the notice could go out), that
    /// it has passed and the material is to be removed now — never "before" a time already past.</summary>
    public static string RemoveBy(DateTime deadline, DateTime at) => deadline > at
        ? string.Create(CultureInfo.InvariantCulture, $"Remove it before {deadline:yyyy-MM-dd HH:mm} UTC.")
        : string.Create(CultureInfo.InvariantCulture, $"The removal deadline, {deadline:yyyy-MM-dd HH:mm} UTC, has passed: remove it now.");

    /// <summary>The first notice's text inside a reminder's: everything after the three header lines.</summary>
    internal static string FirstText(string reminderText)
    {
        var at = 0;
        for (var line = 0; line < 3 && at >= 0; line++) at = reminderText.IndexOf('\n', at) is var i && i >= 0 ? i + 1 : -1;
        return at < 0 ? reminderText : reminderText[at..];
    }

    /// <summary>One id per case episode and notice sequence: a re-upload (episode n &gt; 0) gets notices of its own, so it
    /// is delivered and measured again. Episode 0 keeps the id it always had. A case routed again because its host moved
    /// (route generation n &gt; 0) gets notices of its own too: the new route's first notice is not the moved one.</summary>
    public static string NoticeId(string caseKey, int episode, int sequence, int routeGeneration = 0)
    {
        var id = episode == 0
            ? EventIds.Derive("notice", caseKey, sequence.ToString(CultureInfo.InvariantCulture))
            : EventIds.Derive("notice", caseKey, "episode", episode.ToString(CultureInfo.InvariantCulture), sequence.ToString(CultureInfo.InvariantCulture));
        return routeGeneration == 0 ? id : EventIds.Derive("notice-route", id, routeGeneration.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Behind a CDN the notice goes to the CDN's desk unless geolocation knew the origin: then the abuse
    /// contact is the origin hoster's, and it is that hoster who is addressed.</summary>
    private static bool ToCdn(HostingInfo hosting) =>
        hosting.behindCdn && (hosting.cdnAbuseContact is null || hosting.abuseContact is null
            || string.Equals(hosting.cdnAbuseContact.address, hosting.abuseContact.address, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The notice as an X-ARF v4 <c>content/csam</c> document (schemas xarf-core, content-base, content-csam of
    /// xarf/xarf-spec). Optional fields are left out when unknown, never null: the schemas type them as string or
    /// integer. <c>domain</c> only when the host matches content-base's pattern (an IP literal or a punycode host
    /// cannot); no <c>evidence</c> (an evidence item needs a payload, and a CSAM notice carries none: the hashes are in
    /// <c>hash_values</c>).
    /// </summary>
    private string Xarf(TakedownNotice n, TakedownRequested request)
    {
        var doc = new JsonObject
        {
            ["xarf_version"] = XarfShape.Version,
            ["report_id"] = n.noticeId,
            ["timestamp"] = XarfShape.Timestamp(n.issuedAt),
            ["reporter"] = new JsonObject { ["org"] = options.SenderOrganisation, ["contact"] = options.SenderContact, ["domain"] = XarfShape.SenderDomain(options) },
            ["sender"] = new JsonObject { ["org"] = options.SenderOrganisation, ["contact"] = options.SenderContact, ["domain"] = XarfShape.SenderDomain(options) },
            ["source_identifier"] = XarfShape.SourceIdentifier(n.ips, request.caseInfo.host),
            ["category"] = "content",
            ["type"] = "csam",
            ["url"] = n.url,
        };
        if (XarfShape.Domain(request.caseInfo.host) is { } domain) doc["domain"] = domain;
        if (!string.IsNullOrWhiteSpace(n.hosterName)) doc["hosting_provider"] = n.hosterName;
        if (n.asn is { } asn && XarfShape.IsAsn(asn)) doc["asn"] = asn;
        if (n.country is { } country && XarfShape.IsCountryCode(country)) doc["country_code"] = country;
        doc["classification"] = XarfShape.Classification(request.assessment?.category);
        doc["detection_method"] = n.detectionMethod;
        if (XarfShape.MediaType(request.report.contentType) is { } media) doc["media_type"] = media;
        var hashes = new JsonObject();
        if (n.hashes?.md5 is { } md5) hashes["md5"] = md5;
        if (n.hashes?.sha1 is { } sha1) hashes["sha1"] = sha1;
        if (n.hashes?.sha256 is { } sha256) hashes["sha256"] = sha256;
        if (hashes.Count > 0) doc["hash_values"] = hashes;
        doc["content_removed"] = false;
        if (Verification(request) is { } verified) XarfShape.Verified(doc, verified.At, verified.Method);
        if (n.classification == Classification.NATIONAL) doc["tags"] = new JsonArray(XarfShape.NationalLawTag);
        doc["description"] = (n.classification == Classification.NATIONAL
            ? $"Child sexual abuse material, illegal under national law ({n.country ?? "the hosting country"}), reported to {options.SenderOrganisation}. "
            : $"Child sexual abuse material reported to {options.SenderOrganisation}. ") + RemoveBy(n.deadline, n.issuedAt);
        return doc.ToJsonString(Indented);
    }

    /// <summary>
    /// What verified the material a first notice is about (X-ARF <c>verified_at</c>, <c>verification_method</c>): the
    /// analyst's assessment (<c>manual</c>, at its assessedAt); for a re-upload, our recheck that found the URL online
    /// again (<c>automated_crawler</c>, when it saw it). A known-hash match alone verified nothing at the URL: null, and
    /// the notice carries neither field. Reminders and escalations carry the latest verification of the case's timer
    /// (recheck's last ONLINE observation, kept by <c>TakedownProcessor</c> and written by <see cref="ReminderSchedule.WithVerified"/>).
    /// </summary>
    public static (DateTime At, string Method)? Verification(TakedownRequested request) =>
        request.assessment is { } assessment ? (assessment.assessedAt, XarfShape.VerifiedManually)
        : request.caseInfo.reupload && request.report.reporterType == ReporterType.CRAWLER ? (request.report.receivedAt, XarfShape.VerifiedByCrawler)
        : null;

    /// <summary>The first notice's text in the recipient's language (<see cref="NoticeTexts"/>): the full text, or with
    /// the brief template the header and one request sentence (the X-ARF report carries the details).</summary>
    private string Text(TakedownNotice n, SeverityCategory category, NoticeStyle style)
    {
        var t = style.Texts;
        var text = new StringBuilder();
        text.AppendLine(t.Header(n.noticeId, options.SenderOrganisation, options.SenderContact));
        text.AppendLine(t.To(n.recipient.name, n.recipient.address));
        text.AppendLine();
        if (style.Brief)
        {
            text.AppendLine(t.Brief(n.url, n.deadline, n.issuedAt));
            if (n.orderReference is { } briefOrder) text.AppendLine(t.Order(briefOrder));
            text.AppendLine(t.NoImagery);
            return text.ToString();
        }
        text.AppendLine(n.recipient.role == RecipientRole.CDN ? t.AskCdn : t.AskHoster);
        text.AppendLine(CultureInfo.InvariantCulture, $"  URL: {n.url}");
        string[] network = [.. new[] { n.asn is { } asn ? $"AS{asn}" : null, n.country }.OfType<string>()];
        text.AppendLine(CultureInfo.InvariantCulture, $"  IP:  {string.Join(", ", n.ips)}{(network.Length > 0 ? $" ({string.Join(", ", network)})" : "")}");
        if (n.hashes?.sha256 is { } sha256) text.AppendLine(CultureInfo.InvariantCulture, $"  SHA-256: {sha256}");
        var classification = category == SeverityCategory.NOT_DETERMINED ? n.classification.ToString() : $"{n.classification} ({category})";
        text.AppendLine(t.Classification(classification, n.detectionMethod));
        text.AppendLine(n.deadline > n.issuedAt ? t.RemoveBefore(n.deadline) : t.DeadlinePassed(n.deadline));
        if (n.orderReference is { } order) text.AppendLine(t.Order(order));
        text.AppendLine(t.NoImagery);
        return text.ToString();
    }
}
