using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.SchemaRegistry;
using Pipeline.Audit;
using Pipeline.Inspection.Trace;
using AuditRecord = Pipeline.Contracts.AuditRecord;
using Pipeline.Platform;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline trace`: one report's whole path across every topic, its INHOPE timeline and where it stands.</summary>
public static class TraceCommand
{
    public sealed record Settings(string? Id, string? Bootstrap, string? Registry, bool Json);

    /// <returns>0 when something matched; 1 (and a message on <paramref name="error"/>) when nothing did.</returns>
    public static async Task<int> RunAsync(Settings settings, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var id = settings.Id?.Trim();
        if (string.IsNullOrEmpty(id)) throw new ArgumentException("Nothing to trace. Fix: pipeline trace <report id | URL | case key | notice id>.");
        var kafka = HashesCommand.Kafka(new HashesCommand.Connection(settings.Bootstrap, settings.Registry));
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = kafka.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);

        var query = new ReportTrace.Query(id);
        var result = await Task.Run(() =>
        {
            List<TraceEvent> Read(IReadOnlyList<string> topics, Func<TraceEvent, bool> keep) =>
                TopicHistory.Read(kafka, serdes, topics, r => TraceEvent.Of(r) is { } e && keep(e) ? e : null, ct);
            if (Read(ReportTrace.ResolvingTopics, query.Learn).Count == 0) return null;
            return ReportTrace.Build(query, Read(ReportTrace.TracedTopics, query.Touches));
        }, ct);
        var audit = await Task.Run(() => AuditTrail(kafka, serdes, id, result, ct), ct);
        if ((result is null || result.Reports.Count == 0) && audit.Count == 0)
        {
            await error.WriteLineAsync($"'{id}' matches no report: no report id, notice id, case key or URL on {string.Join(", ", ReportTrace.ResolvingTopics)}, "
                + $"and no report id, notice id or case token on {Topics.AuditLog}. "
                + "Check the id (events older than a topic's retention are gone; the audit log keeps decisions 5 years: trace a case token ct-…, "
                + "or set Audit__TokenKey so that a URL's token is computed).");
            return 1;
        }
        result ??= new TraceResult(id, "audit log only", []);
        await output.WriteAsync(settings.Json ? Json(result, audit) + Environment.NewLine : Text(result) + AuditText(result, audit));
        return 0;
    }

    /// <summary>The decisions on audit.log.v1 for what was asked: by report id, notice id or case token (ct-…), by the report
    /// ids the trace found, and, with Audit__TokenKey in the environment, by the tokens of the URL and case keys. They outlive
    /// the operational topics, so a case whose events are gone is still traced by its decisions.</summary>
    public static List<AuditRecord> AuditTrail(KafkaOptions kafka, AvroSerdes serdes, string id, TraceResult? result, CancellationToken ct) =>
        Pipeline.Inspection.Trace.AuditTrail.Read(kafka, serdes, id, result,
            Environment.GetEnvironmentVariable("Audit__TokenKey") is { Length: > 0 } key ? new CaseTokens(Convert.FromBase64String(key)) : null, ct);

    public static string AuditText(TraceResult result, IReadOnlyList<AuditRecord> audit)
    {
        if (audit.Count == 0) return "";
        var sb = new StringBuilder().AppendLine();
        var cases = string.Join(", ", audit.Select(a => a.caseToken).OfType<string>().Distinct());
        var gone = result.Reports.Count == 0 ? ": the events themselves are past their retention" : "";
        sb.AppendLine(CultureInfo.InvariantCulture, $"── audit log ({Topics.AuditLog}), case {cases}{gone}");
        foreach (var a in audit)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {TraceEvent.Time(a.at),-24}  {a.action,-22} {a.actor,-34} {a.stage ?? "-"}");
            var fields = new[] { a.rule is null ? null : "rule=" + a.rule, a.reportIds.Count > 0 ? "reports=" + string.Join(",", a.reportIds) : null,
                a.noticeId is null ? null : "notice=" + a.noticeId }.OfType<string>().Concat(a.details.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => $"{d.Key}={d.Value}"));
            sb.AppendLine("      " + string.Join("  ", fields));
        }
        return sb.ToString();
    }

    public static string Text(TraceResult result)
    {
        var sb = new StringBuilder();
        var n = result.Reports.Count;
        if (n == 0) return sb.AppendLine(CultureInfo.InvariantCulture, $"Trace of {result.Query}: none of its events is left on the operational topics").ToString();
        sb.AppendLine(n == 1
            ? $"Trace of {result.MatchedAs} {result.Query}: report {result.Reports[0].ReportId}"
            : $"Trace of {result.MatchedAs} {result.Query}: {n} reports match, each traced below ({string.Join(", ", result.Reports.Select(r => r.ReportId))})");
        foreach (var report in result.Reports)
        {
            sb.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"── report {report.ReportId}, case {(report.CaseKeys.Count > 0 ? string.Join(", ", report.CaseKeys) : "(none)")}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {"event time",-24}  {"topic",-29} {"stage",-18} what");
            foreach (var e in report.Events)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"  {TraceEvent.Time(e.At),-24}  {e.Topic,-29} {e.Source.Stage ?? "-",-18} {e.What}");
                sb.AppendLine("      " + string.Join("  ", e.Fields.Select(f => $"{f.Key}={f.Value}")));
            }
            sb.AppendLine("  timeline");
            foreach (var (step, at, detail) in Steps(report.Timeline))
                sb.AppendLine(CultureInfo.InvariantCulture, $"    {step,-20} {TraceEvent.Time(at)}{(detail is null ? "" : "  " + detail)}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"  state: {report.State}");
        }
        return sb.ToString();
    }

    /// <summary>The timeline's milestones that were reached, in the INHOPE order.</summary>
    private static IEnumerable<(string Step, DateTime At, string? Detail)> Steps(Timeline t)
    {
        if (t.Received is { } received) yield return ("received", received, null);
        if (t.Rejected is { } rejected) yield return ("rejected", rejected, null);
        if (t.JoinedOpenCase is { } grouped) yield return ("joined open case", grouped, null);
        if (t.Assessed is { } assessed) yield return ("assessed", assessed, t.Verdict);
        if (t.ReferredToPolice is { } police) yield return ("referred to police", police, null);
        if (t.ReleasedByPolice is { } released) yield return ("released by police", released, null);
        if (t.Forwarded is { } forwarded) yield return ("forwarded", forwarded, null);
        if (t.SentToReview is { } review) yield return ("sent to review", review, null);
        if (t.FirstNoticeSent is { } sent) yield return ("first notice sent", sent, null);
        for (var i = 0; i < t.Reminders.Count; i++) yield return ($"reminder {i + 1}", t.Reminders[i], null);
        if (t.Removed is { } removed)
            yield return ("removed", removed, string.Join(", ", new[]
            {
                t.RemovalAfterReport is { } r ? $"{TraceEvent.Duration(r)} after the report" : null,
                t.RemovalAfterNotice is { } s ? $"{TraceEvent.Duration(s)} after the first notice" : null,
            }.OfType<string>()));
        if (t.ConfirmedGone is { } gone) yield return ("confirmed gone", gone, null);
    }

    public static string Json(TraceResult result, IReadOnlyList<AuditRecord>? audit = null) => JsonSerializer.Serialize(new
    {
        query = result.Query,
        matchedAs = result.MatchedAs,
        reports = result.Reports.Select(r => new
        {
            reportId = r.ReportId,
            caseKeys = r.CaseKeys,
            state = r.State,
            timeline = r.Timeline,
            events = r.Events.Select(e => new
            {
                at = e.At,
                topic = e.Topic,
                partition = e.Source.Partition,
                offset = e.Source.Offset,
                stage = e.Source.Stage,
                type = e.Type,
                what = e.What,
                fields = e.Fields.DistinctBy(f => f.Key).ToDictionary(f => f.Key, f => f.Value),
            }),
        }),
        audit = (audit ?? []).Select(a => new
        {
            at = a.at, action = a.action, actor = a.actor, stage = a.stage, rule = a.rule, caseToken = a.caseToken, reportIds = a.reportIds,
            noticeId = a.noticeId, details = a.details, eventId = a.eventId,
        }),
    }, JsonOptions);

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase, // the timeline record's properties
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // URLs and → readable; the output is no HTML
    };
}
