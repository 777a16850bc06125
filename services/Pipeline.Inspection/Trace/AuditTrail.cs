using Pipeline.Audit;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Inspection.Trace;

/// <summary>The decisions on audit.log.v1 for a traced id, used by `pipeline trace` and the operator console.</summary>
public static class AuditTrail
{
    /// <summary>The decisions for what was asked: by report id, notice id or case token (ct-…), by the report ids the trace
    /// found, and, with a token key (Audit__TokenKey), by the tokens of the URL and case keys. They outlive the operational
    /// topics, so a case whose events are gone is still traced by its decisions.</summary>
    public static List<AuditRecord> Read(KafkaOptions kafka, AvroSerdes serdes, string id, TraceResult? result, CaseTokens? caseTokens, CancellationToken ct)
    {
        var tokens = new HashSet<string>(StringComparer.Ordinal);
        if (id.StartsWith("ct-", StringComparison.Ordinal)) tokens.Add(id);
        if (caseTokens is not null)
        {
            tokens.Add(caseTokens.Of(id));
            foreach (var caseKey in result?.Reports.SelectMany(r => r.CaseKeys) ?? []) tokens.Add(caseTokens.Of(caseKey));
        }
        var reportIds = new HashSet<string>(result?.Reports.Select(r => r.ReportId) ?? [], StringComparer.Ordinal) { id };
        List<AuditRecord> Read() => TopicHistory.Read(kafka, serdes, [Topics.AuditLog], r => r.Value is AuditRecord a
                && ((a.caseToken is { } t && tokens.Contains(t)) || a.noticeId == id || a.reportIds.Any(reportIds.Contains)) ? a : null, ct);
        var found = Read();
        // A notice id or report id names some of a case's decisions: the case's token then names all of them.
        if (found.Select(a => a.caseToken).OfType<string>().Where(tokens.Add).ToList().Count > 0) found = Read();
        return found.DistinctBy(a => a.eventId).OrderBy(a => a.at).ToList();
    }
}
