using System.Security.Cryptography;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Recheck.Tests;

/// <summary>Synthetic hosters (.example names, documentation addresses and ASNs) and the takedown requests routing
/// would send for them.</summary>
public static class Hosters
{
    public sealed record Hoster(string Id, string Host, string Ip, long Asn, NoticeChannel Channel, string Address)
    {
        public string Url(string path) => $"http://{Host}/{path}"; // the simulated web server speaks plain HTTP on loopback
    }

    public static TakedownRequested Request(Hoster hoster, string url, DateTime receivedAt, DateTime requestedAt)
    {
        var reportId = "nl-" + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(url)))[..12];
        return new TakedownRequested
        {
            eventId = EventIds.Derive("takedown", url),
            caseKey = url,
            report = new Report
            {
                reportId = reportId,
                sourceHotline = "nl-hotline",
                sourceReference = "REF-" + reportId,
                externalIds = new Dictionary<string, string>(),
                receivedAt = receivedAt,
                reportedAt = receivedAt,
                url = url,
                isSourceUrl = true,
                contentType = ContentType.IMAGE,
                siteType = SiteType.IMAGE_HOST,
                commercial = false,
                hashes = new ContentHashes { sha256 = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) },
                reporterType = ReporterType.PUBLIC,
                hops = [],
            },
            caseInfo = new CaseInfo { normalizedUrl = url, host = hoster.Host, caseOpenedAt = receivedAt, reportCount = 1, reupload = false, episode = 0, userinfoRemoved = false },
            hosting = new HostingInfo
            {
                resolved = true,
                ips = [hoster.Ip],
                asn = hoster.Asn,
                asOrganisation = hoster.Id + " (example)",
                country = "NL",
                hosterId = hoster.Id,
                hosterName = hoster.Id,
                abuseContact = new AbuseContact { address = hoster.Address, channel = hoster.Channel, foundVia = "networks:table", approved = true },
                resolvedAt = receivedAt,
                sources = ["networks:table"],
                countries = ["NL"],
            },
            verdict = Verdict.KNOWN,
            matches = [new HashMatch { bank = "police-nl", algorithm = Pipeline.Contracts.HashAlgorithm.SHA256, value = "00", distance = 0, category = "A" }],
            rule = "home+known→takedown",
            policeHold = false,
            timeline = new Timeline { receivedAt = receivedAt },
            requestedAt = requestedAt,
        };
    }

    /// <summary>A notice as the takedown stage would issue it at <see cref="FlowHarness.T0"/>, for tests that start at the recheck.</summary>
    public static TakedownNotice Notice(Hoster hoster, string url) => new()
    {
        eventId = EventIds.Derive("notice-issued", url),
        noticeId = EventIds.Derive("notice", url, "0"),
        caseKey = url,
        sequence = 0,
        kind = NoticeKind.FIRST,
        recipient = new NoticeRecipient { role = RecipientRole.HOSTER, name = hoster.Id, address = hoster.Address, channel = hoster.Channel, foundVia = "directory" },
        hosterId = hoster.Id,
        hosterName = hoster.Id,
        url = url,
        ips = [hoster.Ip],
        asn = hoster.Asn,
        country = "NL",
        hashes = new ContentHashes { sha256 = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(url))) },
        classification = Classification.BASELINE,
        detectionMethod = "hash_match",
        reportIds = ["r-" + hoster.Id],
        deadline = FlowHarness.T0.AddDays(1),
        policeHold = false,
        timeline = new Timeline { receivedAt = FlowHarness.T0, noticeSentAt = FlowHarness.T0 },
        xarf = "{}",
        text = "notice",
        issuedAt = FlowHarness.T0,
    };
}
