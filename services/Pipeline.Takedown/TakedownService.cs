using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

public static class TakedownService
{
    public const string Stage = "takedown";

    public static PipelineHostBuilder AddTakedown(this PipelineHostBuilder host)
    {
        host.Services.AddOptions<TakedownOptions>().BindConfiguration(TakedownOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TakedownOptions>, TakedownOptionsValidator>());
        return host.AddStage<TakedownProcessor>(Stage, s => s.Consumes<TakedownRequested>(Topics.TakedownRequested));
    }
}
