using Microsoft.Extensions.Options;

namespace Pipeline.Intake;

public sealed class IntakeOptions
{
    public const string Section = "Intake";

    /// <summary>URLs longer than this are rejected (URL_TOO_LONG).</summary>
    public int MaxUrlLength { get; set; } = 8192;

    /// <summary>Source hotlines whose reports are accepted. Empty: any hotline id is accepted.</summary>
    public List<string> KnownHotlines { get; set; } = [];

    /// <summary>How far in the future a receivedAt may lie (clock skew between systems).</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);
}

internal sealed class IntakeOptionsValidator : IValidateOptions<IntakeOptions>
{
    public ValidateOptionsResult Validate(string? name, IntakeOptions o)
    {
        var errors = new List<string>();
        if (o.MaxUrlLength is < 64 or > 1_048_576)
            errors.Add($"Intake:MaxUrlLength {o.MaxUrlLength} must be within 64–1048576. Fix: use e.g. 8192.");
        if (o.MaxClockSkew < TimeSpan.Zero)
            errors.Add("Intake:MaxClockSkew must not be negative. Fix: use e.g. 00:05:00.");
        if (o.KnownHotlines.Any(string.IsNullOrWhiteSpace))
            errors.Add("Intake:KnownHotlines contains an empty entry. Fix: remove it.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
