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
public sealed class IntakeProcessor(IOptions<IntakeOptions> options, TimeProvider time) : IProcessor<ReportSubmitted>, IProcessor<NoticeOutcome>
{
    public static readonly Counter Rejections = Metrics.CreateCounter(
        "pipeline_intake_rejected_total", "Reports rejected by intake, by reason code.", new CounterConfiguration { LabelNames = ["reason"] });

    private readonly ReportValidator validator = new(options.Value, time);

    public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken)
    {
        var submitted = message.Value;
        var failure = Check(submitted, out var url);
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
            var key = string.IsNullOrEmpty(submitted.report?.reportId) ? message.Key ?? rejected.eventId : submitted.report.reportId;
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
            report = submitted.report,
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

    /// <summary>Validation, then normalisation: the same checks the HTTP API runs before it publishes.</summary>
    public ReportValidator.Failure? Check(ReportSubmitted submitted, out UrlNormaliser.Result? url)
    {
        url = null;
        var failure = validator.Validate(submitted);
        if (failure is null && !UrlNormaliser.TryNormalise(submitted.report.url, out url, out var code, out var text))
            failure = new ReportValidator.Failure(code, text);
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
