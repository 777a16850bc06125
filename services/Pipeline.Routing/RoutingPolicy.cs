using Pipeline.Contracts;

namespace Pipeline.Routing;

/// <summary>Where a classified report goes. Every route names the rule that decided it.</summary>
public abstract record Route(string Rule)
{
    public sealed record Takedown(string Rule) : Route(Rule);
    public sealed record PoliceAndTakedown(string Rule, bool HoldForPolice) : Route(Rule);
    public sealed record Forward(string Rule, string Partner, string Country) : Route(Rule);
    public sealed record Review(string Rule, string Reason) : Route(Rule);
    public sealed record Close(string Rule) : Route(Rule);
}

/// <summary>The routing rules as a pure function of the classified report and the policy.</summary>
public sealed class RoutingPolicy(RoutingOptions options)
{
    public IReadOnlyList<Route> Decide(ReportClassified report)
    {
        if (report.verdict == Verdict.NOT_ILLEGAL)
            return [Is(options.NotIllegal, "Review")
                ? new Route.Review("not-illegal→review", "an analyst found the material not illegal; policy asks for a second look")
                : new Route.Close("not-illegal→close")];
        if (report.verdict == Verdict.NEEDS_ASSESSMENT)
            return [new Route.Review("needs-assessment→review", "no bank knows the material and no analyst has assessed it")];
        var hosting = report.hosting;
        if (hosting is null || !hosting.resolved || string.IsNullOrEmpty(hosting.country))
            return [new Route.Review("unresolved→review", "hosting location unknown: " + (hosting?.unresolvedReason ?? "not located"))];

        var countries = (hosting.countries is { Count: > 0 } list ? list : [hosting.country])
            .Select(c => c.ToUpperInvariant()).Distinct().ToList();
        if (countries.Count == 1) return [ForCountry(report, countries[0], "")];

        var home = countries.Contains(options.HomeCountry.ToUpperInvariant());
        var all = string.Join(", ", countries);
        if (Is(options.MultiCountry, "Review"))
            return [new Route.Review("multi-country→review", $"hosted in several countries: {all}")];
        if (Is(options.MultiCountry, "ForwardAll"))
        {
            var routes = countries.Select(c => ForCountry(report, c, "multi-country(forward-all):")).ToList();
            var acting = routes.Where(r => r is not Route.Review).ToList();
            return acting.Count > 0
                ? acting
                : [new Route.Review("multi-country→review", $"hosted in {all}: " + string.Join("; ", routes.OfType<Route.Review>().Select(r => r.Reason)))];
        }
        // HomeFirst: home acts if it hosts a part; otherwise the first country with a partner that has not seen it.
        if (home) return [ForCountry(report, options.HomeCountry.ToUpperInvariant(), "multi-country(home-first):")];
        foreach (var c in countries)
            if (ForCountry(report, c, "multi-country(home-first):") is Route.Forward f) return [f];
        return [new Route.Review("multi-country→review", $"hosted in {all}: no partner can take it")];
    }

    private Route ForCountry(ReportClassified report, string country, string prefix)
    {
        if (string.Equals(country, options.HomeCountry, StringComparison.OrdinalIgnoreCase))
            return report.verdict == Verdict.NEW
                ? new Route.PoliceAndTakedown(prefix + (options.PoliceFirst ? "home+new→police-first" : "home+new→police+takedown"), options.PoliceFirst)
                : new Route.Takedown(prefix + "home+known→takedown");
        var hops = report.report.hops ?? [];
        var moved = hops.Count > 0 ? "moved→" : "";
        if (options.Partners.TryGetValue(country, out var partner))
        {
            if (hops.Contains(partner, StringComparer.OrdinalIgnoreCase))
                return new Route.Review(prefix + "partner-already-visited→review", $"hosted in {country}, but {partner} has already handled this report");
            if (hops.Count + 1 > options.MaxHops)
                return new Route.Review(prefix + "hop-limit→review", $"hosted in {country}, but the report has already passed {hops.Count} hotlines (limit {options.MaxHops})");
            return new Route.Forward(prefix + moved + "partner-country→forward", partner, country);
        }
        return Is(options.NoPartner, "DirectNotice")
            ? new Route.Takedown(prefix + "no-partner→direct-notice")
            : new Route.Review(prefix + "no-partner→review", $"hosted in {country}, where no partner hotline is configured");
    }

    private static bool Is(string value, string option) => string.Equals(value, option, StringComparison.OrdinalIgnoreCase);
}
