using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Intake;

/// <summary>
/// Validates each submitted report and either accepts it under its case key (the normalised URL) or rejects it
/// onto reports.rejected with a reason code and the exact bytes received. Nothing is dropped.
/// </summary>
public sealed class IntakeProcessor(IOptions<IntakeOptions> options, TimeProvider time) : IProcessor<ReportSubmitted>
{
    private readonly ReportValidator validator = new(options.Value, time);

    public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken)
    {
        var submitted = message.Value;
        var failure = validator.Validate(submitted);
        UrlNormaliser.Result? url = null;
        if (failure is null && !UrlNormaliser.TryNormalise(submitted.report.url, out url, out var code, out var text))
            failure = new ReportValidator.Failure(code, text);

        if (failure is not null)
        {
            var rejected = new ReportRejected
            {
                eventId = EventIds.Derive("rejected", submitted.eventId, message.Origin),
                caseKey = null,
                reportId = submitted.report?.reportId,
                sourceHotline = submitted.report?.sourceHotline,
                sourceReference = submitted.report?.sourceReference,
                reasonCode = failure.Code,
                message = failure.Message,
                originalPayload = message.RawValue ?? [],
                originTopic = message.Topic,
                originPartition = message.Partition,
                originOffset = message.Offset,
                rejectedAt = time.GetUtcNow().UtcDateTime,
            };
            output.Send(Topics.ReportsRejected, submitted.report?.reportId ?? message.Key ?? rejected.eventId, rejected);
            return ValueTask.CompletedTask;
        }

        var now = time.GetUtcNow().UtcDateTime;
        var accepted = new ReportAccepted
        {
            eventId = EventIds.Derive("accepted", submitted.eventId),
            caseKey = url!.Key,
            report = submitted.report,
            caseInfo = new CaseInfo
            {
                normalizedUrl = url.Key,
                host = url.Host,
                caseOpenedAt = now,
                reportCount = 1,
                reupload = false,
                userinfoRemoved = url.UserinfoRemoved,
            },
            acceptedAt = now,
        };
        output.Send(Topics.ReportsAccepted, accepted.caseKey, accepted);
        return ValueTask.CompletedTask;
    }
}
