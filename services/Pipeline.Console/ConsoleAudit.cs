using Microsoft.Extensions.Options;
using Pipeline.Audit;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Operator;

/// <summary>
/// Writes what people do in the console to the audit log (audit.log.v1), as AuditRecords with the actor
/// <c>user:&lt;name&gt;</c> and stage <c>console</c>: sign-ins, locks, assessments sent, contact approvals and edits,
/// police releases, user changes. The events the console writes (ReportAssessed, PoliceRelease) are also audited by the
/// audit stage as decisions of their own. Like every audit record: no URL, address or free text; the case is named by its
/// token when Audit:TokenKey is given to the console, and by its report ids in any case.
/// </summary>
public sealed class ConsoleAudit(EventPublisher publisher, TimeProvider time, IOptions<AuditOptions> audit)
{
    private readonly CaseTokens? tokens = string.IsNullOrWhiteSpace(audit.Value.TokenKey) ? null : new CaseTokens(Convert.FromBase64String(audit.Value.TokenKey));

    public async Task WriteAsync(string action, string user, string sourceTopic, string sourceEventId, string? caseKey = null, IReadOnlyList<string>? reportIds = null,
        IReadOnlyDictionary<string, string?>? details = null, string? noticeId = null, CancellationToken ct = default)
    {
        var record = new AuditRecord
        {
            eventId = EventIds.Derive("audit", "console", action, sourceEventId),
            caseToken = caseKey is null ? null : tokens?.Of(caseKey),
            action = action,
            at = time.GetUtcNow().UtcDateTime,
            stage = "console",
            actor = "user:" + user,
            rule = null,
            reportIds = [.. reportIds ?? []],
            noticeId = noticeId,
            details = (details ?? new Dictionary<string, string?>()).Where(d => d.Value is not null).ToDictionary(d => d.Key, d => d.Value!),
            sourceTopic = sourceTopic,
            sourceEventId = sourceEventId,
        };
        await publisher.PublishAsync(Topics.AuditLog, record.caseToken ?? record.reportIds.FirstOrDefault() ?? record.eventId, record, ct: ct);
    }
}
