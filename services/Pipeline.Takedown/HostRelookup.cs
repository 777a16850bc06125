using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Geolocation;

namespace Pipeline.Takedown;

/// <summary>
/// The production re-lookup before sending: the geolocation stage's own lookup (library Pipeline.Geolocation.Lookup,
/// the same section Geolocation: hosts and networks tables, DNS name servers, MaxMind databases, RDAP registries), asked
/// with its DNS and RDAP caches bypassed. An exception for one host counts as a failed lookup of that host only.
/// </summary>
public sealed class HostRelookup(HostingLocator locator) : IHostRelookup
{
    public async Task<IReadOnlyDictionary<string, HostingInfo?>> LookupAsync(IReadOnlyCollection<string> hosts, CancellationToken cancellationToken)
    {
        var answers = new Dictionary<string, HostingInfo?>(StringComparer.OrdinalIgnoreCase);
        foreach (var host in hosts.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            try
            {
                answers[host] = await locator.LocateAsync(host, cancellationToken, fresh: true);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                answers[host] = null;
            }
        }
        return answers;
    }

    /// <summary>Whether the re-lookup runs: Takedown:Delivery:Relookup:Enabled when set; otherwise whenever section
    /// Geolocation can locate anything (name servers, a hosts or networks table, or a MaxMind database): a takedown
    /// service configured without any lookup source would otherwise find every host "unresolved" and note a failed
    /// re-lookup on every notice.</summary>
    public static bool Enabled(DeliveryOptions.RelookupSettings settings, GeolocationOptions geolocation) =>
        settings.Enabled ?? (geolocation.Dns.NameServers.Count > 0 || geolocation.Hosts.Count > 0 || geolocation.Networks.Count > 0
                             || !string.IsNullOrWhiteSpace(geolocation.GeoIp.AsnDatabase) || !string.IsNullOrWhiteSpace(geolocation.GeoIp.CountryDatabase));

    internal static RelookupGate Gate(IOptions<DeliveryOptions> delivery, IOptions<GeolocationOptions> geolocation, HostingLocator locator) =>
        Enabled(delivery.Value.Relookup, geolocation.Value)
            ? new RelookupGate(new HostRelookup(locator), delivery.Value.Relookup.Attempts)
            : new RelookupGate();
}
