using Pipeline.Contracts;
using Prometheus;

namespace Pipeline.Takedown;

/// <summary>What the re-lookup just before sending found, compared with the hosting the case was routed on.</summary>
public enum RelookupVerdict
{
    /// <summary>Same hoster and country: send.</summary>
    Unchanged,
    /// <summary>Another hoster: do not send; record MOVED and route the case again.</summary>
    HosterChanged,
    /// <summary>Same (or unknown) hoster, other country: do not send; record MOVED and route the case again.</summary>
    CountryChanged,
    /// <summary>The re-lookup failed (DNS down, no answer): send on the routing-time data and record the failure.</summary>
    LookupFailed,
}

/// <summary>
/// Decides whether a case's host moved between routing and sending (issue 12, "stale hoster"). Only the hoster id and
/// the country count: a new IP within the same hoster and country is not a move. A failed re-lookup never blocks a
/// send: the caller sends on the routing-time data and records that the re-lookup failed.
/// </summary>
public static class HostingChange
{
    public static RelookupVerdict Compare(HostingInfo routed, HostingInfo? current) => Compare(routed.hosterId, routed.country, current);

    /// <summary>Compares the routing-time hoster and country (as a notice carries them) with the re-lookup's answer.</summary>
    public static RelookupVerdict Compare(string? routedHoster, string? routedCountry, HostingInfo? current)
    {
        if (current is null || !current.resolved) return RelookupVerdict.LookupFailed;
        if (!SameText(routedHoster, current.hosterId) && current.hosterId is not null) return RelookupVerdict.HosterChanged;
        if (!SameText(routedCountry, current.country) && current.country is not null) return RelookupVerdict.CountryChanged;
        return RelookupVerdict.Unchanged;
    }

    /// <summary>The metric label for a verdict that stops the send.</summary>
    public static string Reason(RelookupVerdict verdict) => verdict switch
    {
        RelookupVerdict.HosterChanged => "hoster",
        RelookupVerdict.CountryChanged => "country",
        _ => throw new ArgumentOutOfRangeException(nameof(verdict), verdict, "not a move"),
    };

    /// <summary>The delivery record of a notice that was not sent because its host moved.</summary>
    public static NoticeDelivery Moved(TakedownNotice notice, string caseKey, string? hosterId, NoticeChannel channel, string address,
        HostingInfo movedTo, RelookupVerdict verdict, DateTime at) => new()
    {
        eventId = notice.noticeId + ":moved",
        noticeId = notice.noticeId,
        caseKey = caseKey,
        hosterId = hosterId,
        channel = channel,
        address = address,
        attempt = 1,
        status = DeliveryStatus.MOVED,
        detail = $"not sent: the re-lookup before sending found the host moved ({Reason(verdict)}: now {movedTo.hosterId ?? "unknown hoster"}, {movedTo.country ?? "unknown country"})",
        at = at,
        movedTo = movedTo,
    };

    private static bool SameText(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
}

internal static class RelookupMetrics
{
    public static readonly Counter Moved = Metrics.CreateCounter(
        "pipeline_takedown_moved_total", "Notices not sent because the re-lookup just before sending found the host at another hoster or in another country (the case is routed again), by reason (hoster, country).",
        new CounterConfiguration { LabelNames = ["reason"] });
    public static readonly Counter LookupFailed = Metrics.CreateCounter(
        "pipeline_takedown_relookup_failed_total", "Re-lookups before sending that failed (DNS down, no answer): the notice was sent on the routing-time data.");
}

/// <summary>
/// Looks hosts up again just before a notice leaves, bypassing every cache (DNS answers, RDAP answers): DNS, then
/// IP → ASN / country / hoster and the abuse contact, as geolocation does at routing time. One call for all hosts of a
/// batch. A host whose lookup failed maps to null or to an unresolved answer.
/// </summary>
public interface IHostRelookup
{
    Task<IReadOnlyDictionary<string, HostingInfo?>> LookupAsync(IReadOnlyCollection<string> hosts, CancellationToken cancellationToken);
}

/// <summary>What the gate decided for one notice: send (possibly on routing-time data, when the re-lookup failed), or
/// not, because the host moved.</summary>
public sealed record RelookupOutcome(DeliveryResult? Moved, bool LookupFailed)
{
    public static readonly RelookupOutcome Send = new(null, false);
}

/// <summary>
/// The pre-send check: re-look the notices' hosts up (each distinct host once, with a bounded number of tries) and
/// compare with the hosting each notice was composed for. Moved → a MOVED result carrying the new hosting (nothing is
/// sent); lookup failed → the notice is sent on the routing-time data and the result's detail says the re-lookup
/// failed; no re-lookup configured → send. Only notices to the hoster's side are checked (FIRST, REMINDER, ESCALATION):
/// a withdrawal or a confirmation tells the recipient of an earlier notice about that notice, wherever the host is now.
/// </summary>
public sealed class RelookupGate(IHostRelookup? relookup = null, int attempts = 2)
{
    public bool Enabled => relookup is not null;

    public static bool Checked(TakedownNotice n) => n.kind is NoticeKind.FIRST or NoticeKind.REMINDER or NoticeKind.ESCALATION;

    public async Task<RelookupOutcome> CheckAsync(TakedownNotice notice, CancellationToken ct) =>
        (await CheckAsync([notice], ct))[notice.noticeId];

    /// <summary>Per notice id, what to do with it.</summary>
    public async Task<IReadOnlyDictionary<string, RelookupOutcome>> CheckAsync(IReadOnlyList<TakedownNotice> notices, CancellationToken ct)
    {
        var outcomes = notices.ToDictionary(n => n.noticeId, _ => RelookupOutcome.Send, StringComparer.Ordinal);
        if (relookup is null) return outcomes;
        var hostOf = notices.Where(Checked).Select(n => (n, Host: HostOf(n.url))).Where(x => x.Host is not null).ToList();
        if (hostOf.Count == 0) return outcomes;
        var pending = hostOf.Select(x => x.Host!).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var answers = new Dictionary<string, HostingInfo?>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < Math.Max(1, attempts) && pending.Count > 0; i++)
        {
            try
            {
                var found = await relookup.LookupAsync(pending, ct);
                foreach (var (host, answer) in found) answers[host] = answer;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // a lookup failure never blocks the send: see HostingChange
            }
            pending = [.. pending.Where(h => answers.GetValueOrDefault(h) is not { resolved: true })];
        }
        foreach (var (n, host) in hostOf)
        {
            var current = answers.GetValueOrDefault(host!);
            var verdict = HostingChange.Compare(n.hosterId, n.country, current);
            outcomes[n.noticeId] = verdict switch
            {
                RelookupVerdict.LookupFailed => new RelookupOutcome(null, true),
                RelookupVerdict.Unchanged => RelookupOutcome.Send,
                _ => new RelookupOutcome(new DeliveryResult(DeliveryStatus.MOVED,
                    $"not sent: the re-lookup before sending found the host moved ({HostingChange.Reason(verdict)}: now {current!.hosterId ?? "unknown hoster"}, {current.country ?? "unknown country"}); the case is routed again")
                { MovedTo = current, MovedReason = HostingChange.Reason(verdict) }, false),
            };
        }
        return outcomes;
    }

    /// <summary>The host part of a notice's URL, as geolocation looked it up.</summary>
    public static string? HostOf(string url) => Uri.TryCreate(url, UriKind.Absolute, out var u) ? u.IdnHost : null;
}
