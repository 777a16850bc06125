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

    public TakedownNotice Compose(TakedownRequested request, DateTime issuedAt, int sequence = 0)
    {
        var hosting = request.hosting;
        var contact = hosting.abuseContact ?? throw new InvalidOperationException("No abuse contact");
        var noticeId = NoticeId(request.caseKey, request.caseInfo.episode, sequence);
        var deadline = issuedAt + options.Deadline;
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
        };
        notice.xarf = Xarf(notice, request);
        notice.text = Text(notice);
        return notice;
    }

    /// <summary>One id per case episode and notice sequence: a re-upload (episode n &gt; 0) gets notices of its own, so it
    /// is delivered and measured again. Episode 0 keeps the id it always had.</summary>
    public static string NoticeId(string caseKey, int episode, int sequence) => episode == 0
        ? EventIds.Derive("notice", caseKey, sequence.ToString(CultureInfo.InvariantCulture))
        : EventIds.Derive("notice", caseKey, "episode", episode.ToString(CultureInfo.InvariantCulture), sequence.ToString(CultureInfo.InvariantCulture));

    /// <summary>Behind a CDN the notice goes to the CDN's desk unless geolocation knew the origin: then the abuse
    /// contact is the origin hoster's, and it is that hoster who is addressed.</summary>
    private static bool ToCdn(HostingInfo hosting) =>
        hosting.behindCdn && (hosting.cdnAbuseContact is null || hosting.abuseContact is null
            || string.Equals(hosting.cdnAbuseContact.address, hosting.abuseContact.address, StringComparison.OrdinalIgnoreCase));

    private string Xarf(TakedownNotice n, TakedownRequested request)
    {
        var hashes = new JsonObject();
        if (n.hashes?.md5 is { } md5) hashes["md5"] = md5;
        if (n.hashes?.sha1 is { } sha1) hashes["sha1"] = sha1;
        if (n.hashes?.sha256 is { } sha256) hashes["sha256"] = sha256;
        var doc = new JsonObject
        {
            ["xarf_version"] = "4.0.0",
            ["report_id"] = n.noticeId,
            ["timestamp"] = n.issuedAt.ToString("O", CultureInfo.InvariantCulture),
            ["reporter"] = new JsonObject { ["org"] = options.SenderOrganisation, ["contact"] = options.SenderContact, ["domain"] = options.SenderDomain },
            ["sender"] = new JsonObject { ["org"] = options.SenderOrganisation, ["contact"] = options.SenderContact, ["domain"] = options.SenderDomain },
            ["source_identifier"] = n.ips.FirstOrDefault() ?? request.caseInfo.host,
            ["category"] = "content",
            ["type"] = "csam",
            ["url"] = n.url,
            ["domain"] = request.caseInfo.host,
            ["hosting_provider"] = n.hosterName,
            ["asn"] = n.asn,
            ["country_code"] = n.country,
            ["classification"] = n.classification == Classification.NATIONAL ? "national" : "baseline",
            ["detection_method"] = n.detectionMethod,
            ["hash_values"] = hashes,
            ["content_removed"] = false,
            ["description"] = $"Child sexual abuse material reported to {options.SenderOrganisation}. Remove it before {n.deadline:yyyy-MM-dd HH:mm} UTC.",
            ["evidence"] = new JsonArray(), // never media: hashes and reference ids only
        };
        return doc.ToJsonString(Indented);
    }

    private string Text(TakedownNotice n)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Notice {n.noticeId} from {options.SenderOrganisation} ({options.SenderContact})");
        text.AppendLine(CultureInfo.InvariantCulture, $"To: {n.recipient.name} <{n.recipient.address}>");
        text.AppendLine();
        text.AppendLine(n.recipient.role == RecipientRole.CDN
            ? "We ask you to remove child sexual abuse material at the following address, which your network serves as a CDN or reverse proxy, and to disclose the origin server that hosts it:"
            : "We ask you to remove child sexual abuse material at the following address, which your network hosts:");
        text.AppendLine(CultureInfo.InvariantCulture, $"  URL: {n.url}");
        text.AppendLine(CultureInfo.InvariantCulture, $"  IP:  {string.Join(", ", n.ips)} (AS{n.asn}, {n.country})");
        if (n.hashes?.sha256 is { } sha256) text.AppendLine(CultureInfo.InvariantCulture, $"  SHA-256: {sha256}");
        text.AppendLine(CultureInfo.InvariantCulture, $"  Classification: {n.classification}; detected by {n.detectionMethod.Replace('_', ' ')}.");
        text.AppendLine(CultureInfo.InvariantCulture, $"Please remove it before {n.deadline:yyyy-MM-dd HH:mm} UTC. We will check the address until it is gone.");
        text.AppendLine("This notice carries no imagery. Do not reply with or forward the material.");
        return text.ToString();
    }
}
