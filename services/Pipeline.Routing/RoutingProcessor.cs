using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Routing;

/// <summary>Sends each classified report where the policy says: takedown, police (and takedown), a partner hotline,
/// or the review queue.</summary>
public sealed class RoutingProcessor(IOptions<RoutingOptions> options, TimeProvider time) : IProcessor<ReportClassified>
{
    private readonly RoutingPolicy policy = new(options.Value);
    private readonly RoutingOptions settings = options.Value;

    public ValueTask ProcessAsync(Incoming<ReportClassified> message, IOutput output, CancellationToken cancellationToken)
    {
        var r = message.Value;
        var now = time.GetUtcNow().UtcDateTime;
        switch (policy.Decide(r))
        {
            case Route.Takedown t:
                output.Send(Topics.TakedownRequested, r.caseKey, Takedown(r, t.Rule, now, referredAt: null));
                break;
            case Route.PoliceAndTakedown p:
                output.Send(Topics.PoliceReferrals, r.caseKey, Referral(r, p.Rule, now));
                output.Send(Topics.TakedownRequested, r.caseKey, Takedown(r, p.Rule, now, referredAt: now));
                break;
            case Route.Forward f:
                output.Send(Topics.ExchangeOutbound, f.Partner, Forward(r, f, now));
                break;
            case Route.Review v:
                output.Send(Topics.ReportsReview, r.caseKey, new ReviewRequested
                {
                    eventId = EventIds.Derive("review", r.eventId),
                    caseKey = r.caseKey, report = r.report, caseInfo = r.caseInfo, hosting = r.hosting, verdict = r.verdict,
                    reason = v.Reason, rule = v.Rule, requestedAt = now,
                });
                break;
            case Route.Close:
                break; // not illegal: the classified event is the outcome; nothing is sent anywhere
        }
        return ValueTask.CompletedTask;
    }

    private static TakedownRequested Takedown(ReportClassified r, string rule, DateTime now, DateTime? referredAt) => new()
    {
        eventId = EventIds.Derive("takedown-requested", r.eventId),
        caseKey = r.caseKey, report = r.report, caseInfo = r.caseInfo, hosting = r.hosting, verdict = r.verdict,
        matches = r.matches, assessment = r.assessment, rule = rule, policeHold = false,
        timeline = new Timeline { receivedAt = r.report.receivedAt, referredToPoliceAt = referredAt },
        requestedAt = now,
    };

    private PoliceReferral Referral(ReportClassified r, string rule, DateTime now) => new()
    {
        eventId = EventIds.Derive("police-referral", r.eventId),
        referralId = EventIds.Derive("referral", r.caseKey, r.report.reportId),
        caseKey = r.caseKey, report = settings.ShareReporterWithPolice ? r.report : WithoutReporter(r.report),
        caseInfo = r.caseInfo, hosting = r.hosting, verdict = r.verdict, matches = r.matches, assessment = r.assessment,
        rule = rule, timeline = new Timeline { receivedAt = r.report.receivedAt, referredToPoliceAt = now }, referredAt = now,
    };

    private ReportForwarded Forward(ReportClassified r, Route.Forward f, DateTime now)
    {
        var report = WithoutReporter(r.report);
        report.hops = [.. r.report.hops, settings.HomeHotline];
        return new ReportForwarded
        {
            eventId = EventIds.Derive("forwarded", r.eventId, f.Partner),
            caseKey = r.caseKey, partnerHotline = f.Partner, partnerCountry = f.Country, report = report,
            caseInfo = r.caseInfo, hosting = r.hosting, verdict = r.verdict, matches = r.matches, assessment = r.assessment,
            rule = f.Rule, timeline = new Timeline { receivedAt = r.report.receivedAt }, forwardedAt = now,
        };
    }

    /// <summary>A copy of the report without the reporter's identity: it never leaves the home hotline.</summary>
    public static Report WithoutReporter(Report r) => new()
    {
        reportId = r.reportId, sourceHotline = r.sourceHotline, sourceReference = r.sourceReference,
        externalIds = new Dictionary<string, string>(r.externalIds), receivedAt = r.receivedAt, reportedAt = r.reportedAt,
        url = r.url, parentUrl = r.parentUrl, isSourceUrl = r.isSourceUrl, contentType = r.contentType, siteType = r.siteType,
        commercial = r.commercial, hashes = r.hashes, reporterType = r.reporterType, reporterContact = null,
        assessment = r.assessment, hops = [.. r.hops],
    };
}
