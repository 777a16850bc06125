using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Sla.Tests;

/// <summary>Builds synthetic notice histories: hosters under .example, random-looking hashes, times to the second.</summary>
internal sealed class History
{
    public static readonly DateTime T0 = new(2026, 3, 2, 9, 0, 0, DateTimeKind.Utc);
    public static readonly TimeSpan Norm = TimeSpan.FromHours(24);

    public List<TakedownNotice> Notices { get; } = [];
    public List<NoticeOutcome> Outcomes { get; } = [];
    public List<SlaEvent> Events { get; } = [];

    public static TakedownNotice Notice(string hoster, string url, DateTime issuedAt, int sequence = 0, NoticeKind? kind = null, TimeSpan? reportedBefore = null) => new()
    {
        eventId = EventIds.Derive("notice-issued", url, issuedAt.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        noticeId = EventIds.Derive("notice", url, issuedAt.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        caseKey = url,
        sequence = sequence,
        kind = kind ?? (sequence == 0 ? NoticeKind.FIRST : NoticeKind.REMINDER),
        recipient = new NoticeRecipient { role = RecipientRole.HOSTER, name = hoster, address = $"abuse@{hoster}.example", channel = NoticeChannel.EMAIL, foundVia = "directory" },
        hosterId = hoster,
        hosterName = hoster + " B.V.",
        url = url,
        ips = ["192.0.2.10"],
        asn = 64500,
        country = "NL",
        hashes = new ContentHashes { md5 = null, sha1 = null, sha256 = "9f2c4e1d7a3b5c6d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d", pdq = null, pdqQuality = null },
        classification = Pipeline.Contracts.Classification.BASELINE,
        detectionMethod = "hash_match",
        reportIds = ["r-" + url.GetHashCode(StringComparison.Ordinal).ToString("x8", System.Globalization.CultureInfo.InvariantCulture)],
        deadline = issuedAt + Norm,
        policeHold = false,
        timeline = new Timeline { receivedAt = issuedAt - (reportedBefore ?? TimeSpan.FromHours(1)), referredToPoliceAt = null, noticeSentAt = issuedAt, removalObservedAt = null },
        xarf = "{}",
        text = "notice",
        issuedAt = issuedAt,
    };

    public TakedownNotice Noticed(string hoster, string url, DateTime issuedAt, int sequence = 0, NoticeKind? kind = null)
    {
        var n = Notice(hoster, url, issuedAt, sequence, kind);
        Notices.Add(n);
        return n;
    }

    /// <summary>A case noticed at <paramref name="issuedAt"/> and removed <paramref name="after"/> later (null: still open).</summary>
    public TakedownNotice Case(string hoster, string url, DateTime issuedAt, TimeSpan? after)
    {
        var n = Noticed(hoster, url, issuedAt);
        if (after is { } a) Removed(n, issuedAt + a);
        return n;
    }

    public NoticeOutcome Removed(TakedownNotice notice, DateTime removedAt)
    {
        var o = SlaClock.Outcome(notice, new ContentStatusObserved
        {
            eventId = EventIds.Derive("observed", notice.noticeId), caseKey = notice.caseKey, noticeId = notice.noticeId, url = notice.url,
            status = ContentStatus.REMOVED, httpStatus = 404, method = ObservationMethod.RECHECK, consecutiveMisses = 3,
            hosterId = notice.hosterId, observedAt = removedAt.AddMinutes(10), offlineSince = removedAt, removalConfirmed = true,
        }, removedAt.AddMinutes(10));
        Outcomes.Add(o);
        Events.Add(SlaClock.RemovalEvent(o));
        return o;
    }

    public SlaEvent Breached(TakedownNotice notice)
    {
        var e = SlaClock.Breach(notice, notice.deadline.AddMinutes(1));
        Events.Add(e);
        return e;
    }

    /// <summary>First notice ids whose route's host moved before a notice left (MOVED deliveries).</summary>
    public List<string> MovedAway { get; } = [];

    public IReadOnlyList<HosterRow> Rank(DateTime now, DateTime? since = null, int repeatBreaches = 3) =>
        HosterScorecard.Rank(Notices, Outcomes, Events, now, since ?? now.AddDays(-30), repeatBreaches, movedAway: MovedAway);
}
