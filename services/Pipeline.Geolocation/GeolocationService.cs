using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Geolocation;

public static class GeolocationService
{
    public const string Stage = "geolocation";

    public static PipelineHostBuilder AddGeolocation(this PipelineHostBuilder host)
    {
        AddGeolocationServices(host.Services);
        return host.AddStage<GeolocationProcessor>(Stage, s => s.Consumes<ReportAccepted>(Topics.ReportsAccepted));
    }

    /// <summary>The locator and its sources. Each live source exists only when configured: without name servers there
    /// is no resolver and so no DNS traffic; without databases or registries, no GeoIP and no RDAP.</summary>
    public static void AddGeolocationServices(IServiceCollection services)
    {
        services.AddOptions<GeolocationOptions>().BindConfiguration(GeolocationOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GeolocationOptions>, GeolocationOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => Create(sp.GetRequiredService<IOptions<GeolocationOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(), sp.GetService<ILoggerFactory>()?.CreateLogger("Pipeline.Geolocation")));
    }

    /// <summary>Builds a locator from validated options (also used by the benchmark and tests).</summary>
    public static HostingLocator Create(GeolocationOptions options, TimeProvider time, ILogger? log = null)
    {
        var dns = options.Dns.NameServers.Count > 0 ? new DnsResolver(options.Dns, time) : null;
        var geo = new GeoIp(options.GeoIp, time, log);
        var rdap = options.Rdap.Registries.Count > 0 ? new RdapClient(options.Rdap, time) : null;
        return new HostingLocator(new HostingTable(options), dns, geo.Enabled ? geo : null, rdap, time);
    }

    /// <summary>Validates options the way the host does at start-up; throws with every problem named.</summary>
    public static void Validate(GeolocationOptions options)
    {
        var result = new GeolocationOptionsValidator().Validate(null, options);
        if (result.Failed) throw new OptionsValidationException(GeolocationOptions.Section, typeof(GeolocationOptions), result.Failures);
    }
}
