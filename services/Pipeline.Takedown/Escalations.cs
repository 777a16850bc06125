using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Contracts;
using Pipeline.Geolocation;
using Pipeline.Platform;
using Prometheus;

namespace Pipeline.Takedown;

/// <summary>
/// The escalation ladder (issue 12): while a noticed URL is not confirmed removed, each step of
/// <c>Takedown:Escalation:Steps</c> comes due at the first notice's issuedAt + the step's <c>After</c>, and its recipient
/// (the site owner, the domain's registrar, the authority) gets one ESCALATION notice: its own id, derived from the first
/// notice id and the step number, so that a re-issue after a crash is delivered once. The steps run on the case's
/// reminder timer (takedown.reminders.v1): the timer's state counts the steps done in <c>escalationsIssued</c>. A
/// confirmed removal or a withdrawal ends the ladder as it ends the reminders. The registrar comes from the domain's RDAP
/// (looked up when the step comes due, cached per domain) unless one is configured for the domain's suffix. A step whose
/// recipient cannot be found is skipped (logged with the reason, counted), and the ladder goes on.
/// </summary>
public static class Escalations
{
    public static readonly Counter Issued = Metrics.CreateCounter(
        "pipeline_takedown_escalations_total", "ESCALATION notices issued, by the recipient's role (a re-issue after a crash, with the same notice id, counts again; it is not delivered twice).",
        new CounterConfiguration { LabelNames = ["role"] });

    public static readonly Counter Skipped = Metrics.CreateCounter(
        "pipeline_takedown_escalations_skipped_total", "Escalation steps skipped because no recipient is known for the step's role (configure Takedown:Escalation:Authority, :Registrars or :SiteOwners; for REGISTRAR also Geolocation:Rdap:Domains; an IP-literal host has no registrar). The log says why.",
        new CounterConfiguration { LabelNames = ["role"] });

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>When the case's next escalation step is due, or null: the ladder is off, done, ended by a removal or a
    /// withdrawal, or the notice is held for the police.</summary>
    /// <param name="latest">The timer's state: the first notice or the last reminder, with the steps done so far.</param>
    public static DateTime? NextDue(TakedownNotice latest, TakedownOptions.EscalationSettings settings)
    {
        if (!settings.Enabled || latest.timeline.removalObservedAt is not null || latest.policeHold) return null;
        if (latest.kind is not (NoticeKind.FIRST or NoticeKind.REMINDER)) return null;
        var steps = settings.EffectiveSteps;
        if (latest.escalationsIssued < 0 || latest.escalationsIssued >= steps.Count) return null;
        return (latest.timeline.noticeSentAt ?? latest.issuedAt) + steps[latest.escalationsIssued].After;
    }

    /// <summary>The step after the timer's state (1-based number, and its setting), or null when none is left.</summary>
    public static (int Number, TakedownOptions.EscalationStep Step)? NextStep(TakedownNotice latest, TakedownOptions.EscalationSettings settings)
    {
        var steps = settings.EffectiveSteps;
        return latest.escalationsIssued >= 0 && latest.escalationsIssued < steps.Count ? (latest.escalationsIssued + 1, steps[latest.escalationsIssued]) : null;
    }

    /// <summary>The timer's state with one more step done (a copy).</summary>
    public static TakedownNotice Advanced(TakedownNotice latest)
    {
        var copy = NoticeComposer.Copy(latest, latest.timeline.noticeSentAt, latest.timeline.removalObservedAt);
        copy.escalationsIssued = latest.escalationsIssued + 1;
        return copy;
    }

    /// <summary>Who a step goes to for this URL, or null when nobody is known: the authority from
    /// <c>Takedown:Escalation:Authority</c>; the registrar and the site owner from <c>Registrars</c> / <c>SiteOwners</c>
    /// by the longest domain suffix of the URL's host. The configured recipients only; <see cref="Resolve"/> adds the
    /// registrar from the domain's RDAP.</summary>
    public static NoticeRecipient? Recipient(TakedownOptions.EscalationStep step, string url, TakedownOptions.EscalationSettings settings)
    {
        var (recipient, via) = step.Role switch
        {
            RecipientRole.AUTHORITY => (settings.Authority, "config:Takedown:Escalation:Authority"),
            RecipientRole.REGISTRAR => BySuffix(settings.Registrars, url, "Registrars"),
            RecipientRole.SITE_OWNER => BySuffix(settings.SiteOwners, url, "SiteOwners"),
            _ => (null, ""),
        };
        if (recipient is null || string.IsNullOrWhiteSpace(recipient.Address)) return null;
        return new NoticeRecipient
        {
            role = step.Role,
            name = string.IsNullOrWhiteSpace(recipient.Name) ? recipient.Address : recipient.Name,
            address = recipient.Address,
            channel = recipient.Channel,
            foundVia = via,
        };
    }

    /// <summary>What a step's recipient is, as far as can be known without waiting: a configured one wins; the REGISTRAR
    /// step otherwise takes the registrar's abuse contact from the domain's RDAP answer (<paramref name="rdap"/>'s cache),
    /// or asks for a lookup first when the cache has no fresh answer. A step nobody can be found for is skipped, with the
    /// reason.</summary>
    public static StepRecipient Resolve(TakedownOptions.EscalationStep step, string url, TakedownOptions.EscalationSettings settings, RdapClient? rdap)
    {
        if (Recipient(step, url, settings) is { } configured) return new StepRecipient.To(configured, Approved: true);
        var setting = step.Role switch { RecipientRole.AUTHORITY => "Authority", RecipientRole.REGISTRAR => "Registrars", _ => "SiteOwners" };
        if (step.Role != RecipientRole.REGISTRAR) return new StepRecipient.Skip($"no recipient known for the role (configure Takedown:Escalation:{setting})");
        var host = Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.IdnHost : "";
        if (uri is { HostNameType: UriHostNameType.IPv4 or UriHostNameType.IPv6 })
            return new StepRecipient.Skip($"the host {uri.Host} is an IP address: it has no domain, so no registrar");
        if (rdap?.RegisteredDomain(host) is not { } target)
            return new StepRecipient.Skip($"no registrar configured for {host} and no RDAP registry covers its domain (configure Takedown:Escalation:Registrars or Geolocation:Rdap:Domains)");
        if (rdap.CachedDomain(target.Domain) is not { } answer) return new StepRecipient.Lookup(target.Domain);
        if (!answer.Ok)
            return new StepRecipient.Skip($"RDAP lookup of {answer.Domain} failed ({answer.Failure}) and no registrar is configured for it (Takedown:Escalation:Registrars)");
        if (answer.AbuseEmail is not { } email)
            return new StepRecipient.Skip($"the RDAP answer for {answer.Domain} names no registrar abuse contact and no registrar is configured for it (Takedown:Escalation:Registrars)");
        return new StepRecipient.To(new NoticeRecipient
        {
            role = RecipientRole.REGISTRAR,
            name = answer.Name ?? email,
            address = email,
            channel = NoticeChannel.EMAIL,
            foundVia = $"rdap:{answer.Registry}:domain/{answer.Domain}" + (answer.IanaId is { } iana ? $":registrar {iana}" : ""),
        }, rdap.TrustContacts);
    }

    private static (TakedownOptions.EscalationRecipient?, string) BySuffix(Dictionary<string, TakedownOptions.EscalationRecipient> map, string url, string setting)
    {
        var host = Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.IdnHost.TrimEnd('.').ToLowerInvariant() : null;
        if (host is null || map.Count == 0) return (null, "");
        for (var suffix = host; suffix.Length > 0;)
        {
            foreach (var (key, value) in map)
                if (string.Equals(key.Trim().Trim('.'), suffix, StringComparison.OrdinalIgnoreCase))
                    return (value, $"config:Takedown:Escalation:{setting}:{key}");
            var dot = suffix.IndexOf('.', StringComparison.Ordinal);
            suffix = dot < 0 ? "" : suffix[(dot + 1)..];
        }
        return (null, "");
    }

    /// <summary>The ESCALATION notice of step <paramref name="number"/> to <paramref name="recipient"/>, composed from the
    /// timer's state (the first notice or the last reminder): the same URL, hashes, hoster and deadline; its own ids
    /// derived from the first notice id and the step number; the first notice id in <c>originalNoticeId</c>, in the X-ARF
    /// document (<c>escalation_of</c>, <c>escalation_step</c>) and in the text, above the first notice's text.</summary>
    /// <param name="style">The escalation recipient's language and template; the hoster's notice below it stays as it was written.</param>
    public static TakedownNotice Compose(TakedownNotice latest, int number, NoticeRecipient recipient, DateTime issuedAt, NoticeStyle? style = null)
    {
        var texts = (style ?? NoticeStyle.Default).Texts;
        var firstId = ReminderSchedule.FirstNoticeId(latest);
        var firstIssuedAt = latest.timeline.noticeSentAt ?? latest.issuedAt;
        var n = number.ToString(CultureInfo.InvariantCulture);
        var noticeId = EventIds.Derive("escalation", firstId, n);
        var hoster = latest.hosterName ?? latest.recipient.name;
        var xarf = XarfShape.Conform(JsonNode.Parse(latest.xarf)!.AsObject());
        xarf.Remove("reminder_of");
        xarf.Remove("reminder_number");
        xarf["report_id"] = noticeId;
        xarf["timestamp"] = XarfShape.Timestamp(issuedAt);
        xarf["content_removed"] = false;
        xarf["escalation_of"] = firstId;
        xarf["escalation_step"] = number;
        xarf["description"] = string.Create(CultureInfo.InvariantCulture,
            $"Escalation to the {NoticeTexts.English.Role(recipient.role)}: notice {firstId} to the hoster ({hoster}), sent {firstIssuedAt:yyyy-MM-dd HH:mm} UTC, has not led to removal; the child sexual abuse material is still online. {NoticeComposer.RemoveBy(latest.deadline, issuedAt)}");
        var text = new StringBuilder();
        text.Append(texts.EscalationHeader(number, noticeId, firstId, firstIssuedAt, hoster, latest.recipient.address)).Append('\n');
        text.Append(texts.EscalationTo(recipient.name, recipient.address, recipient.role, issuedAt, latest.deadline)).Append('\n');
        text.Append(texts.EscalationAsk(recipient.role)).Append('\n');
        text.Append('\n');
        text.Append(latest.kind == NoticeKind.FIRST ? latest.text : NoticeComposer.FirstText(latest.text));
        var escalation = NoticeComposer.Copy(latest, firstIssuedAt, removalObservedAt: null);
        escalation.eventId = EventIds.Derive("escalation-issued", firstId, n);
        escalation.noticeId = noticeId;
        escalation.kind = NoticeKind.ESCALATION;
        escalation.sequence = number;
        escalation.escalationsIssued = number;
        escalation.recipient = recipient;
        escalation.originalNoticeId = firstId;
        escalation.issuedAt = issuedAt;
        escalation.xarf = xarf.ToJsonString(Indented);
        escalation.text = text.ToString();
        return escalation;
    }
}

/// <summary>A step's recipient as <see cref="Escalations.Resolve"/> finds it.</summary>
public abstract record StepRecipient
{
    /// <summary>Send to <paramref name="Recipient"/>; <paramref name="Approved"/>: without a directory entry, it may get
    /// notices automatically (configured recipients are; RDAP-found ones when Geolocation:Rdap:TrustContacts is on).</summary>
    public sealed record To(NoticeRecipient Recipient, bool Approved) : StepRecipient;

    public sealed record Skip(string Reason) : StepRecipient;

    /// <summary>The domain's RDAP answer is not in the cache: look it up (off the stage thread), then decide.</summary>
    public sealed record Lookup(string Domain) : StepRecipient;
}
