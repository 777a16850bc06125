using Microsoft.Extensions.Options;

namespace Pipeline.Routing;

/// <summary>The routing policy; section <c>Routing</c>. Every routed event names the rule that decided it.</summary>
public sealed class RoutingOptions
{
    public const string Section = "Routing";

    /// <summary>ISO 3166-1 alpha-2 code of this hotline's country.</summary>
    public string HomeCountry { get; set; } = "";

    /// <summary>This hotline's id (added to a forwarded report's hop list).</summary>
    public string HomeHotline { get; set; } = "";

    /// <summary>The partner directory: country code → partner hotline id, e.g. "DE": "de-hotline". How to reach each
    /// partner (its cluster and topic) is the exchange gateway's configuration.</summary>
    public Dictionary<string, string> Partners { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether a police referral may carry the reporter's contact details.</summary>
    public bool ShareReporterWithPolice { get; set; }

    /// <summary>New material at home: hold the takedown until the police release it (or the timeout passes), or
    /// refer and request the takedown at once.</summary>
    public bool PoliceFirst { get; set; } = true;

    /// <summary>How long a police-first takedown waits for the police before it is released anyway.</summary>
    public TimeSpan PoliceReleaseTimeout { get; set; } = TimeSpan.FromHours(4);

    /// <summary>Material an analyst found not illegal: Close (no further action) or Review.</summary>
    public string NotIllegal { get; set; } = "Close";

    /// <summary>Hosted in a country without a partner hotline: Review, or DirectNotice to the foreign hoster.</summary>
    public string NoPartner { get; set; } = "Review";

    /// <summary>Hosted in several countries: HomeFirst (home if among them, else the first partner country),
    /// ForwardAll (home handles its part and every partner country gets a forward), or Review.</summary>
    public string MultiCountry { get; set; } = "HomeFirst";

    /// <summary>A report that has passed through this many hotlines is not forwarded again (stops cycles).</summary>
    public int MaxHops { get; set; } = 4;
}

internal sealed class RoutingOptionsValidator : IValidateOptions<RoutingOptions>
{
    private static readonly string[] NotIllegalActions = ["Close", "Review"];
    private static readonly string[] NoPartnerActions = ["Review", "DirectNotice"];
    private static readonly string[] MultiCountryActions = ["HomeFirst", "ForwardAll", "Review"];

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
            else if (string.Equals(partner, o.HomeHotline, StringComparison.OrdinalIgnoreCase))
                errors.Add($"Routing:Partners:{country} is this hotline ({partner}). Fix: a partner must be another hotline.");
            if (string.Equals(country, o.HomeCountry, StringComparison.OrdinalIgnoreCase))
                errors.Add($"Routing:Partners:{country} is the home country. Fix: remove it; the home country is handled here.");
        }
        if (o.PoliceReleaseTimeout <= TimeSpan.Zero || o.PoliceReleaseTimeout > TimeSpan.FromDays(30))
            errors.Add($"Routing:PoliceReleaseTimeout {o.PoliceReleaseTimeout} must lie between 0 and 30 days. Fix: use e.g. 04:00:00.");
        Check("NotIllegal", o.NotIllegal, NotIllegalActions);
        Check("NoPartner", o.NoPartner, NoPartnerActions);
        Check("MultiCountry", o.MultiCountry, MultiCountryActions);
        if (o.MaxHops is < 1 or > 20)
            errors.Add($"Routing:MaxHops {o.MaxHops} must lie within 1–20. Fix: use e.g. 4.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);

        void Check(string key, string value, string[] allowed)
        {
            if (!allowed.Contains(value, StringComparer.OrdinalIgnoreCase))
                errors.Add($"Routing:{key} '{value}' is not one of {string.Join(", ", allowed)}. Fix: pick one of those.");
        }

        static bool IsCountry(string c) => c.Length == 2 && c.All(char.IsAsciiLetterUpper);
    }
}
