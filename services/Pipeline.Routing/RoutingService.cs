using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Routing;

public static class RoutingService
{
    public const string Stage = "routing";

    public static PipelineHostBuilder AddRouting(this PipelineHostBuilder host)
    {
        host.Services.AddOptions<RoutingOptions>().BindConfiguration(RoutingOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RoutingOptions>, RoutingOptionsValidator>());
        host.Services.TryAddSingleton<RoutingState>();
        return host.AddStage<RoutingProcessor>(Stage, s => s
            .Consumes<ReportClassified>(Topics.ReportsClassified)
            .Consumes<ReportClassified>(Topics.ReportsRelocated)
            .Consumes<PoliceRelease>(Topics.PoliceReleases)
            .CoPartitioned(Topics.RoutingHeld));
    }
}
