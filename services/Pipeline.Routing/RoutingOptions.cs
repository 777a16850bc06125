using Microsoft.Extensions.Options;

namespace Pipeline.Routing;

/// <summary>The routing policy; section <c>Routing</c>.</summary>
public sealed class RoutingOptions
{
    public const string Section = "Routing";

    /// <summary>ISO 3166-1 alpha-2 code of this hotline's country.</summary>
    public string HomeCountry { get; set; } = "";

    /// <summary>This hotline's id (added to a forwarded report's hop list).</summary>
    public string HomeHotline { get; set; } = "";

    /// <summary>Country code → partner hotline id, e.g. "DE": "de-hotline".</summary>
    public Dictionary<string, string> Partners { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether a police referral may carry the reporter's contact details.</summary>
    public bool ShareReporterWithPolice { get; set; }
}

internal sealed class RoutingOptionsValidator : IValidateOptions<RoutingOptions>
{
    public ValidateOptionsResult Validate(string? name, RoutingOptions o)
    {
        var errors = new List<string>();
        if (!IsCountry(o.HomeCountry))
            errors.Add($"Routing:HomeCountry '{o.HomeCountry}' is not an ISO 3166-1 alpha-2 code. Fix: set it to this hotline's country, e.g. NL.");
        if (string.IsNullOrWhiteSpace(o.HomeHotline))
            errors.Add("Routing:HomeHotline is empty. Fix: set this hotline's id, e.g. nl-hotline.");
        foreach (var (country, partner) in o.Partners)
        {
            if (!IsCountry(country.ToUpperInvariant()))
                errors.Add($"Routing:Partners has key '{country}', which is not an ISO 3166-1 alpha-2 code. Fix: key partners by country, e.g. \"DE\": \"de-hotline\".");
            if (string.IsNullOrWhiteSpace(partner))
                errors.Add($"Routing:Partners:{country} names no partner hotline. Fix: give the partner's hotline id.");
            if (string.Equals(country, o.HomeCountry, StringComparison.OrdinalIgnoreCase))
                errors.Add($"Routing:Partners:{country} is the home country. Fix: remove it; the home country is handled here.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);

        static bool IsCountry(string c) => c.Length == 2 && c.All(char.IsAsciiLetterUpper);
    }
}
