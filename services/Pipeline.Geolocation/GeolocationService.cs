using Pipeline.Contracts;
using Pipeline.Platform;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Pipeline.Geolocation;

public static class GeolocationService
{
    public const string Stage = "geolocation";

    public static PipelineHostBuilder AddGeolocation(this PipelineHostBuilder host)
    {
        AddGeolocationServices(host.Services);
        return host.AddStage<GeolocationProcessor>(Stage, s => s.Consumes<ReportAccepted>(Topics.ReportsAccepted));
    }

    /// <summary>The locator and its sources (the shared library Pipeline.Geolocation.Lookup, see <see cref="HostingLookup"/>).</summary>
    public static void AddGeolocationServices(IServiceCollection services) => services.AddHostingLookup();

    /// <summary>Builds a locator from validated options (also used by the benchmark and tests).</summary>
    public static HostingLocator Create(GeolocationOptions options, TimeProvider time, ILogger? log = null) => HostingLookup.Create(options, time, log);

    /// <summary>Validates options the way the host does at start-up; throws with every problem named.</summary>
    public static void Validate(GeolocationOptions options) => HostingLookup.Validate(options);
}
