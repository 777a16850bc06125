using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Services.Tests;

using Classification = Pipeline.Contracts.Classification;

/// <summary>Valid, fully populated records with synthetic data. Avro codegen applies no schema defaults, so every
/// list and map is set explicitly; every time is UTC.</summary>
internal static class Fixtures
{
    public static readonly DateTime T0 = new(2025, 3, 1, 12, 0, 0, DateTimeKind.Utc);

    // Random hex, not the hash of anything.
    public const string Md5 = "846a817a586cfad0e37a0ef277a16dfc";
    public const string Sha1 = "56219cdc6361fd6927f73691ae82fe53797dd0d0";
    public const string Sha256 = "a77b2cc8e1025acfb506d252c5bbec397e42e95edf0fe6ef6b77bc495c3d386a";
    public const string OtherSha256 = "81554ef7fc69ec85b0f7b6f1f19d2a53db3a335310695550cec45350a351c9cc";
    public const string Pdq = "9e04e5b78ec1fde2f713803f9e24662aa81345b39239b238e88c215ced1d167d";

    public const string Url = "http://www.hoster-a.example/gallery/img-0001.jpg";
    public const string CaseKey = "http://www.hoster-a.example/gallery/img-0001.jpg";
    public const string Host = "www.hoster-a.example";

    public static ContentHashes Hashes(string? md5 = Md5, string? sha1 = Sha1, string? sha256 = Sha256, string? pdq = Pdq) =>
        new() { md5 = md5, sha1 = sha1, sha256 = sha256, pdq = pdq, pdqQuality = pdq is null ? null : 90 };

    public static Report Report(string reportId = "nl-2025-000001", string sourceHotline = "nl-hotline") => new()
    {
        reportId = reportId,
        sourceHotline = sourceHotline,
        sourceReference = "CASE-0001",
        externalIds = new Dictionary<string, string> { ["iccam"] = "ICCAM-0001" },
        receivedAt = T0,
        reportedAt = T0.AddMinutes(-30),
        url = Url,
        parentUrl = "http://forum.site.example/thread/1",
        isSourceUrl = true,
        contentType = ContentType.IMAGE,
        siteType = SiteType.IMAGE_HOST,
        commercial = false,
        hashes = Hashes(),
        reporterType = ReporterType.PUBLIC,
        reporterContact = new ReporterContact { name = "Reporter Example", email = "reporter@mail.example", phone = null },
        assessment = null,
        hops = [],
    };

    public static ReportSubmitted Submitted(Report? report = null) => new()
    {
        eventId = "submitted-0001",
        caseKey = null,
        report = report ?? Report(),
        submittedAt = T0,
    };

    public static Assessment Assessment(Classification classification) => new()
    {
        classification = classification,
        ageGroup = AgeGroup.PREPUBESCENT,
        gender = Gender.NOT_DETERMINED,
        isVirtual = false,
        userGenerated = false,
        analyst = "analyst-1",
        assessedAt = T0.AddMinutes(10),
    };

    public static CaseInfo CaseInfo(string caseKey = CaseKey, string host = Host) => new()
    {
        normalizedUrl = caseKey,
        host = host,
        caseOpenedAt = T0,
        reportCount = 1,
        reupload = false,
        userinfoRemoved = false,
    };

    public static HostingInfo Hosting(string? country = "NL", bool behindCdn = false, bool withAbuseContact = true) => new()
    {
        resolved = true,
        ips = ["192.0.2.10"],
        asn = 64496,
        asOrganisation = "Hoster A B.V. (example)",
        country = country,
        hosterId = "hoster-a",
        hosterName = "Hoster A",
        abuseContact = withAbuseContact
            ? new AbuseContact { address = "abuse@hoster-a.example", channel = NoticeChannel.EMAIL, foundVia = "networks:table", approved = true }
            : null,
        behindCdn = behindCdn,
        originIp = null,
        resolvedAt = T0,
        sources = ["hosts:table", "networks:table"],
        unresolvedReason = null,
    };

    public static HostingInfo Unresolved(string reason = "no address known for host www.hoster-a.example") => new()
    {
        resolved = false,
        ips = [],
        resolvedAt = T0,
        sources = [],
        unresolvedReason = reason,
    };

    public static HashMatch Match(string bank = "police-nl") =>
        new() { bank = bank, algorithm = HashAlgorithm.SHA256, value = Sha256, distance = 0, category = "A" };

    public static ReportClassified Classified(Verdict verdict, HostingInfo? hosting = null, Report? report = null, Assessment? assessment = null) => new()
    {
        eventId = "classified-0001",
        caseKey = CaseKey,
        report = report ?? Report(),
        caseInfo = CaseInfo(),
        hosting = hosting ?? Hosting(),
        verdict = verdict,
        matches = verdict == Verdict.KNOWN ? [Match()] : [],
        assessment = assessment,
        classifiedAt = T0.AddMinutes(1),
    };

    public static TakedownRequested Requested(HostingInfo? hosting = null, bool withMatches = true, Assessment? assessment = null) => new()
    {
        eventId = "takedown-requested-0001",
        caseKey = CaseKey,
        report = Report(),
        caseInfo = CaseInfo(),
        hosting = hosting ?? Hosting(),
        verdict = withMatches ? Verdict.KNOWN : Verdict.NEW,
        matches = withMatches ? [Match()] : [],
        assessment = assessment,
        rule = "home+known→takedown",
        policeHold = false,
        timeline = new Timeline { receivedAt = T0, referredToPoliceAt = null, noticeSentAt = null, removalObservedAt = null },
        requestedAt = T0.AddMinutes(2),
    };

    /// <summary>A first notice issued at <paramref name="issuedAt"/> with a 24-hour deadline; the report was received at T0.</summary>
    public static TakedownNotice Notice(DateTime issuedAt, string caseKey = CaseKey, TimeSpan? deadline = null)
    {
        var noticeId = EventIds.Derive("notice", caseKey, "0");
        return new TakedownNotice
        {
            eventId = EventIds.Derive("notice-issued", caseKey),
            noticeId = noticeId,
            caseKey = caseKey,
            sequence = 0,
            kind = NoticeKind.FIRST,
            recipient = new NoticeRecipient
            {
                role = RecipientRole.HOSTER, name = "Hoster A", address = "abuse@hoster-a.example",
                channel = NoticeChannel.EMAIL, foundVia = "networks:table",
            },
            hosterId = "hoster-a",
            hosterName = "Hoster A",
            url = caseKey,
            ips = ["192.0.2.10"],
            asn = 64496,
            country = "NL",
            hashes = Hashes(),
            classification = Classification.BASELINE,
            detectionMethod = "hash_match",
            reportIds = ["nl-2025-000001"],
            deadline = issuedAt + (deadline ?? TimeSpan.FromHours(24)),
            policeHold = false,
            timeline = new Timeline { receivedAt = T0, referredToPoliceAt = null, noticeSentAt = issuedAt, removalObservedAt = null },
            xarf = "{}",
            text = "",
            issuedAt = issuedAt,
        };
    }

    public static ContentStatusObserved Removal(TakedownNotice notice, DateTime observedAt, DateTime? offlineSince) => new()
    {
        eventId = EventIds.Derive("status", notice.caseKey, observedAt.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        caseKey = notice.caseKey,
        noticeId = notice.noticeId,
        url = notice.url,
        status = ContentStatus.REMOVED,
        httpStatus = 404,
        method = ObservationMethod.RECHECK,
        consecutiveMisses = 3,
        hosterId = notice.hosterId,
        observedAt = observedAt,
        offlineSince = offlineSince,
        removalConfirmed = true,
    };
}
