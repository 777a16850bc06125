using Microsoft.Extensions.Options;

namespace Pipeline.Sla;

/// <summary>Section <c>Sla</c>.</summary>
public sealed class SlaOptions
{
    public const string Section = "Sla";

    /// <summary>How often open notices are checked against their deadline (stage clock).</summary>
    public TimeSpan DeadlineCheckInterval { get; set; } = TimeSpan.FromMinutes(1);
}

internal sealed class SlaOptionsValidator : IValidateOptions<SlaOptions>
{
    public ValidateOptionsResult Validate(string? name, SlaOptions o) =>
        o.DeadlineCheckInterval <= TimeSpan.Zero
            ? ValidateOptionsResult.Fail("Sla:DeadlineCheckInterval must be positive. Fix: use e.g. 00:01:00.")
            : ValidateOptionsResult.Success;
}
