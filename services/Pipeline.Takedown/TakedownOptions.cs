using Microsoft.Extensions.Options;

namespace Pipeline.Takedown;

/// <summary>Section <c>Takedown</c>: who sends notices and the removal deadline.</summary>
public sealed class TakedownOptions
{
    public const string Section = "Takedown";

    /// <summary>The removal deadline from the notice: the Dutch sector norm is 24 hours; an authority's order may be shorter.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromHours(24);

    public string SenderOrganisation { get; set; } = "";
    public string SenderContact { get; set; } = "";
    public string SenderDomain { get; set; } = "";
}

internal sealed class TakedownOptionsValidator : IValidateOptions<TakedownOptions>
{
    public ValidateOptionsResult Validate(string? name, TakedownOptions o)
    {
        var errors = new List<string>();
        if (o.Deadline <= TimeSpan.Zero || o.Deadline > TimeSpan.FromDays(30))
            errors.Add($"Takedown:Deadline {o.Deadline} must lie between 0 and 30 days. Fix: use 1.00:00:00 (24 hours; note that 24:00:00 would mean 24 days) for the sector norm.");
        if (string.IsNullOrWhiteSpace(o.SenderOrganisation))
            errors.Add("Takedown:SenderOrganisation is empty. Fix: set the issuing hotline's name (it appears in every notice).");
        if (string.IsNullOrWhiteSpace(o.SenderContact) || !o.SenderContact.Contains('@', StringComparison.Ordinal))
            errors.Add($"Takedown:SenderContact '{o.SenderContact}' is not an e-mail address. Fix: set the hotline's notice desk address.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
