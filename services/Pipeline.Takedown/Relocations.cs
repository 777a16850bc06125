using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;
using Prometheus;

namespace Pipeline.Takedown;

/// <summary>
/// The takedown stage's current route per case (takedown.routes.v1, co-partitioned with takedown.requested.v1 and
/// notices.deliveries.v1): the request the case's notices are composed from, carrying its route generation. When the
/// delivery finds the host moved (MOVED on notices.deliveries.v1), the entry becomes a copy at the next generation: the
/// route is spent, a replayed request of the old route issues nothing, and a replayed MOVED re-routes nothing.
/// </summary>
public sealed class RouteState(IOptions<KafkaOptions> kafka, IOptions<RetentionOptions> retention, AvroSerdes serdes, ILogger<RouteState> log)
{
    public PartitionedState<TakedownRequested> State { get; } = new PartitionedState<TakedownRequested>(Topics.TakedownRoutes, kafka.Value, serdes, log)
        .ExpiresAt(r => retention.Value.Expiry(RetentionRules.Routed(r)));
}

/// <summary>
/// Re-routing a case whose host moved between routing and sending (issue 12): the moved notice's route is spent, its
/// reminders and escalation ladder stop, and the case goes back to routing on reports.relocated.v1 as a
/// <see cref="ReportClassified"/> with the new hosting and the next route generation. Routing decides afresh: a new
/// hoster at home gets a notice of its own (a new notice id: the generation is part of it), a host abroad goes to the
/// partner hotline (reporter identity stripped, as for any forward).
/// </summary>
public static class Relocations
{
    public static readonly Counter Rerouted = Metrics.CreateCounter(
        "pipeline_takedown_reroutes_total", "Cases sent back to routing because the re-lookup before sending found the host moved, by reason (hoster, country).",
        new CounterConfiguration { LabelNames = ["reason"] });

    /// <summary>Whether a request belongs to a route that was spent by a move: same episode, an older generation than
    /// the case's current route.</summary>
    public static bool Spent(TakedownRequested request, TakedownRequested? current) =>
        current is not null && current.caseInfo.episode == request.caseInfo.episode && current.routeGeneration > request.routeGeneration;

    /// <summary>Whether <paramref name="request"/> becomes the case's current route: the first one, a newer episode, a
    /// newer generation of the same episode, or the request of the generation a move prepared (replacing the spent copy,
    /// see <see cref="Spend"/>). A replay of the current request, or of an older one, leaves it as it is.</summary>
    public static bool Newer(TakedownRequested request, TakedownRequested? current) =>
        current is null || request.caseInfo.episode > current.caseInfo.episode
        || (request.caseInfo.episode == current.caseInfo.episode
            && (request.routeGeneration > current.routeGeneration || (request.routeGeneration == current.routeGeneration && request.eventId != current.eventId)));

    /// <summary>Why a MOVED record re-routes nothing, or null when it re-routes the case.</summary>
    public static string? NotRerouted(NoticeDelivery moved, TakedownRequested? current) =>
        moved.notice is null || moved.movedTo is null ? "the record carries no notice or no new hosting"
        : current is null ? "no route of the case is known here (expired, or the request never reached this stage)"
        : current.caseInfo.episode != moved.notice.episode ? $"the notice belongs to episode {moved.notice.episode}, the case is at episode {current.caseInfo.episode}"
        : current.routeGeneration != moved.notice.routeGeneration ? $"route generation {moved.notice.routeGeneration} was re-routed already (now {current.routeGeneration})"
        : null;

    /// <summary>The case, to be routed again with the hosting the re-lookup found. Its event id derives from the moved
    /// route's first notice, so a replay yields the same event.</summary>
    public static ReportClassified Relocated(TakedownRequested route, NoticeDelivery moved, DateTime at) => new()
    {
        eventId = EventIds.Derive("relocated", ReminderSchedule.FirstNoticeId(moved.notice!), route.routeGeneration.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        caseKey = route.caseKey,
        report = route.report,
        caseInfo = route.caseInfo,
        hosting = moved.movedTo!,
        verdict = route.verdict,
        matches = route.matches,
        assessment = route.assessment,
        classifiedAt = at,
        routeGeneration = route.routeGeneration + 1,
    };

    /// <summary>The route marked spent: a copy at the next generation with the hosting the case moved to (and the old
    /// request's event id, so the next generation's request replaces it when it comes).</summary>
    public static TakedownRequested Spend(TakedownRequested route, HostingInfo movedTo)
    {
        var copy = new TakedownRequested();
        for (var i = 0; i < ((Avro.RecordSchema)copy.Schema).Fields.Count; i++) copy.Put(i, route.Get(i));
        copy.routeGeneration = route.routeGeneration + 1;
        copy.hosting = movedTo;
        return copy;
    }

    /// <summary>"hoster" when the hoster changed, else "country".</summary>
    public static string Reason(NoticeDelivery moved) =>
        moved.movedTo is { hosterId: { } now } && !string.Equals(now, moved.hosterId, StringComparison.OrdinalIgnoreCase) ? "hoster" : "country";
}
