using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Contracts;
using Pipeline.Platform;
using Prometheus;

namespace Pipeline.Takedown;

/// <summary>
/// Withdrawal of a notice whose basis is gone (issue 12): classification reports on hashes.retractions.v1 that a bank
/// entry a case was classified on has been retracted, or re-sends the case on reports.classified.v1 as NOT_ILLEGAL
/// because an analyst reversed the assessment (then the notice is withdrawn whatever it rested on). When no bank entry supports the case any more
/// (<c>remainingMatches</c> 0) and the notice rested on the hash match alone (<c>detectionMethod</c> hash_match, no
/// analyst's assessment), the recipient of the first notice gets one WITHDRAWAL notice: its own id (derived from the
/// first notice id), delivered once like any notice. It replaces the case's reminder timer, so no reminder follows; the
/// sla stage closes the notice unmeasured and the recheck stops checking the URL.
/// </summary>
public static class Withdrawals
{
    public static readonly Counter Confirmations = Metrics.CreateCounter(
        "pipeline_takedown_confirmations_total", "CONFIRMATION notices issued: a noticed URL was confirmed removed and its recipient told so.");

    /// <summary>The notice that tells the first notice's recipient its removal was confirmed (X-ARF content_removed true).</summary>
    public static TakedownNotice Confirmation(TakedownNotice latest, ContentStatusObserved removal, DateTime issuedAt, NoticeStyle? style = null)
    {
        var texts = (style ?? NoticeStyle.Default).Texts;
        var firstId = ReminderSchedule.FirstNoticeId(latest);
        var firstIssuedAt = latest.timeline.noticeSentAt ?? latest.issuedAt;
        var removedAt = removal.offlineSince ?? removal.observedAt;
        var noticeId = EventIds.Derive("confirmation", firstId);
        var how = removal.method == ObservationMethod.HOSTER_CONFIRMATION ? "your confirmation, verified by our check" : "our checks";
        var xarf = JsonNode.Parse(latest.xarf)!.AsObject();
        xarf["report_id"] = noticeId;
        xarf["timestamp"] = issuedAt.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        xarf["content_removed"] = true;
        xarf["confirmation_of"] = firstId;
        // What the confirmation states, the removal, was verified by our check that found the URL gone (on a hoster's
        // confirmation too: it counts only once a check agrees), not by the analyst or a check that saw it online.
        XarfShape.Verified(xarf, removal.observedAt, XarfShape.VerifiedByCrawler);
        xarf["description"] = $"Removal confirmed: the material reported in notice {firstId} was found removed at {removedAt:yyyy-MM-dd HH:mm} UTC ({how}). No further action is requested.";
        var text = new StringBuilder();
        text.Append(texts.ConfirmationHeader(noticeId, firstId, firstIssuedAt)).Append('\n');
        text.Append(texts.ConfirmationFound(latest.url, removedAt, removal.method == ObservationMethod.HOSTER_CONFIRMATION, removedAt - firstIssuedAt)).Append('\n');
        text.Append(texts.ConfirmationThanks).Append('\n');
        var confirmation = NoticeComposer.Copy(latest, firstIssuedAt, removedAt);
        confirmation.eventId = EventIds.Derive("confirmation-issued", firstId);
        confirmation.noticeId = noticeId;
        confirmation.kind = NoticeKind.CONFIRMATION;
        confirmation.sequence = 0;
        confirmation.originalNoticeId = firstId;
        confirmation.issuedAt = issuedAt;
        confirmation.xarf = xarf.ToJsonString(Indented);
        confirmation.text = text.ToString();
        return confirmation;
    }

    public static readonly Counter Issued = Metrics.CreateCounter(
        "pipeline_takedown_withdrawals_total", "WITHDRAWAL notices issued, by reason: hash_retracted (the hash-list entry a notice rested on was retracted) or assessment_reversed (an analyst reassessed the case as not illegal).",
        new CounterConfiguration { LabelNames = ["reason"] });

    public const string ReasonHashRetracted = "hash_retracted";
    public const string ReasonAssessmentReversed = "assessment_reversed";

    public static readonly Counter HeldDropped = Metrics.CreateCounter(
        "pipeline_takedown_held_notices_dropped_total", "Held notices (not yet issued) dropped because an analyst reassessed the case as not illegal; each also goes to reports.review.v1.");

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Why a retraction does not withdraw the case's notice, or null when it does.</summary>
    public static string? NotWithdrawn(TakedownNotice latest, HashRetracted retraction) =>
        retraction.remainingMatches > 0 ? $"{retraction.remainingMatches} other bank entries still match the case"
        : latest.kind == NoticeKind.WITHDRAWAL ? "withdrawn already"
        : latest.detectionMethod != "hash_match" ? $"the notice rests on {latest.detectionMethod}, not on the hash match alone"
        : null;

    /// <summary>Why a reversed assessment (a NOT_ILLEGAL reclassification) does not withdraw the case's notice, or null when it does.</summary>
    public static string? NotWithdrawn(TakedownNotice latest, ReportClassified reversal) =>
        reversal.verdict != Verdict.NOT_ILLEGAL ? $"the verdict is {reversal.verdict}"
        : latest.kind == NoticeKind.WITHDRAWAL ? "withdrawn already"
        : reversal.caseInfo.episode != latest.episode ? $"the reassessment is of episode {reversal.caseInfo.episode}, the notice of episode {latest.episode}"
        : latest.policeHold ? "the notice was held for the police and never sent"
        : null;

    /// <summary>The withdrawal of the case's first notice after an analyst reassessed the case as not illegal.</summary>
    public static TakedownNotice Compose(TakedownNotice latest, ReportClassified reversal, DateTime issuedAt, NoticeStyle? style = null)
    {
        var when = reversal.assessment?.assessedAt ?? reversal.classifiedAt;
        return Compose(latest, issuedAt, "the assessment it rested on was reversed", t => t.WithdrawalReversed(latest.url, when), style);
    }

    /// <summary>The withdrawal of the case's first notice (the latest being that notice or one of its reminders).</summary>
    public static TakedownNotice Compose(TakedownNotice latest, HashRetracted retraction, DateTime issuedAt, NoticeStyle? style = null) =>
        Compose(latest, issuedAt, "the hash-list entry it rested on was retracted",
            t => t.WithdrawalReason(latest.url, retraction.bank, retraction.retractedAt), style);

    private static TakedownNotice Compose(TakedownNotice latest, DateTime issuedAt, string why, Func<NoticeTexts, string> reason, NoticeStyle? style)
    {
        var texts = (style ?? NoticeStyle.Default).Texts;
        var firstId = ReminderSchedule.FirstNoticeId(latest);
        var firstIssuedAt = latest.timeline.noticeSentAt ?? latest.issuedAt;
        var noticeId = EventIds.Derive("withdrawal", firstId);
        var xarf = JsonNode.Parse(latest.xarf)!.AsObject();
        xarf["report_id"] = noticeId;
        xarf["timestamp"] = issuedAt.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        xarf["withdrawal_of"] = firstId;
        XarfShape.Unverified(xarf); // the notice's basis is gone: no verification of it is claimed any more
        xarf["description"] = $"Withdrawal of notice {firstId}: {why}. No action is requested.";
        var text = new StringBuilder();
        text.Append(texts.WithdrawalHeader(noticeId, firstId, firstIssuedAt)).Append('\n');
        text.Append(reason(texts)).Append('\n');
        text.Append(texts.WithdrawalNoAction).Append('\n');
        var withdrawal = NoticeComposer.Copy(latest, firstIssuedAt, latest.timeline.removalObservedAt);
        withdrawal.eventId = EventIds.Derive("withdrawal-issued", firstId);
        withdrawal.noticeId = noticeId;
        withdrawal.kind = NoticeKind.WITHDRAWAL;
        withdrawal.sequence = 0;
        withdrawal.originalNoticeId = firstId;
        withdrawal.issuedAt = issuedAt;
        withdrawal.xarf = xarf.ToJsonString(Indented);
        withdrawal.text = text.ToString();
        return withdrawal;
    }
}
