using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Sla;

public static class SlaService
{
    public const string Stage = "sla";

    public static PipelineHostBuilder AddSla(this PipelineHostBuilder host)
    {
        host.Services.AddOptions<SlaOptions>().BindConfiguration(SlaOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SlaOptions>, SlaOptionsValidator>());
        host.Services.TryAddSingleton<SlaState>();
        host.Services.TryAddSingleton<ScorecardHistory>();
        return host.AddStage<SlaProcessor>(Stage, s => s
            .Skipping(AvroProjection.NoticeBodies) // notices are measured WithoutBodies()
            .Consumes<TakedownNotice>(Topics.NoticesIssued)
            .Consumes<ContentStatusObserved>(Topics.ContentStatus)
            .Consumes<NoticeDelivery>(Topics.NoticeDeliveries)
            .CoPartitioned(Topics.SlaOpen, Topics.SlaPending));
    }
}
