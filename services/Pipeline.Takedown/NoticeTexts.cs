using System.Globalization;
using Microsoft.Extensions.Logging;
using Pipeline.Contracts;
using Prometheus;

namespace Pipeline.Takedown;

/// <summary>
/// The human text of every notice kind the composer produces (first, reminder, escalation, withdrawal, confirmation), in
/// each language the hotline writes, in one place: one subclass per language, one member per sentence. The composers
/// (<see cref="NoticeComposer"/>, <see cref="Escalations"/>, <see cref="Withdrawals"/>) put the sentences together; the
/// X-ARF document (machine-read, its <c>description</c> included) stays in English whatever the language.
/// Times are written as UTC in ISO form (yyyy-MM-dd HH:mm) in every language, so that a reader can match them to the
/// X-ARF timestamps.
/// </summary>
public abstract class NoticeTexts
{
    public static readonly NoticeTexts English = new EnglishTexts();
    public static readonly NoticeTexts Dutch = new DutchTexts();

    /// <summary>The languages with texts, by their BCP 47 primary subtag.</summary>
    public static readonly IReadOnlyDictionary<string, NoticeTexts> Languages = new Dictionary<string, NoticeTexts>(StringComparer.OrdinalIgnoreCase)
    {
        ["en"] = English,
        ["nl"] = Dutch,
    };

    public abstract string Code { get; }

    protected static string T(DateTime at) => at.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);

    // The first notice.
    public abstract string Header(string noticeId, string organisation, string contact);
    public abstract string To(string name, string address);
    public abstract string AskHoster { get; }
    public abstract string AskCdn { get; }
    public abstract string Classification(string classification, string detectionMethod);
    public abstract string RemoveBefore(DateTime deadline);
    public abstract string DeadlinePassed(DateTime deadline);
    public abstract string Order(string order);
    public abstract string NoImagery { get; }
    /// <summary>The brief template's request: one sentence, the details being in the X-ARF report.</summary>
    public abstract string Brief(string url, DateTime deadline, DateTime issuedAt);

    // A reminder's three header lines (the third is empty).
    public abstract string ReminderHeader(int number, string noticeId, string firstId, DateTime firstIssuedAt);
    public abstract string StillOnline(DateTime at);
    public abstract string StillOnlineOverdue(DateTime at, DateTime deadline);

    // An escalation.
    public abstract string EscalationHeader(int number, string noticeId, string firstId, DateTime firstIssuedAt, string hoster, string hosterAddress);
    public abstract string EscalationTo(string name, string address, RecipientRole role, DateTime at, DateTime deadline);
    public abstract string EscalationAsk(RecipientRole role);
    public abstract string Role(RecipientRole role);

    // A withdrawal.
    public abstract string WithdrawalHeader(string noticeId, string firstId, DateTime firstIssuedAt);
    public abstract string WithdrawalReason(string url, string bank, DateTime retractedAt);
    public abstract string WithdrawalReversed(string url, DateTime assessedAt);
    public abstract string WithdrawalNoAction { get; }

    // A confirmation of removal.
    public abstract string ConfirmationHeader(string noticeId, string firstId, DateTime firstIssuedAt);
    public abstract string ConfirmationFound(string url, DateTime removedAt, bool byHoster, TimeSpan afterNotice);
    public abstract string ConfirmationThanks { get; }

    // The send-window line of any notice to a recipient with a window (see ContactRules.WindowLine).
    public abstract string SendWindow(string days, string opens, string closes, string zone, int holidays);
    public abstract string Day(DayOfWeek day);

    private sealed class EnglishTexts : NoticeTexts
    {
        public override string Code => "en";
        public override string Header(string noticeId, string organisation, string contact) => $"Notice {noticeId} from {organisation} ({contact})";
        public override string To(string name, string address) => $"To: {name} <{address}>";
        public override string AskHoster => "We ask you to remove child sexual abuse material at the following address, which your network hosts:";
        public override string AskCdn => "We ask you to remove child sexual abuse material at the following address, which your network serves as a CDN or reverse proxy, and to disclose the origin server that hosts it:";
        public override string Classification(string classification, string detectionMethod) => $"  Classification: {classification}; detected by {detectionMethod.Replace('_', ' ')}.";
        public override string RemoveBefore(DateTime deadline) => $"Please remove it before {T(deadline)} UTC. We will check the address until it is gone.";
        public override string DeadlinePassed(DateTime deadline) => $"The removal deadline, {T(deadline)} UTC, has passed: please remove it now. We will check the address until it is gone.";
        public override string Order(string order) => $"This deadline is set by the removal order {order} of the competent authority.";
        public override string NoImagery => "This notice carries no imagery. Do not reply with or forward the material.";
        public override string Brief(string url, DateTime deadline, DateTime issuedAt) => deadline > issuedAt
            ? $"Please remove the child sexual abuse material at {url} before {T(deadline)} UTC. The details are in the X-ARF report that comes with this notice."
            : $"Please remove the child sexual abuse material at {url} now: the removal deadline, {T(deadline)} UTC, has passed. The details are in the X-ARF report that comes with this notice.";
        public override string ReminderHeader(int number, string noticeId, string firstId, DateTime firstIssuedAt) =>
            $"Reminder {number} ({noticeId}) of notice {firstId}, sent {T(firstIssuedAt)} UTC.";
        public override string StillOnline(DateTime at) => $"As of {T(at)} UTC the material is still online. The notice follows again.";
        public override string StillOnlineOverdue(DateTime at, DateTime deadline) =>
            $"As of {T(at)} UTC the material is still online and the removal deadline ({T(deadline)} UTC) has passed: remove it now. The notice follows again.";
        public override string EscalationHeader(int number, string noticeId, string firstId, DateTime firstIssuedAt, string hoster, string hosterAddress) =>
            $"Escalation {number} ({noticeId}) of notice {firstId}, sent {T(firstIssuedAt)} UTC to the hoster {hoster} <{hosterAddress}>.";
        public override string EscalationTo(string name, string address, RecipientRole role, DateTime at, DateTime deadline) =>
            $"To: {name} <{address}>, as the {Role(role)}. As of {T(at)} UTC the material is still online and the hoster has not removed it; the removal deadline was {T(deadline)} UTC.";
        public override string EscalationAsk(RecipientRole role) => role switch
        {
            RecipientRole.AUTHORITY => "We ask you to act on it within your competence. The notice to the hoster follows.",
            RecipientRole.REGISTRAR => "We ask you to act on the domain name under your abuse policy. The notice to the hoster follows.",
            _ => "We ask you to remove the material from your site. The notice to the hoster follows.",
        };
        public override string Role(RecipientRole role) => role switch
        {
            RecipientRole.AUTHORITY => "competent authority",
            RecipientRole.REGISTRAR => "registrar of the domain",
            RecipientRole.SITE_OWNER => "owner of the site",
            _ => role.ToString().ToLowerInvariant(),
        };
        public override string WithdrawalHeader(string noticeId, string firstId, DateTime firstIssuedAt) =>
            $"Withdrawal ({noticeId}) of notice {firstId}, sent {T(firstIssuedAt)} UTC, and of its reminders.";
        public override string WithdrawalReason(string url, string bank, DateTime retractedAt) =>
            $"The notice concerned {url}. Its classification rested on an entry of the {bank} hash list that has since been retracted ({T(retractedAt)} UTC).";
        public override string WithdrawalReversed(string url, DateTime assessedAt) =>
            $"The notice concerned {url}. An analyst of the hotline reassessed the material and found it not illegal ({T(assessedAt)} UTC); the notice's basis no longer holds.";
        public override string WithdrawalNoAction => "No action is requested of you on the basis of that notice, and its deadline no longer applies. We apologise for the inconvenience.";
        public override string ConfirmationHeader(string noticeId, string firstId, DateTime firstIssuedAt) =>
            $"Removal confirmed ({noticeId}) for notice {firstId}, sent {T(firstIssuedAt)} UTC.";
        public override string ConfirmationFound(string url, DateTime removedAt, bool byHoster, TimeSpan afterNotice) =>
            $"The material at {url} was found removed at {T(removedAt)} UTC ({(byHoster ? "your confirmation, verified by our check" : "our checks")}), "
            + (afterNotice < TimeSpan.Zero ? "before the notice." : $"{afterNotice.TotalHours.ToString("0.0", CultureInfo.InvariantCulture)} h after the notice.");
        public override string ConfirmationThanks => "Thank you. No further action is requested; we keep watching the address for a re-upload for a while.";
        public override string SendWindow(string days, string opens, string closes, string zone, int holidays) =>
            $"This desk sends notices {days} {opens}–{closes} {zone}{(holidays == 0 ? "" : $", except {holidays} holiday(s)")}.";
        public override string Day(DayOfWeek day) => day.ToString()[..3];
    }

    /// <summary>Dutch in the formal register (<c>u</c>, requests as "Wij verzoeken u ... te ..."), with one word for each
    /// thing: <c>melding</c> (our notice), <c>herinnering</c>, <c>escalatie</c>, <c>intrekking</c>, <c>hostingprovider</c>,
    /// <c>verwijderen</c>/<c>verwijdertermijn</c>. Numbers take the Dutch decimal comma; times stay ISO and UTC as in
    /// every language.</summary>
    private sealed class DutchTexts : NoticeTexts
    {
        public override string Code => "nl";
        public override string Header(string noticeId, string organisation, string contact) => $"Melding {noticeId} van {organisation} ({contact})";
        public override string To(string name, string address) => $"Aan: {name} <{address}>";
        public override string AskHoster => "Wij verzoeken u het materiaal van seksueel misbruik van kinderen op het volgende adres, dat op uw netwerk wordt gehost, te verwijderen:";
        public override string AskCdn => "Wij verzoeken u het materiaal van seksueel misbruik van kinderen op het volgende adres, dat via uw netwerk als CDN of reverse proxy wordt aangeboden, te verwijderen en ons mee te delen op welke achterliggende server (origin server) het wordt gehost:";
        public override string Classification(string classification, string detectionMethod) => $"  Classificatie: {classification}; vastgesteld via {Method(detectionMethod)}.";
        public override string RemoveBefore(DateTime deadline) => $"Wij verzoeken u het materiaal vóór {T(deadline)} UTC te verwijderen. Wij blijven het adres controleren totdat het materiaal verwijderd is.";
        public override string DeadlinePassed(DateTime deadline) => $"De verwijdertermijn ({T(deadline)} UTC) is verstreken. Wij verzoeken u het materiaal onmiddellijk te verwijderen. Wij blijven het adres controleren totdat het materiaal verwijderd is.";
        public override string Order(string order) => $"Deze termijn volgt uit het verwijderingsbevel {order} van de bevoegde autoriteit.";
        public override string NoImagery => "Deze melding bevat geen beeldmateriaal. Stuur het materiaal niet mee in een antwoord en stuur het ook niet door.";
        public override string Brief(string url, DateTime deadline, DateTime issuedAt) => deadline > issuedAt
            ? $"Wij verzoeken u het materiaal van seksueel misbruik van kinderen op {url} vóór {T(deadline)} UTC te verwijderen. De details staan in het X-ARF-rapport bij deze melding."
            : $"Wij verzoeken u het materiaal van seksueel misbruik van kinderen op {url} onmiddellijk te verwijderen: de verwijdertermijn ({T(deadline)} UTC) is verstreken. De details staan in het X-ARF-rapport bij deze melding.";
        public override string ReminderHeader(int number, string noticeId, string firstId, DateTime firstIssuedAt) =>
            $"Herinnering {number} ({noticeId}) aan melding {firstId}, verzonden op {T(firstIssuedAt)} UTC.";
        public override string StillOnline(DateTime at) => $"Op {T(at)} UTC staat het materiaal nog steeds online. Hieronder volgt de melding opnieuw.";
        public override string StillOnlineOverdue(DateTime at, DateTime deadline) =>
            $"Op {T(at)} UTC staat het materiaal nog steeds online en is de verwijdertermijn ({T(deadline)} UTC) verstreken. Wij verzoeken u het materiaal onmiddellijk te verwijderen. Hieronder volgt de melding opnieuw.";
        public override string EscalationHeader(int number, string noticeId, string firstId, DateTime firstIssuedAt, string hoster, string hosterAddress) =>
            $"Escalatie {number} ({noticeId}) van melding {firstId}, op {T(firstIssuedAt)} UTC verzonden aan de hostingprovider {hoster} <{hosterAddress}>.";
        public override string EscalationTo(string name, string address, RecipientRole role, DateTime at, DateTime deadline) =>
            $"Aan: {name} <{address}>, als {Role(role)}. Op {T(at)} UTC staat het materiaal nog steeds online: de hostingprovider heeft het niet verwijderd. De verwijdertermijn liep af op {T(deadline)} UTC.";
        public override string EscalationAsk(RecipientRole role) => role switch
        {
            RecipientRole.AUTHORITY => "Wij verzoeken u binnen uw bevoegdheden op te treden. Hieronder volgt de melding aan de hostingprovider.",
            RecipientRole.REGISTRAR => "Wij verzoeken u op grond van uw abusebeleid maatregelen te nemen tegen de domeinnaam. Hieronder volgt de melding aan de hostingprovider.",
            _ => "Wij verzoeken u het materiaal van uw website te verwijderen. Hieronder volgt de melding aan de hostingprovider.",
        };
        public override string Role(RecipientRole role) => role switch
        {
            RecipientRole.AUTHORITY => "bevoegde autoriteit",
            RecipientRole.REGISTRAR => "registrar van het domein",
            RecipientRole.SITE_OWNER => "eigenaar van de website",
            RecipientRole.HOSTER => "hostingprovider",
            RecipientRole.CDN => "CDN-aanbieder",
            _ => role.ToString().ToLowerInvariant(),
        };
        public override string WithdrawalHeader(string noticeId, string firstId, DateTime firstIssuedAt) =>
            $"Intrekking ({noticeId}) van melding {firstId}, verzonden op {T(firstIssuedAt)} UTC, en van de herinneringen daaraan.";
        public override string WithdrawalReason(string url, string bank, DateTime retractedAt) =>
            $"De melding betrof {url}. De classificatie was gebaseerd op een vermelding in de hashlijst {bank}; die vermelding is op {T(retractedAt)} UTC ingetrokken.";
        public override string WithdrawalReversed(string url, DateTime assessedAt) =>
            $"De melding betrof {url}. Een analist van het meldpunt heeft het materiaal op {T(assessedAt)} UTC opnieuw beoordeeld en niet strafbaar bevonden; daarmee is de grondslag voor de melding vervallen.";
        public override string WithdrawalNoAction => "Op grond van die melding wordt niets meer van u gevraagd en de bijbehorende termijn vervalt. Wij bieden u onze excuses aan voor het ongemak.";
        public override string ConfirmationHeader(string noticeId, string firstId, DateTime firstIssuedAt) =>
            $"Bevestiging van verwijdering ({noticeId}) bij melding {firstId}, verzonden op {T(firstIssuedAt)} UTC.";
        public override string ConfirmationFound(string url, DateTime removedAt, bool byHoster, TimeSpan afterNotice) =>
            $"Het materiaal op {url} bleek op {T(removedAt)} UTC verwijderd te zijn ({(byHoster ? "volgens uw bevestiging, nagegaan met onze controle" : "vastgesteld met onze controles")}), "
            + (afterNotice < TimeSpan.Zero ? "al vóór de melding." : $"{afterNotice.TotalHours.ToString("0.0", CultureInfo.InvariantCulture).Replace('.', ',')} uur na de melding.");
        public override string ConfirmationThanks => "Hartelijk dank. Er is geen verdere actie van u nodig; wij blijven het adres nog enige tijd controleren op een nieuwe upload.";
        public override string SendWindow(string days, string opens, string closes, string zone, int holidays) =>
            $"Dit meldpunt verzendt meldingen op {days} van {opens} tot {closes} ({zone}){(holidays == 0 ? "" : $", behalve op {holidays} feestdag(en)")}.";
        public override string Day(DayOfWeek day) => day switch
        {
            DayOfWeek.Monday => "ma", DayOfWeek.Tuesday => "di", DayOfWeek.Wednesday => "wo", DayOfWeek.Thursday => "do",
            DayOfWeek.Friday => "vr", DayOfWeek.Saturday => "za", _ => "zo",
        };

        private static string Method(string method) => method switch
        {
            "hash_match" => "een hashmatch met bekend materiaal",
            "manual_review" => "beoordeling door een analist",
            "user_report" => "een melding van een gebruiker",
            "automated_scan" => "een automatische scan",
            "ai_detection" => "AI-detectie",
            _ => method.Replace('_', ' '),
        };
    }
}

/// <summary>How a notice to one recipient is written: in which language and with which template. <c>standard</c> is the
/// full text; <c>brief</c> is two lines for desks that act on the X-ARF report (the first notice only: the other kinds
/// are short already). <see cref="Fallbacks"/> names what the directory asked for that is not there (an unknown
/// language or template), so that the caller can log and count it.</summary>
public sealed record NoticeStyle(NoticeTexts Texts, string Template, IReadOnlyList<string> Fallbacks)
{
    public const string Standard = "standard";
    public const string BriefTemplate = "brief";

    /// <summary>The templates a contact may name (checked where a contact is set: CLI and console).</summary>
    public static readonly IReadOnlyList<string> Templates = [Standard, BriefTemplate];

    public static readonly NoticeStyle Default = new(NoticeTexts.English, Standard, []);

    public static readonly Counter FallbacksCounter = Metrics.CreateCounter(
        "pipeline_takedown_notice_text_fallbacks_total", "Notices written in English or with the standard template because the recipient's directory entry names a language or template without texts, by setting.",
        new CounterConfiguration { LabelNames = ["setting"] });

    public bool Brief => Template == BriefTemplate;

    /// <summary>The error for a template name nobody can write (null when it is one, or empty: the standard).</summary>
    public static string? TemplateError(string? template, string setting) =>
        string.IsNullOrWhiteSpace(template) || Templates.Contains(template.Trim(), StringComparer.OrdinalIgnoreCase) ? null
        : $"{setting} '{template}' is not a notice template. Fix: one of {string.Join(", ", Templates)} (or empty for {Standard}).";

    /// <summary>The style of a directory entry: its language (BCP 47; the primary subtag picks the texts, nl-BE → nl)
    /// and template; none, or an unknown one, gives English and the standard template with the reason in
    /// <see cref="Fallbacks"/>.</summary>
    public static NoticeStyle Of(ContactDirectoryEntry? entry)
    {
        if (entry is null || (string.IsNullOrWhiteSpace(entry.language) && string.IsNullOrWhiteSpace(entry.template))) return Default;
        var fallbacks = new List<string>();
        var texts = NoticeTexts.English;
        if (!string.IsNullOrWhiteSpace(entry.language))
        {
            var primary = entry.language.Trim().Split('-', '_')[0];
            if (NoticeTexts.Languages.TryGetValue(primary, out var found)) texts = found;
            else fallbacks.Add($"language '{entry.language}' of contact {entry.contactId} has no notice texts (there are: {string.Join(", ", NoticeTexts.Languages.Keys)}); written in English");
        }
        var template = Standard;
        if (!string.IsNullOrWhiteSpace(entry.template))
        {
            var named = Templates.FirstOrDefault(t => string.Equals(t, entry.template.Trim(), StringComparison.OrdinalIgnoreCase));
            if (named is not null) template = named;
            else fallbacks.Add($"template '{entry.template}' of contact {entry.contactId} does not exist (there are: {string.Join(", ", Templates)}); written with the {Standard} template");
        }
        return new NoticeStyle(texts, template, fallbacks);
    }

    /// <summary>Counts and logs this style's fallbacks for a notice of <paramref name="kind"/> to <paramref name="recipient"/>.</summary>
    public void Report(ILogger log, NoticeKind kind, string recipient)
    {
        foreach (var reason in Fallbacks)
        {
            FallbacksCounter.WithLabels(reason.StartsWith("language", StringComparison.Ordinal) ? "language" : "template").Inc();
            log.LogWarning("{Kind} notice to {Recipient}: {Reason}", kind, recipient, reason);
        }
    }
}
