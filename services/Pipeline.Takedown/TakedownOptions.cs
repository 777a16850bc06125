using Microsoft.Extensions.Options;
using Pipeline.Contracts;

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

    /// <summary>Section <c>Takedown:Escalation</c>: the escalation ladder after the first notice.</summary>
    public EscalationSettings Escalation { get; set; } = new();

    /// <summary>Section <c>Takedown:Escalation</c>: while a noticed URL is not confirmed removed, each step's recipient gets
    /// one ESCALATION notice at the first notice's issuedAt + the step's <c>After</c>.</summary>
    public sealed class EscalationSettings
    {
        /// <summary>The default ladder: the site owner after 2 days (a day past the 24-hour deadline and the first
        /// reminder), the registrar after 4 days, the authority after 7 days (with the seventh and last daily reminder).</summary>
        public static IReadOnlyList<EscalationStep> DefaultSteps { get; } =
        [
            new() { Role = RecipientRole.SITE_OWNER, After = TimeSpan.FromDays(2) },
            new() { Role = RecipientRole.REGISTRAR, After = TimeSpan.FromDays(4) },
            new() { Role = RecipientRole.AUTHORITY, After = TimeSpan.FromDays(7) },
        ];

        public bool Enabled { get; set; } = true;

        /// <summary>The steps in order (null: <see cref="DefaultSteps"/>). A list given in configuration replaces the
        /// default one as a whole.</summary>
        public List<EscalationStep>? Steps { get; set; }

        public IReadOnlyList<EscalationStep> EffectiveSteps => Steps is { Count: > 0 } s ? s : DefaultSteps;

        /// <summary>The authority's desk (the AUTHORITY step's recipient); without it that step is skipped.</summary>
        public EscalationRecipient? Authority { get; set; }

        /// <summary>Registrars' abuse desks by domain suffix or TLD (e.g. <c>example</c>, <c>shop.example</c>); the longest
        /// suffix of the URL's host wins.</summary>
        public Dictionary<string, EscalationRecipient> Registrars { get; set; } = new(StringComparer.OrdinalIgnoreCase);

        /// <summary>Site owners' contacts by domain suffix (e.g. <c>forum.example</c>); the longest suffix wins.</summary>
        public Dictionary<string, EscalationRecipient> SiteOwners { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    }

    public sealed class EscalationStep
    {
        public RecipientRole Role { get; set; } = RecipientRole.AUTHORITY;

        /// <summary>Counted from the first notice's issuedAt.</summary>
        public TimeSpan After { get; set; }
    }

    public sealed class EscalationRecipient
    {
        public string Name { get; set; } = "";
        public string Address { get; set; } = "";
        public NoticeChannel Channel { get; set; } = NoticeChannel.EMAIL;
    }

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
        if (o.Escalation.Enabled) errors.AddRange(ValidateEscalation(o.Escalation));
        if (o.SendWindow.Enabled) errors.AddRange(ParsedWindow.Parse(o.SendWindow.ToRecord(), "Takedown:SendWindow").Problems);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static IEnumerable<string> ValidateEscalation(TakedownOptions.EscalationSettings e)
    {
        var steps = e.EffectiveSteps;
        var previous = TimeSpan.Zero;
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            var name = $"Takedown:Escalation:Steps:{i}";
            if (step.Role is not (RecipientRole.SITE_OWNER or RecipientRole.REGISTRAR or RecipientRole.AUTHORITY))
                yield return $"{name}:Role {step.Role} is not an escalation role. Fix: use SITE_OWNER, REGISTRAR or AUTHORITY.";
            if (step.After <= TimeSpan.Zero || step.After > TimeSpan.FromDays(90))
                yield return $"{name}:After {step.After} must lie between 0 and 90 days (counted from the first notice). Fix: e.g. 2.00:00:00 for two days (note that 48:00:00 would mean 48 days).";
            else if (step.After <= previous)
                yield return $"{name}:After {step.After} is not later than the step before it ({previous}). Fix: list the steps in the order they come due, each later than the one before.";
            if (step.After > previous) previous = step.After;
        }
        if (e.Authority is { } a) foreach (var p in Recipient(a, "Takedown:Escalation:Authority")) yield return p;
        foreach (var (map, setting) in new[] { (e.Registrars, "Registrars"), (e.SiteOwners, "SiteOwners") })
            foreach (var (suffix, r) in map)
            {
                if (!XarfShape.IsHostname(suffix.Trim('.')))
                    yield return $"Takedown:Escalation:{setting}:{suffix} is not a domain suffix. Fix: key the entry by a domain or a TLD, e.g. example or shop.example.";
                foreach (var p in Recipient(r, $"Takedown:Escalation:{setting}:{suffix}")) yield return p;
            }
    }

    private static IEnumerable<string> Recipient(TakedownOptions.EscalationRecipient r, string name)
    {
        switch (r.Channel)
        {
            case NoticeChannel.EMAIL when string.IsNullOrWhiteSpace(r.Address) || !r.Address.Contains('@', StringComparison.Ordinal):
                yield return $"{name}:Address '{r.Address}' is not an e-mail address. Fix: set the recipient's abuse or notice desk address, or set {name}:Channel to WEBHOOK with an https URL.";
                break;
            case NoticeChannel.WEBHOOK when !Uri.TryCreate(r.Address, UriKind.Absolute, out var u) || (u.Scheme != Uri.UriSchemeHttps && u.Scheme != Uri.UriSchemeHttp):
                yield return $"{name}:Address '{r.Address}' is not an http(s) URL. Fix: set the recipient's webhook URL.";
                break;
            case NoticeChannel.NONE:
                yield return $"{name}:Channel NONE cannot deliver. Fix: use EMAIL, WEBHOOK or TOPIC.";
                break;
            case NoticeChannel.TOPIC when string.IsNullOrWhiteSpace(r.Address):
                yield return $"{name}:Address is empty. Fix: set the partner's topic name.";
                break;
        }
    }
}
