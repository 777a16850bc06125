using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Geolocation;

public static class GeolocationService
{
    public const string Stage = "geolocation";

    public static PipelineHostBuilder AddGeolocation(this PipelineHostBuilder host)
    {
        host.Services.AddOptions<GeolocationOptions>().BindConfiguration(GeolocationOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GeolocationOptions>, GeolocationOptionsValidator>());
        return host.AddStage<GeolocationProcessor>(Stage, s => s.Consumes<ReportAccepted>(Topics.ReportsAccepted));
    }
}
