using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Pipeline.Geolocation;

/// <summary>Registers the hosting lookup (section Geolocation) for any stage that needs it: the geolocation stage, and
/// the takedown delivery's re-lookup before sending. One binding per host, however many stages ask for it: the binder
/// appends lists (Geolocation:Networks, Dns:NameServers, Rdap:Registries) to what an earlier binding put there.</summary>
public static class HostingLookup
{
    public static void AddHostingLookup(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(Bound))) return;
        services.AddSingleton<Bound>();
        services.AddOptions<GeolocationOptions>().BindConfiguration(GeolocationOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GeolocationOptions>, GeolocationOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => Create(sp.GetRequiredService<IOptions<GeolocationOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(), sp.GetService<ILoggerFactory>()?.CreateLogger("Pipeline.Geolocation")));
    }

    private sealed class Bound;

    /// <summary>Builds a locator from validated options. Each live source exists only when configured: without name
    /// servers there is no resolver and so no DNS traffic; without databases or registries, no GeoIP and no RDAP.</summary>
    public static HostingLocator Create(GeolocationOptions options, TimeProvider time, ILogger? log = null)
    {
        var dns = options.Dns.NameServers.Count > 0 ? new DnsResolver(options.Dns, time) : null;
        var geo = new GeoIp(options.GeoIp, time, log);
        var rdap = options.Rdap.Registries.Count > 0 || options.Rdap.Domains.Count > 0 ? new RdapClient(options.Rdap, time) : null;
        return new HostingLocator(new HostingTable(options), dns, geo.Enabled ? geo : null, rdap, time);
    }

    /// <summary>Validates options the way the host does at start-up; throws with every problem named.</summary>
    public static void Validate(GeolocationOptions options)
    {
        var result = new GeolocationOptionsValidator().Validate(null, options);
        if (result.Failed) throw new OptionsValidationException(GeolocationOptions.Section, typeof(GeolocationOptions), result.Failures);
    }
}
