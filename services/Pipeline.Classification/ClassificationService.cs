using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Classification;

public static class ClassificationService
{
    public const string Stage = "classification";

    public static PipelineHostBuilder AddClassification(this PipelineHostBuilder host)
    {
        host.Services.AddOptions<ClassificationOptions>().BindConfiguration(ClassificationOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ClassificationOptions>, ClassificationOptionsValidator>());
        host.Services.TryAddSingleton<ClassificationState>();
        return host.AddStage<ClassificationProcessor>(Stage, s => s
            .Consumes<ReportLocated>(Topics.ReportsLocated)
            .Consumes<ReportAssessed>(Topics.ReportsAssessed)
            .CoPartitioned(Topics.ClassificationWaiting, Topics.ClassificationMatches));
    }
}
