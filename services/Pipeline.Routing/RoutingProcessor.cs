using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Routing;

/// <summary>
/// Sends each classified report where the policy says: takedown, police (and, police first, a held takedown),
/// partner hotlines, or the review queue. Held takedowns live in routing.held.v1 (co-partitioned with the input)
/// until a PoliceRelease arrives or the release timeout passes (the entry's timer, <see cref="ReleaseUnanswered"/>), or
/// an analyst reverses the case's assessment to not illegal while it waits (<see cref="DropReversed"/>): then it never goes.
/// </summary>
public sealed class RoutingProcessor : IProcessor<ReportClassified>, IProcessor<PoliceRelease>, IStateful
{
    private static readonly Gauge Held = Metrics.CreateGauge("pipeline_routing_held_takedowns", "Takedowns held for the police (police first).");
    private static readonly Counter TimedOut = Metrics.CreateCounter("pipeline_routing_hold_timeouts_total", "Held takedowns released because the police did not answer in time.");
    public static readonly Counter Dropped = Metrics.CreateCounter("pipeline_routing_holds_dropped_total",
        "Held takedowns (police first) dropped unsent because an analyst reassessed the case as not illegal while it was held; each also goes to reports.review.v1.");
    private readonly RoutingPolicy policy;
    private readonly RoutingOptions settings;
    private readonly RoutingState state;
    private readonly TimeProvider time;

    public RoutingProcessor(IOptions<RoutingOptions> options, RoutingState state, TimeProvider time)
    {
        settings = options.Value;
        policy = new RoutingPolicy(settings);
        this.state = state;
        this.time = time;
        state.Held.OnDue(h => h.policeHold ? h.requestedAt + settings.PoliceReleaseTimeout : null, ReleaseUnanswered);
        Metrics.DefaultRegistry.AddBeforeCollectCallback(() => Held.Set(state.Held.Entries.Count(e => e.Value.policeHold)));
    }

    public IEnumerable<IStateStore> Stores => [state.Held];

    public ValueTask ProcessAsync(Incoming<ReportClassified> message, IOutput output, CancellationToken cancellationToken)
    {
        var r = message.Value;
        var now = time.GetUtcNow().UtcDateTime;
        var relocated = message.Topic == Topics.ReportsRelocated;
        if (!relocated) DropReversed(r, message.Partition, output, now);
        foreach (var decided in policy.Decide(r))
        {
            var route = relocated ? Rerouted(decided, r) : decided;
            switch (route)
            {
                case Route.Takedown t:
                    output.Send(Topics.TakedownRequested, r.caseKey, Takedown(r, t.Rule, now, referredAt: null, hold: false));
                    break;
                case Route.PoliceAndTakedown p:
                    output.Send(Topics.PoliceReferrals, r.caseKey, Referral(r, p.Rule, now));
                    var takedown = Takedown(r, p.Rule, now, referredAt: now, hold: p.HoldForPolice);
                    if (p.HoldForPolice) state.Held.Put(output, message.Partition, r.caseKey, takedown);
                    else output.Send(Topics.TakedownRequested, r.caseKey, takedown);
                    break;
                case Route.Forward f:
                    output.Send(Topics.ExchangeOutbound, f.Partner, Forward(r, f, now));
                    break;
                case Route.Review v:
                    output.Send(Topics.ReportsReview, r.caseKey, new ReviewRequested
                    {
                        eventId = EventIds.Derive("review", r.eventId),
                        caseKey = r.caseKey, report = ReporterIdentity.WithoutReporter(r.report), caseInfo = r.caseInfo, hosting = r.hosting, verdict = r.verdict,
                        reason = v.Reason, rule = v.Rule, requestedAt = now,
                    });
                    break;
                case Route.Close:
                    break; // not illegal: the classified event is the outcome; nothing is sent anywhere
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>An analyst reversed the assessment of a case whose takedown is held for the police (classification re-sends
    /// it NOT_ILLEGAL): the held takedown is marked done without being sent, like a release that sends nothing, so the
    /// timer is gone and a later PoliceRelease is recognised and does nothing; a review record tells a person (who also
    /// tells the police, who have the referral). Only a reversal can meet a waiting hold: a hold exists only for a report
    /// classified NEW, intake sends a case downstream once per episode, and an episode ends only after a notice was issued
    /// (a confirmed removal), which the hold has not allowed yet; a NOT_ILLEGAL of another episode leaves the hold alone.
    /// A replayed reversal finds the hold done.</summary>
    private void DropReversed(ReportClassified r, int partition, IOutput output, DateTime now)
    {
        if (r.verdict != Verdict.NOT_ILLEGAL || !state.Held.TryGet(partition, r.caseKey, out var held) || !held.policeHold) return;
        if (held.caseInfo.episode != r.caseInfo.episode) return;
        state.Held.Put(output, partition, r.caseKey, Release(held, ReversedWhileHeld, now));
        var referral = ReferralId(held.caseKey, held.report.reportId);
        var assessedBy = r.assessment is { } a ? $" (analyst {a.analyst}, {a.assessedAt:u})" : "";
        output.Send(Topics.ReportsReview, r.caseKey, new ReviewRequested
        {
            eventId = EventIds.Derive("review", "reversed-police-hold", held.eventId),
            caseKey = r.caseKey, report = ReporterIdentity.WithoutReporter(r.report), caseInfo = r.caseInfo, hosting = r.hosting, verdict = r.verdict,
            reason = $"the takedown of this case was held for the police (police first, referral {referral}) and is dropped unsent: an analyst reassessed "
                     + $"the case as not illegal{assessedBy}; no notice goes to the hoster. The police have the referral: tell them through their own channel",
            rule = "routing:assessment-reversed→police-hold-dropped", requestedAt = now,
        });
        output.AfterCommit(() => Dropped.Inc());
    }

    /// <summary>What a dropped hold's rule ends with (after <c>; </c>).</summary>
    public const string ReversedWhileHeld = "police-first: dropped unsent, assessment reversed (not illegal)";

    /// <summary>A case routed again because its host moved before a notice left (reports.relocated.v1, from the takedown
    /// stage): the policy decides on the new hosting as for any classified report, each rule marked as a re-route. The
    /// police were told when the case was first routed (and a hold, if any, was released before its notice could be
    /// issued), so new material at home now gets the takedown alone.</summary>
    private static Route Rerouted(Route route, ReportClassified r)
    {
        var prefix = $"moved(route {r.routeGeneration}):";
        return route switch
        {
            Route.PoliceAndTakedown p => new Route.Takedown(prefix + p.Rule + "(police told at first routing)"),
            Route.Takedown t => t with { Rule = prefix + t.Rule },
            Route.Forward f => f with { Rule = prefix + f.Rule },
            Route.Review v => v with { Rule = prefix + v.Rule, Reason = $"the host moved before the notice left; {v.Reason}" },
            Route.Close c => c with { Rule = prefix + c.Rule },
            _ => route,
        };
    }

    /// <summary>The police released a case: its held takedown goes out now. A hold already released (by an earlier release
    /// or the timeout) or dropped (the assessment was reversed) is known and sends nothing.</summary>
    public ValueTask ProcessAsync(Incoming<PoliceRelease> message, IOutput output, CancellationToken cancellationToken)
    {
        var release = message.Value;
        if (!state.Held.TryGet(message.Partition, release.caseKey, out var held))
            throw new InvalidOperationException($"No takedown is held for case {release.caseKey} (referral {release.referralId}): the release matches no police-first referral of this hotline.");
        if (!held.policeHold) return ValueTask.CompletedTask; // released already (by an earlier release or the timeout) or dropped
        var released = Release(held, "police-first: released by the police", release.releasedAt);
        output.Send(Topics.TakedownRequested, released.caseKey, released);
        state.Held.Put(output, message.Partition, released.caseKey, released); // kept, marked released, so late releases are recognised
        return ValueTask.CompletedTask;
    }

    /// <summary>The takedown that was held, now free to go. Same event id however it is released, so a release by
    /// the police and one by the timeout at the same moment are one event downstream.</summary>
    public static TakedownRequested Release(TakedownRequested held, string how, DateTime at) => new()
    {
        eventId = held.eventId, caseKey = held.caseKey, report = held.report, caseInfo = held.caseInfo, hosting = held.hosting,
        verdict = held.verdict, matches = held.matches, assessment = held.assessment,
        rule = held.rule + "; " + how, policeHold = false, timeline = held.timeline, requestedAt = at, routeGeneration = held.routeGeneration,
    };

    /// <summary>The police did not answer within Routing:PoliceReleaseTimeout: the held takedown goes out anyway.</summary>
    private void ReleaseUnanswered(TimerFired<TakedownRequested> timer, IOutput output)
    {
        var released = Release(timer.Value, $"police-first: released after {settings.PoliceReleaseTimeout} without an answer", timer.Now);
        output.Send(Topics.TakedownRequested, timer.Key, released);
        state.Held.Put(output, timer.Partition, timer.Key, released);
        TimedOut.Inc();
    }

    private static TakedownRequested Takedown(ReportClassified r, string rule, DateTime now, DateTime? referredAt, bool hold) => new()
    {
        eventId = EventIds.Derive("takedown-requested", r.eventId),
        caseKey = r.caseKey, report = ReporterIdentity.WithoutReporter(r.report), caseInfo = r.caseInfo, hosting = r.hosting, verdict = r.verdict,
        matches = r.matches, assessment = r.assessment, rule = rule, policeHold = hold,
        timeline = new Timeline { receivedAt = r.report.receivedAt, referredToPoliceAt = referredAt },
        requestedAt = now, routeGeneration = r.routeGeneration,
    };

    private PoliceReferral Referral(ReportClassified r, string rule, DateTime now) => new()
    {
        eventId = EventIds.Derive("police-referral", r.eventId),
        referralId = ReferralId(r.caseKey, r.report.reportId),
        caseKey = r.caseKey, report = settings.ShareReporterWithPolice ? r.report : ReporterIdentity.WithoutReporter(r.report),
        caseInfo = r.caseInfo, hosting = r.hosting, verdict = r.verdict, matches = r.matches, assessment = r.assessment,
        rule = rule, timeline = new Timeline { receivedAt = r.report.receivedAt, referredToPoliceAt = now }, referredAt = now,
    };

    public static string ReferralId(string caseKey, string reportId) => EventIds.Derive("referral", caseKey, reportId);

    private ReportForwarded Forward(ReportClassified r, Route.Forward f, DateTime now)
    {
        var report = ReporterIdentity.WithoutReporter(r.report);
        report.hops = [.. r.report.hops, settings.HomeHotline];
        return new ReportForwarded
        {
            eventId = EventIds.Derive("forwarded", r.eventId, f.Partner),
            caseKey = r.caseKey, partnerHotline = f.Partner, partnerCountry = f.Country, report = report,
            caseInfo = r.caseInfo, hosting = r.hosting, verdict = r.verdict, matches = r.matches, assessment = r.assessment,
            rule = f.Rule, timeline = new Timeline { receivedAt = r.report.receivedAt }, forwardedAt = now,
        };
    }
}

/// <summary>The routing stage's state: takedowns held for the police.</summary>
public sealed class RoutingState(IOptions<KafkaOptions> kafka, IOptions<RetentionOptions> retention, AvroSerdes serdes, ILogger<RoutingState> log)
{
    /// <summary>A released hold is kept to recognise replays, until <c>Retention:ClosedCaseAfter</c> after its request.</summary>
    public PartitionedState<TakedownRequested> Held { get; } = new PartitionedState<TakedownRequested>(Topics.RoutingHeld, kafka.Value, serdes, log)
        .ExpiresAt(h => retention.Value.Expiry(RetentionRules.Finished(h)));
}
