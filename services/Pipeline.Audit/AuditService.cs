using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Audit;

public static class AuditService
{
    public const string Stage = "audit";

    /// <summary>The audit stage (hosted by the sla service, and by the demo): every decision on audit.log.v1.</summary>
    public static PipelineHostBuilder AddAudit(this PipelineHostBuilder host)
    {
        host.Services.AddOptions<AuditOptions>().BindConfiguration(AuditOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AuditOptions>, AuditOptionsValidator>());
        host.Services.TryAddSingleton<CaseTokens>();
        host.Services.TryAddSingleton<AuditMapper>();
        return host.AddStage<AuditProcessor>(Stage, s => s
            .Skipping(AuditMapper.Unread)
            .Consumes<ReportSubmitted>(Topics.ReportsSubmitted)
            .Consumes<ReportRejected>(Topics.ReportsRejected)
            .Consumes<ReportAccepted>(Topics.ReportsAccepted)
            .Consumes<ReportGrouped>(Topics.ReportsGrouped)
            .Consumes<ReportLocated>(Topics.ReportsLocated)
            .Consumes<ReportClassified>(Topics.ReportsClassified)
            .Consumes<ReportAssessed>(Topics.ReportsAssessed)
            .Consumes<ReviewRequested>(Topics.ReportsReview)
            .Consumes<PoliceReferral>(Topics.PoliceReferrals)
            .Consumes<PoliceRelease>(Topics.PoliceReleases)
            .Consumes<TakedownRequested>(Topics.TakedownRequested)
            .Consumes<ReportForwarded>(Topics.ExchangeOutbound)
            .Consumes<TakedownNotice>(Topics.NoticesIssued)
            .Consumes<NoticeDelivery>(Topics.NoticeDeliveries)
            .Consumes<ContentStatusObserved>(Topics.ContentStatus)
            .Consumes<NoticeOutcome>(Topics.NoticeOutcomes)
            .Consumes<SlaEvent>(Topics.SlaEvents)
            .Consumes<HashRetracted>(Topics.HashesRetractions));
    }
}
