using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Intake;

/// <summary>
/// Step 1 of intake (stage <c>intake</c>, stateless): validates each submitted report and normalises its URL. A bad
/// report is rejected onto reports.rejected with a reason code and the exact bytes received; a good one goes on to
/// intake.grouping re-keyed by its case key, so that step 2 (<see cref="GroupingProcessor"/>) sees every change to a
/// case on one partition. Removal outcomes (notices.outcomes) are forwarded the same way, as CLOSE commands.
/// </summary>
public sealed class IntakeProcessor(IOptions<IntakeOptions> options, IOptions<ProcessingOptions> processing, TimeProvider time) : IProcessor<ReportSubmitted>, IProcessor<NoticeOutcome>
{
    public static readonly Counter Rejections = Metrics.CreateCounter(
        "pipeline_intake_rejected_total", "Reports rejected by intake, by reason code.", new CounterConfiguration { LabelNames = ["reason"] });

    private readonly ReportValidator validator = new(options.Value, time);
    private readonly int maxIdLength = options.Value.MaxIdLength;
    private readonly int maxCaseKeyLength = options.Value.MaxCaseKeyLength;
    private readonly int payloadBudget = processing.Value.MaxRecordBytes - OriginalBytes.EnvelopeReserve;

    public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken)
    {
        var submitted = message.Value;
        var failure = Check(submitted, out var url);
        if (failure is not null)
        {
            // Bounded (Processing:MaxRecordBytes): a payload near Kafka's limit is kept by reference (its first bytes,
            // length and SHA-256), and fields too long to be valid are left out, so the rejection always fits.
            var payload = OriginalBytes.Keep(message.RawValue ?? [], payloadBudget);
            var rejected = new ReportRejected
            {
                eventId = EventIds.Derive("rejected", submitted.eventId, message.Origin),
                caseKey = null,
                reportId = Bounded(submitted.report?.reportId),
                sourceHotline = Bounded(submitted.report?.sourceHotline),
                sourceReference = Bounded(submitted.report?.sourceReference),
                reasonCode = failure.Code,
                message = OriginalBytes.CutText(failure.Message),
                originalPayload = payload.Bytes,
                originTopic = message.Topic,
                originPartition = message.Partition,
                originOffset = message.Offset,
                rejectedAt = time.GetUtcNow().UtcDateTime,
                originalPayloadLength = payload.OriginalLength,
                originalPayloadSha256 = payload.Sha256,
            };
            var key = rejected.reportId is { Length: > 0 } id ? id : Bounded(message.Key) ?? rejected.eventId;
            output.Send(Topics.ReportsRejected, key, rejected);
            Rejections.WithLabels(failure.Code).Inc();
            return ValueTask.CompletedTask;
        }

        var command = new CaseCommand
        {
            eventId = EventIds.Derive("case-report", submitted.eventId),
            caseKey = url!.Key,
            kind = CaseCommandKind.REPORT,
            submittedEventId = submitted.eventId,
            report = options.Value.ForwardReporterContact ? submitted.report : ReporterIdentity.WithoutReporter(submitted.report),
            urlKey = url.Key,
            host = url.Host,
            userinfoRemoved = url.UserinfoRemoved,
            matchedBy = null,
            allowRedirect = true,
            noticeId = null,
            removedAt = null,
            issuedAt = time.GetUtcNow().UtcDateTime,
        };
        output.Send(Topics.IntakeGrouping, command.caseKey, command);
        return ValueTask.CompletedTask;
    }

    private string? Bounded(string? value) => value is not null && value.Length <= maxIdLength ? value : null;

    /// <summary>Validation, then normalisation: the same checks the HTTP API runs before it publishes.</summary>
    public ReportValidator.Failure? Check(ReportSubmitted submitted, out UrlNormaliser.Result? url)
    {
        url = null;
        var failure = validator.Validate(submitted);
        if (failure is null && !UrlNormaliser.TryNormalise(submitted.report.url, out url, out var code, out var text))
            failure = new ReportValidator.Failure(code, text);
        if (failure is null && url!.Key.Length > maxCaseKeyLength)
            failure = new ReportValidator.Failure("CASE_KEY_TOO_LONG", $"The normalised URL is {url.Key.Length} characters long; at most {maxCaseKeyLength} are accepted (Intake:MaxCaseKeyLength).");
        return failure;
    }

    public ValueTask ProcessAsync(Incoming<NoticeOutcome> message, IOutput output, CancellationToken cancellationToken)
    {
        var outcome = message.Value;
        output.Send(Topics.IntakeGrouping, outcome.caseKey, new CaseCommand
        {
            eventId = EventIds.Derive("case-close", outcome.eventId),
            caseKey = outcome.caseKey,
            kind = CaseCommandKind.CLOSE,
            submittedEventId = null,
            report = null,
            urlKey = null,
            host = null,
            userinfoRemoved = false,
            matchedBy = null,
            allowRedirect = false,
            noticeId = outcome.noticeId,
            removedAt = outcome.removedAt,
            issuedAt = time.GetUtcNow().UtcDateTime,
        });
        return ValueTask.CompletedTask;
    }
}
