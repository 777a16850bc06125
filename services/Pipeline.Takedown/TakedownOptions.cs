using Microsoft.Extensions.Options;

namespace Pipeline.Takedown;

/// <summary>Section <c>Takedown</c>: who sends notices, the removal deadline and the reminders.</summary>
public sealed class TakedownOptions
{
    public const string Section = "Takedown";

    /// <summary>The removal deadline from the notice: the Dutch sector norm is 24 hours; an authority's order may be shorter.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromHours(24);

    public string SenderOrganisation { get; set; } = "";
    public string SenderContact { get; set; } = "";
    public string SenderDomain { get; set; } = "";

    public ReminderSettings Reminders { get; set; } = new();

    /// <summary>When a noticed URL is confirmed removed, its recipient gets a CONFIRMATION notice (X-ARF
    /// <c>content_removed: true</c>), the case's last word to the hoster.</summary>
    public bool ConfirmRemoval { get; set; } = true;

    /// <summary>Section <c>Takedown:SendWindow</c>: the default send window (a contact directory entry may have its own).</summary>
    public SendWindowSettings SendWindow { get; set; } = new();

    /// <summary>Section <c>Takedown:Reminders</c>: while a noticed URL is not confirmed removed, a reminder goes to the same
    /// recipient every <see cref="Interval"/> after the first notice, at most <see cref="MaxCount"/> times.</summary>
    public sealed class ReminderSettings
    {
        /// <summary>Time between reminders, counted from the first notice's issuedAt (reminder n is due at issuedAt + n × Interval).</summary>
        public TimeSpan Interval { get; set; } = TimeSpan.FromHours(24);

        /// <summary>Reminders per notice at most; 0 turns reminders off.</summary>
        public int MaxCount { get; set; } = 7;
    }
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
        if (o.SenderOrganisation.Length > 200)
            errors.Add($"Takedown:SenderOrganisation is {o.SenderOrganisation.Length} characters long; X-ARF v4 allows at most 200 (reporter.org). Fix: shorten it.");
        if (string.IsNullOrWhiteSpace(o.SenderContact) || !o.SenderContact.Contains('@', StringComparison.Ordinal))
            errors.Add($"Takedown:SenderContact '{o.SenderContact}' is not an e-mail address. Fix: set the hotline's notice desk address.");
        if (!string.IsNullOrEmpty(o.SenderDomain) && !XarfShape.IsHostname(o.SenderDomain))
            errors.Add($"Takedown:SenderDomain '{o.SenderDomain}' is not a host name (X-ARF v4 reporter.domain). Fix: set the hotline's own domain, e.g. hotline.example, or leave it empty to use the domain of Takedown:SenderContact.");
        if (o.Reminders.Interval < TimeSpan.FromMinutes(1) || o.Reminders.Interval > TimeSpan.FromDays(7))
            errors.Add($"Takedown:Reminders:Interval {o.Reminders.Interval} must lie between 1 minute and 7 days. Fix: use 1.00:00:00 (every 24 hours, the hotlines' custom; 24:00:00 would mean 24 days).");
        if (o.Reminders.MaxCount is < 0 or > 100)
            errors.Add($"Takedown:Reminders:MaxCount {o.Reminders.MaxCount} must lie between 0 (no reminders) and 100. Fix: e.g. 7 (a week of daily reminders).");
        if (o.SendWindow.Enabled) errors.AddRange(ParsedWindow.Parse(o.SendWindow.ToRecord(), "Takedown:SendWindow").Problems);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
