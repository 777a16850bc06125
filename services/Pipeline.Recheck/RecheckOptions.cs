using Microsoft.Extensions.Options;

namespace Pipeline.Recheck;

/// <summary>Section <c>Recheck</c>: when noticed URLs are checked and when a URL counts as removed.</summary>
public sealed class RecheckOptions
{
    public const string Section = "Recheck";

    public TimeSpan FirstCheckAfter { get; set; } = TimeSpan.FromMinutes(15);
    /// <summary>Routine interval while the URL is online (SCARt: about hourly).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);
    /// <summary>After this age the interval becomes <see cref="SlowInterval"/>.</summary>
    public TimeSpan SlowAfter { get; set; } = TimeSpan.FromHours(48);
    public TimeSpan SlowInterval { get; set; } = TimeSpan.FromHours(24);
    /// <summary>Spacing of the checks that confirm a miss.</summary>
    public TimeSpan MissSpacing { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Consecutive misses before a URL counts as removed (SCARt: 3); any success resets the count.</summary>
    public int MissesForRemoval { get; set; } = 3;
    /// <summary>Stop checking a URL that is still online after this long (it stays open in the SLA).</summary>
    public TimeSpan GiveUpAfter { get; set; } = TimeSpan.FromDays(30);
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Host name → "address[:port]" used instead of DNS (tests and sandboxed set-ups; empty in production).</summary>
    public Dictionary<string, string> ResolveOverrides { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Checks run at the same time.</summary>
    public int Concurrency { get; set; } = 16;
}

internal sealed class RecheckOptionsValidator : IValidateOptions<RecheckOptions>
{
    public ValidateOptionsResult Validate(string? name, RecheckOptions o)
    {
        var errors = new List<string>();
        if (o.Interval <= TimeSpan.Zero) errors.Add("Recheck:Interval must be positive. Fix: use e.g. 01:00:00.");
        if (o.SlowInterval <= TimeSpan.Zero) errors.Add("Recheck:SlowInterval must be positive. Fix: use e.g. 1.00:00:00.");
        if (o.FirstCheckAfter < TimeSpan.Zero) errors.Add("Recheck:FirstCheckAfter must not be negative.");
        if (o.MissSpacing <= TimeSpan.Zero) errors.Add("Recheck:MissSpacing must be positive. Fix: use e.g. 00:05:00.");
        if (o.MissesForRemoval is < 1 or > 10) errors.Add($"Recheck:MissesForRemoval {o.MissesForRemoval} must be within 1–10. Fix: use 3.");
        if (o.ProbeTimeout <= TimeSpan.Zero) errors.Add("Recheck:ProbeTimeout must be positive. Fix: use e.g. 00:00:10.");
        if (o.Concurrency is < 1 or > 1024) errors.Add("Recheck:Concurrency must be within 1–1024.");
        foreach (var (host, target) in o.ResolveOverrides)
            if (!System.Net.IPEndPoint.TryParse(target, out _))
                errors.Add($"Recheck:ResolveOverrides:{host} '{target}' is not address[:port]. Fix: e.g. 127.0.0.1:8080.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
