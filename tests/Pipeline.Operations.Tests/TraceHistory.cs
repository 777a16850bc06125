using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Operations.Tests;

/// <summary>The events one report leaves on the topics, built from the real Avro types: documentation addresses and
/// ASNs, .test hosts, random hashes. Times are whole milliseconds (Avro carries milliseconds).</summary>
internal sealed class TraceHistory(string run, DateTime t0)
{
    public const string ReporterName = "Rita Reporter";
    public const string ReporterEmail = "rita.reporter@mail.test";

    public string Url => $"http://site-a.nl-host.test/{run}/case.jpg";

    /// <summary>The same URL as a person might paste it: it normalises to <see cref="Url"/>.</summary>
    public string PastedUrl => $"HTTP://Site-A.nl-host.test:80/{run}/x/../case.jpg#top";

    public DateTime T0 => t0;

    public Report Report(string reportId, string url) => new()
    {
        reportId = reportId, sourceHotline = "nl-hotline", sourceReference = "REF-" + reportId, externalIds = new Dictionary<string, string>(),
        receivedAt = t0, reportedAt = t0, url = url, parentUrl = null, isSourceUrl = true, contentType = ContentType.IMAGE, siteType = SiteType.IMAGE_HOST,
        commercial = false, hashes = new ContentHashes { sha256 = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) },
        reporterType = ReporterType.PUBLIC, reporterContact = new ReporterContact { name = ReporterName, email = ReporterEmail, phone = null },
        assessment = new Assessment
        {
            classification = Pipeline.Contracts.Classification.BASELINE, ageGroup = AgeGroup.PREPUBESCENT, gender = Gender.NOT_DETERMINED, analyst = "analyst-1", assessedAt = t0,
        },
        hops = [],
    };

    public CaseInfo CaseInfo(int reportCount = 1) => new()
    {
        normalizedUrl = Url, host = "site-a.nl-host.test", caseOpenedAt = t0, reportCount = reportCount, reupload = false, episode = 0, userinfoRemoved = false,
    };

    public HostingInfo Hosting() => new()
    {
        resolved = true, ips = ["192.0.2.10"], asn = 64496, asOrganisation = "NL Host (test)", country = "NL", hosterId = "nl-host", hosterName = "NL Host",
        abuseContact = new AbuseContact { address = "abuse@nl-host.test", channel = NoticeChannel.EMAIL, foundVia = "networks:table", approved = true },
        behindCdn = false, resolvedAt = t0, sources = ["hosts:table", "networks:table"], countries = [],
    };

    public CaseState Case(string eventId, DateTime at, CaseStatus status, params string[] reportIds) => new()
    {
        eventId = eventId, caseKey = Url, status = status, host = "site-a.nl-host.test", openedAt = t0, firstOpenedAt = t0, firstSeenAt = t0, lastSeenAt = at,
        reportCount = reportIds.Length, episode = 0, reupload = false, openingReportId = reportIds[0], acceptedEventId = "accepted-1", reportIds = reportIds,
        sources = ["nl-hotline"], hashes = [], userinfoRemoved = false, closedAt = status == CaseStatus.CLOSED_REMOVED ? at : null,
        closedByNoticeId = status == CaseStatus.CLOSED_REMOVED ? "notice-1" : null, updatedAt = at,
    };

    public TakedownRequested Takedown(string reportId, DateTime at, string rule, bool held) => new()
    {
        eventId = "takedown-" + reportId, caseKey = Url, report = Report(reportId, Url), caseInfo = CaseInfo(), hosting = Hosting(), verdict = Verdict.NEW, matches = [],
        assessment = Report(reportId, Url).assessment, rule = rule, policeHold = held,
        timeline = new Timeline { receivedAt = t0, referredToPoliceAt = t0.AddSeconds(5) }, requestedAt = at,
    };

    public TakedownNotice Notice(string noticeId, string reportId, DateTime at, int sequence) => new()
    {
        eventId = "issued-" + noticeId, noticeId = noticeId, caseKey = Url, sequence = sequence, episode = 0, kind = sequence == 0 ? NoticeKind.FIRST : NoticeKind.REMINDER,
        recipient = new NoticeRecipient { role = RecipientRole.HOSTER, name = "NL Host", address = "abuse@nl-host.test", channel = NoticeChannel.EMAIL, foundVia = "networks:table" },
        hosterId = "nl-host", hosterName = "NL Host", url = Url, ips = ["192.0.2.10"], asn = 64496, country = "NL", hashes = new ContentHashes(),
        classification = Pipeline.Contracts.Classification.BASELINE, detectionMethod = "manual_review", reportIds = [reportId], deadline = t0.AddHours(26).AddSeconds(1), policeHold = false,
        timeline = new Timeline { receivedAt = t0, referredToPoliceAt = t0.AddSeconds(5), noticeSentAt = t0.AddHours(2).AddSeconds(1) }, xarf = "{}", text = "notice",
        issuedAt = at, originalNoticeId = sequence == 0 ? null : "notice-1",
    };

    public NoticeDelivery Delivered(string noticeId, DateTime at) => new()
    {
        eventId = "delivered-" + noticeId, noticeId = noticeId, caseKey = Url, hosterId = "nl-host", channel = NoticeChannel.EMAIL, address = "abuse@nl-host.test",
        attempt = 1, status = DeliveryStatus.SENT, detail = "250 queued", at = at,
    };

    public ContentStatusObserved Check(int n, DateTime at, ContentStatus status, int misses, bool confirmed = false) => new()
    {
        eventId = $"check-{n}", caseKey = Url, noticeId = "notice-1", url = Url, status = status, httpStatus = status == ContentStatus.ONLINE ? 200 : 404,
        method = ObservationMethod.RECHECK, consecutiveMisses = misses, hosterId = "nl-host", observedAt = at, offlineSince = confirmed ? t0.AddHours(27) : null,
        removalConfirmed = confirmed,
    };

    public SlaEvent Sla(SlaEventKind kind, string noticeId, DateTime at) => new()
    {
        eventId = $"sla-{kind}-{noticeId}", caseKey = Url, noticeId = noticeId, hosterId = "nl-host", kind = kind, deadline = t0.AddHours(26).AddSeconds(1), occurredAt = at,
    };

    public CaseCommand Command(string eventId, DateTime at, CaseCommandKind kind, Report? report) => new()
    {
        eventId = eventId, caseKey = Url, kind = kind, report = report, urlKey = Url, host = "site-a.nl-host.test", userinfoRemoved = false, allowRedirect = kind == CaseCommandKind.REPORT,
        noticeId = kind == CaseCommandKind.CLOSE ? "notice-1" : null, removedAt = kind == CaseCommandKind.CLOSE ? t0.AddHours(27) : null, issuedAt = at,
    };

    /// <summary>Report <paramref name="r1"/>'s path through police hold, release, notice, reminder and removal, and
    /// <paramref name="r2"/> joining its open case an hour later: (topic, key, stage that wrote it, event).</summary>
    public List<(string Topic, string Key, string? Stage, Avro.Specific.ISpecificRecord Value)> PoliceHoldToRemoval(string r1, string r2)
    {
        DateTime At(double hours, double seconds = 0) => t0.AddHours(hours).AddSeconds(seconds);
        var report = Report(r1, Url);
        var notice = Notice("notice-1", r1, At(2, 1), 0);
        return
        [
            (Topics.ReportsSubmitted, r1, null, new ReportSubmitted { eventId = "submitted-1", report = report, submittedAt = t0 }),
            (Topics.IntakeGrouping, Url, "intake", Command("command-1", At(0, 1), CaseCommandKind.REPORT, report)),
            (Topics.ReportsAccepted, Url, "intake-grouping", new ReportAccepted { eventId = "accepted-1", caseKey = Url, report = report, caseInfo = CaseInfo(), acceptedAt = At(0, 2) }),
            (Topics.IntakeCases, Url, "intake-grouping", Case("case-1", At(0, 2.001), CaseStatus.OPEN, r1)),
            (Topics.ReportsLocated, Url, "geolocation", new ReportLocated { eventId = "located-1", caseKey = Url, report = report, caseInfo = CaseInfo(), hosting = Hosting(), locatedAt = At(0, 3) }),
            (Topics.ReportsClassified, Url, "classification", new ReportClassified
            {
                eventId = "classified-1", caseKey = Url, report = report, caseInfo = CaseInfo(), hosting = Hosting(), verdict = Verdict.NEW, matches = [],
                assessment = report.assessment, classifiedAt = At(0, 4),
            }),
            (Topics.PoliceReferrals, Url, "routing", new PoliceReferral
            {
                eventId = "referral-1", referralId = "referral-1", caseKey = Url, report = report, caseInfo = CaseInfo(), hosting = Hosting(), verdict = Verdict.NEW,
                matches = [], assessment = report.assessment, rule = "home+new→police-first", timeline = new Timeline { receivedAt = t0, referredToPoliceAt = At(0, 5) },
                referredAt = At(0, 5),
            }),
            (Topics.RoutingHeld, Url, "routing", Takedown(r1, At(0, 5.001), "home+new→police-first", held: true)),
            // r2 joins the open case an hour later
            (Topics.ReportsSubmitted, r2, null, new ReportSubmitted { eventId = "submitted-2", report = Report(r2, PastedUrl), submittedAt = At(1) }),
            (Topics.IntakeGrouping, Url, "intake", Command("command-2", At(1, 1), CaseCommandKind.REPORT, Report(r2, PastedUrl))),
            (Topics.ReportsGrouped, Url, "intake-grouping", new ReportGrouped
            {
                eventId = "grouped-2", caseKey = Url, reportId = r2, sourceHotline = "nl-hotline", sourceReference = "REF-" + r2, reportUrl = PastedUrl, matchedBy = "url",
                reportCount = 2, caseOpenedAt = t0, report = Report(r2, PastedUrl), groupedAt = At(1, 2),
            }),
            (Topics.IntakeCases, Url, "intake-grouping", Case("case-2", At(1, 2.001), CaseStatus.OPEN, r1, r2)),
            // the police release the takedown; routing sends it and marks the held one released
            (Topics.PoliceReleases, Url, null, new PoliceRelease { eventId = "release-1", caseKey = Url, referralId = "referral-1", releasedBy = "police-unit-7", releasedAt = At(2), preserveEvidence = true }),
            (Topics.TakedownRequested, Url, "routing", Takedown(r1, At(2, 0.001), "home+new→police-first; police-first: released by the police", held: false)),
            (Topics.RoutingHeld, Url, "routing", Takedown(r1, At(2, 0.002), "home+new→police-first; police-first: released by the police", held: false)),
            (Topics.NoticesIssued, Url, "takedown", notice),
            (Topics.NoticesIssued, Url, "takedown", notice), // a replay after a crash: one step
            (Topics.NoticeDeliveries, Url, "takedown-delivery", Delivered("notice-1", At(2, 2))),
            (Topics.ContentStatus, Url, "recheck", Check(1, At(2.25), ContentStatus.ONLINE, 0)),
            (Topics.SlaEvents, Url, "sla", Sla(SlaEventKind.DEADLINE_BREACHED, "notice-1", At(26, 1))),
            (Topics.NoticesIssued, Url, "takedown", Notice("reminder-1", r1, At(26, 1.001), 1)),
            (Topics.NoticeDeliveries, Url, "takedown-delivery", Delivered("reminder-1", At(26, 2))),
            (Topics.SlaEvents, Url, "takedown-delivery", Sla(SlaEventKind.REMINDER_SENT, "reminder-1", At(26, 2.001))),
            (Topics.ContentStatus, Url, "recheck", Check(2, At(27), ContentStatus.REMOVED, 1)),
            (Topics.ContentStatus, Url, "recheck", Check(3, At(27, 300), ContentStatus.REMOVED, 2)),
            (Topics.ContentStatus, Url, "recheck", Check(4, At(27, 600), ContentStatus.REMOVED, 3, confirmed: true)),
            (Topics.NoticeOutcomes, Url, "sla", new NoticeOutcome
            {
                eventId = "outcome-1", caseKey = Url, noticeId = "notice-1", hosterId = "nl-host", hosterName = "NL Host", country = "NL", timeline = notice.timeline,
                removedAt = At(27), timeToRemovalFromNoticeMs = (long)(At(27) - notice.issuedAt).TotalMilliseconds, timeToRemovalFromReportMs = (long)TimeSpan.FromHours(27).TotalMilliseconds,
                deadline = notice.deadline, withinNorm = false, verification = "recheck:3-misses", decidedAt = At(27, 601),
            }),
            (Topics.SlaEvents, Url, "sla", Sla(SlaEventKind.REMOVED_AFTER_DEADLINE, "notice-1", At(27, 601.001))),
            (Topics.IntakeGrouping, Url, "intake", Command("close-1", At(27, 602), CaseCommandKind.CLOSE, null)),
            (Topics.IntakeCases, Url, "intake-grouping", Case("case-3", At(27, 603), CaseStatus.CLOSED_REMOVED, r1, r2)),
        ];
    }

    /// <summary>The steps of r1's trace, in order.</summary>
    public static readonly string[] PoliceHoldToRemovalSteps =
    [
        "report submitted", "validated; to case grouping", "accepted: new case", "case open", "located", "classified NEW", "referred to the police",
        "takedown held for the police", "released by the police", "takedown requested", "held takedown marked released", "notice issued",
        "delivery sent (email, attempt 1)", "recheck: ONLINE", "sla: deadline breached", "reminder 1 issued", "delivery sent (email, attempt 1)", "sla: reminder sent",
        "recheck: REMOVED", "recheck: REMOVED", "recheck: REMOVED, removal confirmed", "outcome: removed after the deadline", "sla: removed after deadline",
        "close the case (removal outcome)", "case closed removed",
    ];
}
