using System.Globalization;
using Avro.Specific;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Audit;

/// <summary>
/// Turns an event of the pipeline into its audit record, or null for events that are no decision (a delivery attempt to
/// be retried, a routine check that found the content still online). Only named, non-identifying fields are copied:
/// never a URL, host, IP address, hash value, e-mail address, free-text note or anything of the reporter. The case is
/// named by its <see cref="CaseTokens">token</see>.
/// </summary>
public sealed class AuditMapper(CaseTokens tokens)
{
    /// <summary>What the mapper never copies, and so never decodes (<see cref="AvroProjection"/>): URLs, hosts, IP
    /// addresses, hash values, e-mail addresses, free text, the reporter, and the notice's text and X-ARF. The audit stage
    /// reads about ten messages per report, most of them carrying the whole report; leaving these out of the decode
    /// is where its time went (issue 11). <c>AuditProjectionTests</c> checks that every name is a field of a contract.</summary>
    public static readonly AvroProjection Unread = AvroProjection
        .Skip("Report", "sourceReference", "externalIds", "url", "parentUrl", "hashes", "reporterContact")
        .And("HostingInfo", "ips", "asOrganisation", "abuseContact", "originIp", "sources", "unresolvedReason", "countries", "cnameChain", "addresses",
            "cdnName", "cdnAbuseContact")
        .And("TakedownNotice", "url", "ips", "hashes", "detectionMethod", "xarf", "text")
        .And("NoticeRecipient", "name", "address", "foundVia")
        .And("NoticeDelivery", "address", "detail")
        .And("ContentStatusObserved", "url", "detail")
        .And("CaseInfo", "normalizedUrl")
        .And("ReportGrouped", "sourceReference", "reportUrl")
        .And("ReportRejected", "sourceReference", "message", "originalPayload")
        .And("ReviewRequested", "reason")
        .And("ReportAssessed", "note")
        .And("PoliceRelease", "note")
        .And("SlaEvent", "detail")
        .And("HashMatch", "value")
        .And("HashRetracted", "value");

    public AuditRecord? Map(ISpecificRecord value, string topic, string? stage)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        return value switch
        {
            ReportSubmitted e => Record(e.eventId, topic, stage, e.caseKey, "report.received", e.submittedAt,
                e.report.hops?.Count > 0 ? "partner:" + e.report.hops[^1] : "reporter:" + Name(e.report.reporterType), null, [e.report.reportId], null,
                Put(d, "sourceHotline", e.report.sourceHotline).Put("reporterType", Name(e.report.reporterType)).Put("contentType", Name(e.report.contentType))
                    .Put("hops", e.report.hops?.Count > 0 ? Count(e.report.hops.Count) : null).Put("receivedAt", Time(e.report.receivedAt))),
            ReportRejected e => Record(e.eventId, topic, stage, e.caseKey, "report.rejected", e.rejectedAt, Stage(stage, "intake"), e.reasonCode,
                e.reportId is null ? [] : [e.reportId], null, Put(d, "reasonCode", e.reasonCode).Put("sourceHotline", e.sourceHotline)),
            ReportAccepted e => Record(e.eventId, topic, stage, e.caseKey, e.caseInfo.reupload ? "case.reopened" : "case.opened", e.acceptedAt,
                Stage(stage, "intake-grouping"), null, [e.report.reportId], null,
                Put(d, "episode", Count(e.caseInfo.episode)).Put("reportCount", Count(e.caseInfo.reportCount)).Put("receivedAt", Time(e.report.receivedAt))),
            ReportGrouped e => Record(e.eventId, topic, stage, e.caseKey, "report.grouped", e.groupedAt, Stage(stage, "intake-grouping"), null, [e.reportId], null,
                Put(d, "matchedBy", e.matchedBy).Put("reportCount", Count(e.reportCount))),
            ReportLocated e => Record(e.eventId, topic, stage, e.caseKey, "report.located", e.locatedAt, Stage(stage, "geolocation"), null, [e.report.reportId], null,
                Hosting(d, e.hosting)),
            ReportClassified e => Record(e.eventId, topic, stage, e.caseKey, "report.classified", e.classifiedAt, Stage(stage, "classification"), null, [e.report.reportId], null,
                Hosting(d, e.hosting).Put("verdict", Name(e.verdict)).Put("classification", e.assessment is null ? null : Name(e.assessment.classification))
                    .Put("matchedBanks", e.matches?.Count > 0 ? string.Join(",", e.matches.Select(m => m.bank + ":" + Name(m.algorithm)).Distinct().Order(StringComparer.Ordinal)) : null)),
            ReportAssessed e => Record(e.eventId, topic, stage, e.caseKey, "report.assessed", e.assessment.assessedAt, "analyst:" + e.assessment.analyst, null, [e.reportId], null,
                Put(d, "classification", Name(e.assessment.classification)).Put("ageGroup", Name(e.assessment.ageGroup))),
            ReviewRequested e => Record(e.eventId, topic, stage, e.caseKey, "review.requested", e.requestedAt, Rule(e.rule), e.rule, [e.report.reportId], null,
                Hosting(d, e.hosting).Put("verdict", Name(e.verdict))), // the free-text reason can name the host: the rule says why
            PoliceReferral e => Record(e.eventId, topic, stage, e.caseKey, "police.referred", e.referredAt, Rule(e.rule), e.rule, [e.report.reportId], null,
                Hosting(d, e.hosting).Put("verdict", Name(e.verdict)).Put("referralId", e.referralId)),
            PoliceRelease e => Record(e.eventId, topic, stage, e.caseKey, "police.released", e.releasedAt, "police:" + e.releasedBy, null, [], null,
                Put(d, "referralId", e.referralId).Put("preserveEvidence", e.preserveEvidence ? "true" : "false")),
            TakedownRequested e => Record(e.eventId, topic, stage, e.caseKey, "takedown.requested", e.requestedAt,
                Rule(e.rule), e.rule, [e.report.reportId], null,
                Hosting(d, e.hosting).Put("verdict", Name(e.verdict)).Put("policeHold", e.policeHold ? "true" : "false").Put("ordered", e.orderReference is null ? null : "true")),
            ReportForwarded e => Record(e.eventId, topic, stage, e.caseKey, "report.forwarded", e.forwardedAt, Rule(e.rule), e.rule, [e.report.reportId], null,
                Hosting(d, e.hosting).Put("verdict", Name(e.verdict)).Put("partnerHotline", e.partnerHotline).Put("partnerCountry", e.partnerCountry)),
            TakedownNotice e => Record(e.eventId, topic, stage, e.caseKey, "notice.issued", e.issuedAt, Stage(stage, "takedown"), null, [.. e.reportIds ?? []], e.noticeId,
                Put(d, "kind", Name(e.kind)).Put("sequence", Count(e.sequence)).Put("episode", Count(e.episode)).Put("recipientRole", Name(e.recipient.role))
                    .Put("channel", Name(e.recipient.channel)).Put("hosterId", e.hosterId).Put("hosterName", e.hosterName).Put("country", e.country)
                    .Put("asn", e.asn?.ToString(CultureInfo.InvariantCulture)).Put("classification", Name(e.classification)).Put("deadline", Time(e.deadline))
                    .Put("policeHold", e.policeHold ? "true" : null).Put("originalNoticeId", e.originalNoticeId).Put("receivedAt", Time(e.timeline.receivedAt))),
            NoticeDelivery { status: DeliveryStatus.RETRYING } => null, // an attempt to be repeated: the final status is the decision
            NoticeDelivery { status: DeliveryStatus.MOVED } e => Record(e.eventId, topic, stage, e.caseKey, "notice.moved", e.at,
                Stage(stage, "takedown"), null, e.notice is null ? [] : [.. e.notice.reportIds], e.noticeId,
                Put(d, "status", Name(e.status)).Put("channel", Name(e.channel)).Put("hosterId", e.hosterId)
                    .Put("movedToHosterId", e.movedTo?.hosterId).Put("movedToCountry", e.movedTo?.country).Put("movedToAsn", e.movedTo?.asn?.ToString(CultureInfo.InvariantCulture))),
            NoticeDelivery e => Record(e.eventId, topic, stage, e.caseKey, e.status switch
                {
                    DeliveryStatus.SENT => "notice.delivered",
                    DeliveryStatus.CANCELLED => "notice.cancelled", // not sent, by decision (withdrawn before it left): not a failure
                    _ => "notice.failed",
                }, e.at,
                Stage(stage, "takedown"), null, e.notice is null ? [] : [.. e.notice.reportIds], e.noticeId,
                Put(d, "status", Name(e.status)).Put("channel", Name(e.channel)).Put("attempt", Count(e.attempt)).Put("hosterId", e.hosterId).Put("batchId", e.batchId)),
            ContentStatusObserved { removalConfirmed: false, reappeared: false } => null, // a routine check: only its conclusions are decisions
            ContentStatusObserved e => Record(e.eventId, topic, stage, e.caseKey, e.reappeared ? "content.reappeared" : "removal.confirmed", e.observedAt,
                Stage(stage, "recheck"), null, [], e.noticeId,
                Put(d, "status", Name(e.status)).Put("method", Name(e.method)).Put("hosterId", e.hosterId).Put("offlineSince", e.offlineSince is { } o ? Time(o) : null)),
            NoticeOutcome e => Record(e.eventId, topic, stage, e.caseKey, "notice.outcome", e.decidedAt, Stage(stage, "sla"), null, [], e.noticeId,
                Put(d, "hosterId", e.hosterId).Put("hosterName", e.hosterName).Put("country", e.country).Put("withinNorm", e.withinNorm ? "true" : "false")
                    .Put("verification", e.verification).Put("removedAt", Time(e.removedAt)).Put("deadline", Time(e.deadline))
                    .Put("timeToRemovalFromNoticeMs", e.timeToRemovalFromNoticeMs.ToString(CultureInfo.InvariantCulture))
                    .Put("timeToRemovalFromReportMs", e.timeToRemovalFromReportMs.ToString(CultureInfo.InvariantCulture))
                    .Put("receivedAt", Time(e.timeline.receivedAt)).Put("noticeSentAt", e.timeline.noticeSentAt is { } n ? Time(n) : null)),
            SlaEvent e => Record(e.eventId, topic, stage, e.caseKey, "sla." + Name(e.kind), e.occurredAt, Stage(stage, "sla"), null, [], e.noticeId,
                Put(d, "hosterId", e.hosterId).Put("deadline", Time(e.deadline))),
            HashRetracted e => Record(e.eventId, topic, stage, e.caseKey, "hash.retracted", e.retractedAt, Stage(stage, "classification"), null, [e.reportId], null,
                Put(d, "bank", e.bank).Put("algorithm", Name(e.algorithm)).Put("remainingMatches", Count(e.remainingMatches))),
            _ => null,
        };
    }

    private AuditRecord Record(string sourceEventId, string topic, string? stage, string? caseKey, string action, DateTime at, string actor, string? rule,
        IList<string> reportIds, string? noticeId, Details details) => new()
    {
        eventId = EventIds.Derive("audit", topic, sourceEventId),
        caseToken = string.IsNullOrEmpty(caseKey) ? null : tokens.Of(caseKey),
        action = action,
        at = at,
        stage = stage,
        actor = actor,
        rule = rule,
        reportIds = reportIds,
        noticeId = noticeId,
        details = details.Values,
        sourceTopic = topic,
        sourceEventId = sourceEventId,
    };

    private static Details Put(Dictionary<string, string> d, string name, string? value) => new Details(d).Put(name, value);

    private static Details Hosting(Dictionary<string, string> d, HostingInfo? h) => h is null ? new Details(d) : // a review can come before geolocation
        Put(d, "resolved", h.resolved ? "true" : "false").Put("country", h.country).Put("asn", h.asn?.ToString(CultureInfo.InvariantCulture))
            .Put("hosterId", h.hosterId).Put("hosterName", h.hosterName).Put("behindCdn", h.behindCdn ? "true" : null); // unresolvedReason names the host: left out

    private static string Rule(string rule) => "rule:" + rule;

    private static string Stage(string? writtenBy, string expected) => "stage:" + (writtenBy ?? expected);

    private static string Count(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Time(DateTime t) => t.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    private static string Name<TEnum>(TEnum value) where TEnum : struct, Enum => value.ToString().ToLowerInvariant();

    private static string? Name<TEnum>(TEnum? value) where TEnum : struct, Enum => value?.ToString().ToLowerInvariant();

    /// <summary>The details map, filled fluently; null values are left out.</summary>
    private readonly struct Details(Dictionary<string, string> values)
    {
        public Dictionary<string, string> Values => values;

        public Details Put(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value)) values[name] = value;
            return this;
        }
    }
}
