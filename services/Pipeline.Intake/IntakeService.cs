using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Intake;

public static class IntakeService
{
    /// <summary>Step 1: validation and normalisation (stateless).</summary>
    public const string Stage = "intake";

    /// <summary>Step 2: case grouping (state in intake.cases, co-partitioned with intake.grouping).</summary>
    public const string GroupingStage = "intake-grouping";

    public static PipelineHostBuilder AddIntake(this PipelineHostBuilder host)
    {
        host.Services.AddOptions<IntakeOptions>().BindConfiguration(IntakeOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IntakeOptions>, IntakeOptionsValidator>());
        host.Services.TryAddSingleton<SubmissionApi>();
        host.AddStage<IntakeProcessor>(Stage, s => s
            .Consumes<ReportSubmitted>(Topics.ReportsSubmitted)
            .Consumes<NoticeOutcome>(Topics.NoticeOutcomes));
        return host.AddStage<GroupingProcessor>(GroupingStage, s => s.Consumes<CaseCommand>(Topics.IntakeGrouping).CoPartitioned(Topics.IntakeCases));
    }
}
