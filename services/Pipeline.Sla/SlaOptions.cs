using Microsoft.Extensions.Options;

namespace Pipeline.Sla;

/// <summary>Section <c>Sla</c>.</summary>
public sealed class SlaOptions
{
    public const string Section = "Sla";

    /// <summary>When a URL went offline before its deadline but recheck has not yet confirmed the removal (it waits for
    /// consecutive misses a few minutes apart), the breach and the escalation wait up to this long after the deadline
    /// for the confirmation. Longer than recheck's MissesForRemoval × MissSpacing (3 × 5 min).</summary>
    public TimeSpan BreachGrace { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>The hoster scorecards exported as metrics cover the cases first noticed within this window.</summary>
    public TimeSpan ScorecardWindow { get; set; } = TimeSpan.FromDays(30);

    /// <summary>The scorecard metrics are recomputed from the history when scraped, at most this often (stage clock).</summary>
    public TimeSpan ScorecardRefreshInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Hosters with their own <c>hoster</c> label value in the scorecard metrics (the ones with the most
    /// notices); every other hoster is folded into <c>hoster="(other)"</c>. Bounds the label's cardinality.</summary>
    public int ScorecardTopHosters { get; set; } = 50;

    /// <summary>A hoster with at least this many breaches in the window is a repeat offender (so is any hoster with a
    /// re-upload).</summary>
    public int RepeatOffenderBreaches { get; set; } = 3;
}

internal sealed class SlaOptionsValidator : IValidateOptions<SlaOptions>
{
    public ValidateOptionsResult Validate(string? name, SlaOptions o)
    {
        var errors = new List<string>();
        if (o.BreachGrace < TimeSpan.Zero || o.BreachGrace > TimeSpan.FromHours(6))
            errors.Add($"Sla:BreachGrace is {o.BreachGrace}; it must lie between 00:00:00 and 06:00:00 (it delays a breach only while a removal before the deadline is being confirmed). Fix: use e.g. 00:30:00, longer than Recheck:MissesForRemoval × Recheck:MissSpacing.");
        if (o.ScorecardWindow <= TimeSpan.Zero)
            errors.Add("Sla:ScorecardWindow must be positive. Fix: use e.g. 30.00:00:00 (30 days).");
        if (o.ScorecardRefreshInterval <= TimeSpan.Zero)
            errors.Add("Sla:ScorecardRefreshInterval must be positive. Fix: use e.g. 00:01:00.");
        if (o.ScorecardTopHosters is < 1 or > 1000)
            errors.Add($"Sla:ScorecardTopHosters is {o.ScorecardTopHosters}; it must be 1–1000 (it bounds the hoster label of the scorecard metrics). Fix: use e.g. 50.");
        if (o.RepeatOffenderBreaches < 1)
            errors.Add($"Sla:RepeatOffenderBreaches is {o.RepeatOffenderBreaches}; it must be at least 1. Fix: use e.g. 3.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
