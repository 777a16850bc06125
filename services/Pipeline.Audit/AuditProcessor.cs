using Avro.Specific;
using Pipeline.Contracts;
using Pipeline.Platform;
using Prometheus;

namespace Pipeline.Audit;

/// <summary>
/// The audit stage: reads every topic that carries a decision and writes one <see cref="AuditRecord"/> per decision to
/// audit.log.v1, keyed by the case token so a case's records stay in order on one partition. Stateless: a replay after a
/// crash writes records with the same ids (derived from the source event's id), which readers de-duplicate.
/// </summary>
public sealed class AuditProcessor(AuditMapper mapper) :
    IProcessor<ReportSubmitted>, IProcessor<ReportRejected>, IProcessor<ReportAccepted>, IProcessor<ReportGrouped>,
    IProcessor<ReportLocated>, IProcessor<ReportClassified>, IProcessor<ReportAssessed>, IProcessor<ReviewRequested>,
    IProcessor<PoliceReferral>, IProcessor<PoliceRelease>, IProcessor<TakedownRequested>, IProcessor<ReportForwarded>,
    IProcessor<TakedownNotice>, IProcessor<NoticeDelivery>, IProcessor<ContentStatusObserved>, IProcessor<NoticeOutcome>,
    IProcessor<SlaEvent>, IProcessor<HashRetracted>
{
    private static readonly Counter Recorded = Metrics.CreateCounter("pipeline_audit_records_total",
        "Audit records written to audit.log.v1, by action.", new CounterConfiguration { LabelNames = ["action"] });

    public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<ReportRejected> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<ReportAccepted> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<ReportGrouped> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<ReportLocated> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<ReportClassified> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<ReportAssessed> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<ReviewRequested> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<PoliceReferral> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<PoliceRelease> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<TakedownRequested> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<ReportForwarded> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<TakedownNotice> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<NoticeDelivery> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<ContentStatusObserved> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<NoticeOutcome> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<SlaEvent> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);
    public ValueTask ProcessAsync(Incoming<HashRetracted> message, IOutput output, CancellationToken cancellationToken) => Audit(message, output);

    private ValueTask Audit<T>(Incoming<T> m, IOutput output) where T : class, ISpecificRecord
    {
        if (mapper.Map(m.Value, m.Topic, m.WrittenBy) is { } record)
        {
            output.Send(Topics.AuditLog, record.caseToken ?? record.reportIds.FirstOrDefault() ?? record.eventId, record);
            output.AfterCommit(() => Recorded.WithLabels(record.action).Inc());
        }
        return ValueTask.CompletedTask;
    }
}
