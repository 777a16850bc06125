using System.Globalization;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Recheck;

/// <summary>
/// A URL found online again after its removal was confirmed is a re-upload: the case's next episode, with a takedown
/// of its own. The request is made from the removed notice (recipient, hosting, hashes as they were), reported by
/// our own recheck (reporter CRAWLER, in the home hotline's name), and its clock starts when the re-appearance was
/// seen. Pure: the same notice and time give the same request (event id derived from the removed notice), so a replay
/// asks for the same takedown and the takedown service composes the same notice.
/// </summary>
public static class Reupload
{
    public static TakedownRequested Request(TakedownNotice removed, DateTime seenAt, string homeHotline)
    {
        var episode = removed.episode + 1;
        var host = RecheckSchedule.HostOf(removed.url);
        var contact = new AbuseContact { address = removed.recipient.address, channel = removed.recipient.channel, foundVia = removed.recipient.foundVia, approved = true };
        var viaCdn = removed.recipient.role == RecipientRole.CDN;
        return new TakedownRequested
        {
            eventId = EventIds.Derive("reupload-requested", removed.noticeId),
            caseKey = removed.caseKey,
            report = new Report
            {
                reportId = EventIds.Derive("reupload-report", removed.noticeId),
                sourceHotline = homeHotline,
                sourceReference = removed.noticeId, // the notice whose removal this undoes
                externalIds = new Dictionary<string, string> { ["previousNoticeId"] = removed.noticeId, ["episode"] = episode.ToString(CultureInfo.InvariantCulture) },
                receivedAt = seenAt,
                reportedAt = seenAt,
                url = removed.url,
                isSourceUrl = true,
                contentType = ContentType.OTHER, // the recheck never looks at the content, only at the status
                siteType = SiteType.UNKNOWN,
                commercial = false,
                hashes = removed.hashes,
                reporterType = ReporterType.CRAWLER,
                reporterContact = null,
                assessment = null,
                hops = [],
            },
            caseInfo = new CaseInfo
            {
                normalizedUrl = removed.caseKey,
                host = host,
                caseOpenedAt = seenAt,
                reportCount = 1,
                reupload = true,
                episode = episode,
                userinfoRemoved = false,
            },
            hosting = new HostingInfo
            {
                resolved = true,
                ips = removed.ips,
                asn = removed.asn,
                country = removed.country,
                hosterId = removed.hosterId,
                hosterName = removed.hosterName,
                abuseContact = contact,
                behindCdn = viaCdn,
                cdnName = viaCdn ? removed.recipient.name : null,
                cdnAbuseContact = viaCdn ? contact : null,
                resolvedAt = removed.issuedAt,
                sources = ["notice " + removed.noticeId],
                countries = removed.country is null ? [] : [removed.country],
            },
            verdict = Verdict.KNOWN, // it was noticed before: the same URL serves again what was taken down
            matches = [],
            assessment = null,
            rule = "recheck:reappeared-after-removal→takedown",
            policeHold = false,
            timeline = new Timeline { receivedAt = seenAt, referredToPoliceAt = null, noticeSentAt = null, removalObservedAt = null },
            requestedAt = seenAt,
        };
    }
}
