using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Intake;

public static class IntakeService
{
    public const string Stage = "intake";

    public static PipelineHostBuilder AddIntake(this PipelineHostBuilder host)
    {
        host.Services.AddOptions<IntakeOptions>().BindConfiguration(IntakeOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IntakeOptions>, IntakeOptionsValidator>());
        return host.AddStage<IntakeProcessor>(Stage, s => s.Consumes<ReportSubmitted>(Topics.ReportsSubmitted));
    }
}
