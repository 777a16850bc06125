using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Exchange;

/// <summary>
/// Takes partners' reports in: each partner writes to its own topic on our cluster (exchange.inbound.&lt;partner&gt;.v1),
/// so the sender is known from the topic, and a partner may only submit as itself. Accepted reports enter
/// reports.submitted.v1 with their provenance (the partner, its reference, the hop list); refused ones go to
/// reports.rejected.v1 with the reason and the exact bytes.
/// </summary>
public sealed class PartnerIntake(IOptions<ExchangeOptions> options, IOptions<ProcessingOptions> processing, TimeProvider time) : IProcessor<ReportForwarded>
{
    /// <summary>Longest id or key copied from a refused partner record into its rejection (longer ones are left out).</summary>
    public const int MaxIdLength = 1024;

    private static readonly Counter Received = Metrics.CreateCounter(
        "pipeline_exchange_received_total", "Reports received from partner hotlines, by outcome.", new CounterConfiguration { LabelNames = ["partner", "outcome"] });

    private readonly ExchangeOptions settings = options.Value;
    private readonly int payloadBudget = processing.Value.MaxRecordBytes - OriginalBytes.EnvelopeReserve;

    private static string? Bounded(string? value) => value is not null && value.Length <= MaxIdLength ? value : null;

    public static string PartnerOf(string topic) =>
        topic.StartsWith("exchange.inbound.", StringComparison.Ordinal) && topic.EndsWith(".v1", StringComparison.Ordinal)
            ? topic["exchange.inbound.".Length..^".v1".Length]
            : throw new InvalidOperationException($"{topic} is not a partner inbound topic (exchange.inbound.<partner>.v1).");

    /// <summary>Why a forwarded report is refused, or null when it is accepted.</summary>
    public (string Code, string Message)? Check(ReportForwarded f, string partner)
    {
        var hops = f.report?.hops ?? [];
        if (!string.Equals(f.partnerHotline, settings.HomeHotline, StringComparison.OrdinalIgnoreCase))
            return ("WRONG_RECIPIENT", $"The report is addressed to {f.partnerHotline}, not to {settings.HomeHotline}.");
        if (hops.Count == 0 || !string.Equals(hops[^1], partner, StringComparison.OrdinalIgnoreCase))
            return ("PARTNER_IMPERSONATION", $"Received on {partner}'s topic, but its last hop is '{(hops.Count == 0 ? "(none)" : hops[^1])}': a partner may only submit as itself.");
        if (hops.Contains(settings.HomeHotline, StringComparer.OrdinalIgnoreCase))
            return ("FORWARDING_CYCLE", $"The report has already passed through {settings.HomeHotline} (hops: {string.Join(" → ", hops)}).");
        if (hops.Count > settings.MaxHops)
            return ("HOP_LIMIT", $"The report has passed {hops.Count} hotlines; at most {settings.MaxHops} are accepted (hops: {string.Join(" → ", hops)}).");
        if (f.report is null || string.IsNullOrWhiteSpace(f.report.reportId) || string.IsNullOrWhiteSpace(f.report.url))
            return ("REPORT_MISSING", "The forwarded event carries no report, report id or URL.");
        return null;
    }

    public ValueTask ProcessAsync(Incoming<ReportForwarded> message, IOutput output, CancellationToken cancellationToken)
    {
        var f = message.Value;
        var partner = PartnerOf(message.Topic);
        var now = time.GetUtcNow().UtcDateTime;
        if (Check(f, partner) is { } refusal)
        {
            Received.WithLabels(partner, "rejected").Inc();
            // Bounded like intake's rejections (Processing:MaxRecordBytes): a partner's record near Kafka's limit is kept
            // by reference (first bytes, length, SHA-256) and over-long ids are left out, so the rejection always fits.
            var payload = OriginalBytes.Keep(message.RawValue ?? [], payloadBudget);
            var reportId = Bounded(f.report?.reportId);
            var eventId = EventIds.Derive("rejected-from-partner", f.eventId, message.Origin);
            output.Send(Topics.ReportsRejected, reportId ?? eventId, new ReportRejected
            {
                eventId = eventId,
                caseKey = Bounded(f.caseKey), reportId = reportId, sourceHotline = partner, sourceReference = reportId,
                reasonCode = refusal.Code, message = OriginalBytes.CutText(refusal.Message), originalPayload = payload.Bytes,
                originalPayloadLength = payload.OriginalLength, originalPayloadSha256 = payload.Sha256,
                originTopic = message.Topic, originPartition = message.Partition, originOffset = message.Offset, rejectedAt = now,
            });
            return ValueTask.CompletedTask;
        }
        var theirs = f.report;
        var externalIds = new Dictionary<string, string>(theirs.externalIds)
        {
            [$"{partner}:report"] = theirs.reportId,
            ["origin-hotline"] = theirs.externalIds.TryGetValue("origin-hotline", out var origin) ? origin : theirs.sourceHotline,
            ["origin-reference"] = theirs.externalIds.TryGetValue("origin-reference", out var originRef) ? originRef : theirs.sourceReference,
        };
        var report = new Report
        {
            reportId = EventIds.Derive("partner-report", partner, theirs.reportId),
            sourceHotline = partner,
            sourceReference = theirs.reportId,
            externalIds = externalIds,
            receivedAt = now,
            reportedAt = theirs.reportedAt ?? theirs.receivedAt,
            url = theirs.url, parentUrl = theirs.parentUrl, isSourceUrl = theirs.isSourceUrl, contentType = theirs.contentType,
            siteType = theirs.siteType, commercial = theirs.commercial, hashes = theirs.hashes,
            reporterType = ReporterType.PARTNER_HOTLINE,
            reporterContact = null, // never crosses a border, whatever the sender did
            assessment = f.assessment ?? theirs.assessment,
            hops = [.. theirs.hops],
        };
        output.Send(Topics.ReportsSubmitted, report.reportId, new ReportSubmitted
        {
            eventId = EventIds.Derive("submitted-by-partner", partner, f.eventId),
            caseKey = f.caseKey, report = report, submittedAt = now,
        });
        Received.WithLabels(partner, "accepted").Inc();
        return ValueTask.CompletedTask;
    }
}
