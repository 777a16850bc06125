using Pipeline.Contracts;

namespace Pipeline.Routing;

/// <summary>Where a classified report goes. Every route names the rule that decided it.</summary>
public abstract record Route(string Rule)
{
    public sealed record Takedown(string Rule) : Route(Rule);
    public sealed record PoliceAndTakedown(string Rule) : Route(Rule);
    public sealed record Forward(string Rule, string Partner, string Country) : Route(Rule);
    public sealed record Review(string Rule, string Reason) : Route(Rule);
    public sealed record Close(string Rule) : Route(Rule);
}

/// <summary>The routing rules of DESIGN.md as a pure function of the classified report and the policy.</summary>
public sealed class RoutingPolicy(RoutingOptions options)
{
    public Route Decide(ReportClassified report)
    {
        if (report.verdict == Verdict.NOT_ILLEGAL) return new Route.Close("not-illegal→close");
        if (report.verdict == Verdict.NEEDS_ASSESSMENT) return new Route.Review("needs-assessment→review", "no bank knows the material and no analyst has assessed it");
        var hosting = report.hosting;
        if (hosting is null || !hosting.resolved || string.IsNullOrEmpty(hosting.country))
            return new Route.Review("unresolved→review", "hosting location unknown: " + (hosting?.unresolvedReason ?? "not located"));
        if (string.Equals(hosting.country, options.HomeCountry, StringComparison.OrdinalIgnoreCase))
            return report.verdict == Verdict.NEW
                ? new Route.PoliceAndTakedown("home+new→police+takedown")
                : new Route.Takedown("home+known→takedown");
        if (options.Partners.TryGetValue(hosting.country, out var partner))
        {
            if (report.report.hops.Contains(partner))
                return new Route.Review("partner-already-visited→review", $"hosted in {hosting.country}, but {partner} has already handled this report");
            return new Route.Forward("partner-country→forward", partner, hosting.country.ToUpperInvariant());
        }
        return new Route.Review("no-partner→review", $"hosted in {hosting.country}, where no partner hotline is configured");
    }
}
