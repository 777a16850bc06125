using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Geolocation;

/// <summary>Adds where the URL is hosted. A report whose hosting cannot be determined is still emitted, marked
/// unresolved, so that routing sends it to review.</summary>
public sealed class GeolocationProcessor(IOptions<GeolocationOptions> options, TimeProvider time) : IProcessor<ReportAccepted>
{
    private readonly HostingTable table = new(options.Value);

    public ValueTask ProcessAsync(Incoming<ReportAccepted> message, IOutput output, CancellationToken cancellationToken)
    {
        var accepted = message.Value;
        var now = time.GetUtcNow().UtcDateTime;
        var located = new ReportLocated
        {
            eventId = EventIds.Derive("located", accepted.eventId),
            caseKey = accepted.caseKey,
            report = accepted.report,
            caseInfo = accepted.caseInfo,
            hosting = table.Locate(accepted.caseInfo.host, now),
            locatedAt = now,
        };
        output.Send(Topics.ReportsLocated, located.caseKey, located);
        return ValueTask.CompletedTask;
    }
}
