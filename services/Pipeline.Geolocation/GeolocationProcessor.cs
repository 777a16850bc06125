using Pipeline.Contracts;
using Pipeline.Platform;
using Prometheus;

namespace Pipeline.Geolocation;

/// <summary>Adds where the URL is hosted. A report whose hosting cannot be determined is still emitted, marked
/// unresolved with the reason, so that routing sends it to review.</summary>
public sealed class GeolocationProcessor(HostingLocator locator, TimeProvider time) : IProcessor<ReportAccepted>
{
    private static readonly Counter Located = Metrics.CreateCounter("pipeline_geolocation_located_total",
        "Reports located, by whether the hosting was resolved and whether the address is behind a CDN.", "resolved", "cdn");

    public async ValueTask ProcessAsync(Incoming<ReportAccepted> message, IOutput output, CancellationToken cancellationToken)
    {
        var accepted = message.Value;
        var hosting = await locator.LocateAsync(accepted.caseInfo.host, cancellationToken);
        var located = new ReportLocated
        {
            eventId = EventIds.Derive("located", accepted.eventId),
            caseKey = accepted.caseKey,
            report = accepted.report,
            caseInfo = accepted.caseInfo,
            hosting = hosting,
            locatedAt = time.GetUtcNow().UtcDateTime,
        };
        Located.WithLabels(hosting.resolved ? "true" : "false", hosting.behindCdn ? "true" : "false").Inc();
        output.Send(Topics.ReportsLocated, located.caseKey, located);
    }
}
