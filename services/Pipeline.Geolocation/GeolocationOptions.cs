using System.Net;
using Microsoft.Extensions.Options;

namespace Pipeline.Geolocation;

/// <summary>
/// The hosting table: which addresses a host name resolves to, and which network (ASN, country, hoster, abuse
/// contact) each address belongs to. Section <c>Geolocation</c>. Later versions add DNS, MaxMind databases and RDAP;
/// this table stays as the operator's override.
/// </summary>
public sealed class GeolocationOptions
{
    public const string Section = "Geolocation";

    /// <summary>Host name → addresses (A/AAAA), e.g. "site1.hoster.example": ["192.0.2.10"].</summary>
    public Dictionary<string, List<string>> Hosts { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Networks, longest prefix wins.</summary>
    public List<NetworkEntry> Networks { get; set; } = [];
}

public sealed class NetworkEntry
{
    /// <summary>CIDR prefix, e.g. 192.0.2.0/25 or 2001:db8::/32.</summary>
    public string Prefix { get; set; } = "";
    public long Asn { get; set; }
    public string AsOrganisation { get; set; } = "";
    /// <summary>ISO 3166-1 alpha-2 country code.</summary>
    public string Country { get; set; } = "";
    public string HosterId { get; set; } = "";
    public string HosterName { get; set; } = "";
    public string? AbuseAddress { get; set; }
    /// <summary>Email, Webhook or Topic.</summary>
    public string AbuseChannel { get; set; } = "Email";
    public bool BehindCdn { get; set; }
}

internal sealed class GeolocationOptionsValidator : IValidateOptions<GeolocationOptions>
{
    public ValidateOptionsResult Validate(string? name, GeolocationOptions o)
    {
        var errors = new List<string>();
        for (var i = 0; i < o.Networks.Count; i++)
        {
            var n = o.Networks[i];
            var at = $"Geolocation:Networks:{i}";
            if (!IPNetwork.TryParse(n.Prefix, out _))
                errors.Add($"{at}:Prefix '{n.Prefix}' is not a CIDR prefix. Fix: write it as address/length, e.g. 192.0.2.0/24.");
            if (n.Country.Length != 2 || !n.Country.All(char.IsAsciiLetterUpper))
                errors.Add($"{at}:Country '{n.Country}' is not an ISO 3166-1 alpha-2 code. Fix: use two capital letters, e.g. NL.");
            if (string.IsNullOrWhiteSpace(n.HosterId))
                errors.Add($"{at}:HosterId is empty. Fix: give the hoster a stable id, e.g. hoster-a.");
            if (!Enum.TryParse<Contracts.NoticeChannel>(n.AbuseChannel, ignoreCase: true, out _))
                errors.Add($"{at}:AbuseChannel '{n.AbuseChannel}' is not one of Email, Webhook, Topic, None.");
            if (n.Asn is < 0 or > uint.MaxValue)
                errors.Add($"{at}:Asn {n.Asn} is not a 32-bit AS number.");
        }
        foreach (var (host, addresses) in o.Hosts)
            foreach (var a in addresses)
                if (!IPAddress.TryParse(a, out _))
                    errors.Add($"Geolocation:Hosts:{host} contains '{a}', which is not an IP address. Fix: list IPv4 or IPv6 addresses.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
