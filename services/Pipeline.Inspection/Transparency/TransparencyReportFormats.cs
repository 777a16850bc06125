using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Pipeline.Inspection.Transparency;

/// <summary>The transparency report written as JSON, CSV or one self-contained HTML page.</summary>
public static class TransparencyReportFormats
{
    public static readonly IReadOnlyList<string> Names = ["html", "csv", "json"];

    public static string Write(TransparencyFiguresResult f, string format) => format switch
    {
        "json" => Json(f),
        "csv" => Csv(f),
        "html" => Html(f),
        _ => throw new ArgumentException($"--format '{format}' is not a report format. Fix: --format html, csv or json."),
    };

    public static string Json(TransparencyFiguresResult f) => JsonSerializer.Serialize(f, JsonOptions);

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // "≤ 6 h", "6–24 h" readable; the output is no HTML
    };

    /// <summary>
    /// One long table, <c>section,key,value,share</c>: a row per figure (key empty for a section's single figures, e.g.
    /// <c>reports,received,1200,</c>) and a row per counted key (<c>hosting_country,NL,300,0.25</c>); share is 0..1 and
    /// empty where it does not apply, durations are hours. One table loads into any spreadsheet or
    /// <c>GROUP BY section</c>, and stays one shape when a section gains keys.
    /// </summary>
    public static string Csv(TransparencyFiguresResult f)
    {
        var sb = new StringBuilder("section,key,value,share\n");
        void Row(string section, string key, object? value, double? share = null) =>
            sb.Append(Field(section)).Append(',').Append(Field(key)).Append(',').Append(Field(Text(value))).Append(',').Append(Text(share)).Append('\n');
        void Rows(string section, params (string Key, object? Value)[] figures)
        {
            foreach (var (key, value) in figures) Row(section, key, value);
        }
        void Keyed(string section, IEnumerable<KeyedCount> counts)
        {
            foreach (var c in counts) Row(section, c.Key, c.Count, c.Share);
        }
        void Times(string section, RemovalTimes t)
        {
            Rows(section, ("removals", t.Removals), ("median_hours", t.MedianHours), ("p90_hours", t.P90Hours));
            Row(section, "within_24h", null, t.ShareWithin24h);
            Row(section, "within_72h", null, t.ShareWithin72h);
        }

        Rows("period", ("from", f.From.ToString("O", CultureInfo.InvariantCulture)), ("to", f.To.ToString("O", CultureInfo.InvariantCulture)), ("anonymous", f.Anonymous ? "true" : "false"));
        Rows("reports", ("received", f.ReportsReceived), ("rejected", f.ReportsRejected), ("accepted", f.ReportsAccepted), ("cases_opened", f.CasesOpened));
        Keyed("rejected_by_reason", f.RejectedByReason);
        Rows("classification", ("classified", f.ReportsClassified));
        Row("classification", "assessed_illegal", f.AssessedIllegal, f.IllegalShare);
        Rows("classification", ("known", f.Known), ("new", f.New), ("not_illegal", f.NotIllegal), ("awaiting_assessment", f.AwaitingAssessment),
            ("analyst_assessments", f.AnalystAssessments));
        Keyed("hosting_country", f.ByHostingCountry);
        Keyed("hoster", f.ByHoster);
        Rows("notices", ("takedown_requests", f.TakedownRequests), ("first", f.FirstNotices), ("reminders", f.Reminders), ("escalations", f.Escalations),
            ("withdrawals", f.Withdrawals));
        Times("removal_from_notice", f.FromNotice);
        Times("removal_from_report", f.FromReport);
        Rows("removal_from_notice", ("within_deadline", f.RemovedWithinDeadline));
        Keyed("removal_time_bucket", f.RemovalBuckets);
        Rows("partners", ("forwards_in", f.ForwardsIn), ("forwards_out", f.ForwardsOut));
        Keyed("forwards_in_by_partner", f.ForwardsInByPartner);
        Keyed("forwards_out_by_partner", f.ForwardsOutByPartner);
        Rows("police", ("referrals", f.PoliceReferrals));
        Keyed("monthly_received", f.MonthlyReceived);
        foreach (var slow in f.SlowestRemovals ?? []) Row("slowest_removal", slow.NoticeId, slow.HoursFromNotice);
        return sb.ToString();
    }

    private static string Text(object? value) => value switch
    {
        null => "",
        double d => d.ToString("0.####", CultureInfo.InvariantCulture),
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Field(string text) =>
        text.IndexOfAny([',', '"', '\n', '\r']) < 0 ? text : "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>One page: inline CSS, the charts as PNG data URIs, no script, nothing fetched.</summary>
    public static string Html(TransparencyFiguresResult f)
    {
        var lastDay = f.To.AddTicks(-1);
        var period = $"{f.From:yyyy-MM-dd} to {lastDay:yyyy-MM-dd}";
        var sb = new StringBuilder();
        sb.Append($$"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Transparency report {{period}}</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>
            body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;background:#f6f7f9;color:#1a202c}
            main{max-width:980px;margin:0 auto;padding:24px}
            h1{margin:0 0 4px;font-size:26px} h2{margin:32px 0 8px;font-size:19px;border-bottom:2px solid #cbd5e0;padding-bottom:4px}
            .sub{color:#4a5568;margin:0 0 16px}
            .tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px}
            .tile{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
            .tile .v{font-size:26px;font-weight:700} .tile .l{color:#4a5568;font-size:13px}
            table{border-collapse:collapse;background:#fff;margin:8px 0;min-width:320px}
            th,td{padding:5px 12px;border-bottom:1px solid #e2e8f0;text-align:left} td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
            figure{margin:12px 0;background:#fff;border-radius:8px;padding:8px;display:inline-block}
            figure img{display:block;max-width:100%;height:auto}
            .note{color:#4a5568;font-size:13px} footer{margin-top:32px;color:#718096;font-size:12px}
            </style></head><body><main>
            <h1>Transparency report</h1>
            <p class="sub">Reports received {{period}} (UTC){{(f.Anonymous ? " · anonymous: no URL, host, IP address or hash" : "")}}</p>
            <div class="tiles">
            """).Append('\n');
        Tile(sb, "received", Number(f.ReportsReceived), "reports received");
        Tile(sb, "illegal", Number(f.AssessedIllegal), $"assessed illegal ({Percent(f.IllegalShare)} of classified)");
        Tile(sb, "notices", Number(f.FirstNotices), "takedown notices");
        Tile(sb, "median", Hours(f.FromNotice.MedianHours), "median time to removal (from notice)");
        Tile(sb, "within24", Percent(f.FromNotice.ShareWithin24h), "removed within 24 h of the notice");
        Tile(sb, "police", Number(f.PoliceReferrals), "police referrals");
        sb.Append("</div>\n");

        sb.Append("<h2>Reports</h2>\n");
        Table(sb, "reports", ["figure", "reports"],
        [
            ["received", Number(f.ReportsReceived)], ["rejected", Number(f.ReportsRejected)], ["accepted", Number(f.ReportsAccepted)],
            ["of which opened a case", Number(f.CasesOpened)],
        ]);
        if (f.MonthlyReceived.Count > 1) Chart(sb, "monthly", "Reports received per month", TransparencyCharts.Bars("Reports received per month", "reports", f.MonthlyReceived, "#4a5568"));
        sb.Append("<h3>Rejected, by reason</h3>\n");
        Keyed(sb, "rejected-by-reason", "reason", f.RejectedByReason);

        sb.Append("<h2>Assessment</h2>\n");
        Table(sb, "assessment", ["verdict", "reports", "share"],
        [
            ["assessed illegal", Number(f.AssessedIllegal), Percent(f.IllegalShare)],
            ["known (in a hash bank)", Number(f.Known), Percent(Share(f.Known, f.ReportsClassified))],
            ["new (not yet in a bank)", Number(f.New), Percent(Share(f.New, f.ReportsClassified))],
            ["not illegal", Number(f.NotIllegal), Percent(Share(f.NotIllegal, f.ReportsClassified))],
            ["awaiting an analyst", Number(f.AwaitingAssessment), Percent(Share(f.AwaitingAssessment, f.ReportsClassified))],
            ["classified, all", Number(f.ReportsClassified), ""],
        ]);
        sb.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">Analyst assessments in the period: {Number(f.AnalystAssessments)}.</p>\n");

        sb.Append("<h2>Where the illegal material was hosted</h2>\n");
        Chart(sb, "countries", "Reports assessed illegal by hosting country", TransparencyCharts.Bars("Reports assessed illegal by hosting country", "reports", f.ByHostingCountry));
        Keyed(sb, "by-country", "hosting country", f.ByHostingCountry);
        sb.Append("<h3>By hoster</h3>\n");
        Keyed(sb, "by-hoster", "hoster", f.ByHoster);

        sb.Append("<h2>Notices and removal</h2>\n");
        Table(sb, "notices", ["figure", "count"],
        [
            ["takedown requests", Number(f.TakedownRequests)], ["first notices", Number(f.FirstNotices)], ["reminders", Number(f.Reminders)],
            ["escalations to the authority", Number(f.Escalations)], ["withdrawals", Number(f.Withdrawals)],
            ["removed within the notice's deadline", Number(f.RemovedWithinDeadline)],
        ]);
        Table(sb, "removal", ["time to removal", "removals", "median", "p90", "within 24 h", "within 72 h"],
        [
            ["from the notice", Number(f.FromNotice.Removals), Hours(f.FromNotice.MedianHours), Hours(f.FromNotice.P90Hours), Percent(f.FromNotice.ShareWithin24h), Percent(f.FromNotice.ShareWithin72h)],
            ["from the report", Number(f.FromReport.Removals), Hours(f.FromReport.MedianHours), Hours(f.FromReport.P90Hours), Percent(f.FromReport.ShareWithin24h), Percent(f.FromReport.ShareWithin72h)],
        ]);
        Chart(sb, "removal-times", "Time to removal from the notice", TransparencyCharts.Bars("Time to removal from the notice", "removals", f.RemovalBuckets, "#2f855a"));
        if (f.SlowestRemovals is { Count: > 0 } slowest)
        {
            sb.Append("<h3>Slowest removals</h3>\n");
            Table(sb, "slowest", ["notice", "URL", "hoster", "country", "from notice", "from report"],
                [.. slowest.Select(s => new[] { s.NoticeId, s.CaseKey, s.Hoster ?? "–", s.Country ?? "–", Hours(s.HoursFromNotice), Hours(s.HoursFromReport) })], textColumns: 4);
        }

        sb.Append("<h2>Partner hotlines and police</h2>\n");
        Table(sb, "partners", ["figure", "reports"],
            [["forwarded to partner hotlines", Number(f.ForwardsOut)], ["received from partner hotlines", Number(f.ForwardsIn)], ["referred to the police", Number(f.PoliceReferrals)]]);
        sb.Append("<h3>Forwarded to</h3>\n");
        Keyed(sb, "forwards-out", "partner", f.ForwardsOutByPartner);
        sb.Append("<h3>Received from</h3>\n");
        Keyed(sb, "forwards-in", "partner", f.ForwardsInByPartner);

        sb.Append(CultureInfo.InvariantCulture, $"""
            <footer>Computed by <code>pipeline report</code> from the pipeline's topics; each event counts in the period of its own time,
            replays once. What each figure means: docs/operations.md, "Transparency report". Synthetic data only.</footer>
            </main></body></html>
            """).Append('\n');
        return sb.ToString();
    }

    private static void Tile(StringBuilder sb, string id, string value, string label) =>
        sb.Append(CultureInfo.InvariantCulture, $"<div class=\"tile\" id=\"tile-{id}\"><div class=\"v\">{E(value)}</div><div class=\"l\">{E(label)}</div></div>\n");

    private static void Chart(StringBuilder sb, string id, string alt, byte[] png) =>
        sb.Append(CultureInfo.InvariantCulture,
            $"<figure><img id=\"chart-{id}\" alt=\"{E(alt)}\" width=\"{TransparencyCharts.Width}\" height=\"{TransparencyCharts.Height}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\"></figure>\n");

    private static void Keyed(StringBuilder sb, string id, string keyName, IReadOnlyList<KeyedCount> counts)
    {
        if (counts.Count == 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<p class=\"note\" id=\"{id}\">None in the period.</p>\n");
            return;
        }
        Table(sb, id, [keyName, "reports", "share"], [.. counts.Select(c => new[] { c.Key, Number(c.Count), Percent(c.Share) })]);
    }

    /// <summary>A table whose first <paramref name="textColumns"/> columns are text and the others numbers.</summary>
    private static void Table(StringBuilder sb, string id, string[] header, IReadOnlyList<string[]> rows, int textColumns = 1)
    {
        sb.Append(CultureInfo.InvariantCulture, $"<table id=\"{id}\"><thead><tr>");
        for (var i = 0; i < header.Length; i++) sb.Append(i < textColumns ? "<th>" : "<th class=\"n\">").Append(E(header[i])).Append("</th>");
        sb.Append("</tr></thead><tbody>\n");
        foreach (var row in rows)
        {
            sb.Append("<tr>");
            for (var i = 0; i < row.Length; i++) sb.Append(i < textColumns ? "<td>" : "<td class=\"n\">").Append(E(row[i])).Append("</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</tbody></table>\n");
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private static string Number(int n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Percent(double? share) => share is { } s ? (s * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %" : "–";

    /// <summary>"3.5 h", "2.1 d" from two days on (as rounded: 47.96 h is "2.0 d", not "48.0 h").</summary>
    public static string Hours(double? hours) => hours switch
    {
        null => "–",
        >= 47.95 => (hours.Value / 24).ToString("0.0", CultureInfo.InvariantCulture) + " d",
        _ => hours.Value.ToString("0.0", CultureInfo.InvariantCulture) + " h",
    };

    private static double? Share(int part, int whole) => whole == 0 ? null : (double)part / whole;
}
