using System.Text.Json;
using Pipeline.Inspection.Transparency;

namespace Pipeline.Operations.Tests;

/// <summary>The transparency report's figures from the small known history of <see cref="TransparencyTestHistory"/>,
/// each computed by hand there; then the same figures as JSON, CSV and HTML, and what the anonymous option leaves out.</summary>
public sealed class TransparencyFiguresTests
{
    private static readonly TransparencyTestHistory History = new("unit");

    internal static TransparencyFiguresResult Figures(bool anonymous = false) =>
        TransparencyFigures.Compute(TransparencyHistory.Of([.. History.Events().Select(e => (object)e.Value)]), TransparencyTestHistory.From, TransparencyTestHistory.To, anonymous);

    [Fact]
    public void The_figures_equal_those_computed_by_hand()
    {
        var f = Figures();

        // 9 reports submitted in Q1 (r10 in December; r1 replayed) and bytes that never were a report.
        Assert.Equal(10, f.ReportsReceived);
        Assert.Equal(3, f.ReportsRejected);
        Assert.Equal([new("MISSING_FIELD", 1, 0.3333), new("UNREADABLE", 1, 0.3333), new("URL_UNPARSABLE", 1, 0.3333)], f.RejectedByReason);
        Assert.Equal((7, 6), (f.ReportsAccepted, f.CasesOpened)); // r6 joined an open case

        // Last verdict per report: r4's analyst verdict NEW replaces its NEEDS_ASSESSMENT.
        Assert.Equal((7, 5, 0.7143), (f.ReportsClassified, f.AssessedIllegal, f.IllegalShare));
        Assert.Equal((3, 2, 1, 1), (f.Known, f.New, f.NotIllegal, f.AwaitingAssessment));
        Assert.Equal(1, f.AnalystAssessments);
        Assert.Equal([new("NL", 4, 0.8), new("DE", 1, 0.2)], f.ByHostingCountry);
        Assert.Equal([new("NL Host", 3, 0.6), new("DE Host", 1, 0.2), new("NL Slow", 1, 0.2)], f.ByHoster);

        Assert.Equal((4, 4, 3, 1, 0), (f.TakedownRequests, f.FirstNotices, f.Reminders, f.Escalations, f.Withdrawals));

        // From the notice 2, 10, 30, 80 h; from the report 3, 12, 32, 90 h. Nearest rank: median the 2nd, p90 the 4th.
        Assert.Equal(new RemovalTimes(4, 10, 80, 0.5, 0.75), f.FromNotice);
        Assert.Equal(new RemovalTimes(4, 12, 90, 0.5, 0.75), f.FromReport);
        Assert.Equal(2, f.RemovedWithinDeadline);
        Assert.Equal([1, 1, 1, 0, 1, 0], f.RemovalBuckets.Select(b => b.Count));
        Assert.Equal(["≤ 6 h", "6–24 h", "24–48 h", "48–72 h", "3–7 d", "> 7 d"], f.RemovalBuckets.Select(b => b.Key));

        Assert.Equal((1, 1, 1), (f.ForwardsIn, f.ForwardsOut, f.PoliceReferrals));
        Assert.Equal([new("de-hotline", 1, 1.0)], f.ForwardsInByPartner);
        Assert.Equal([new("de-hotline", 1, 1.0)], f.ForwardsOutByPartner);
        Assert.Equal([new("2026-01", 5, 0.5), new("2026-02", 4, 0.4), new("2026-03", 1, 0.1)], f.MonthlyReceived);

        Assert.Equal(["notice-r4", "notice-r2", "notice-r6", "notice-r1"], f.SlowestRemovals!.Select(s => s.NoticeId));
        Assert.Equal(new SlowRemoval("notice-r4", History.Url("r4"), "NL Slow", "NL", 80, 90), f.SlowestRemovals![0]);
    }

    [Fact]
    public void The_audit_log_alone_gives_the_same_figures_so_they_outlive_the_topics_retention()
    {
        // Each event of the known history as the audit stage records it (anonymous: case tokens, no URL), and back.
        var mapper = new Pipeline.Audit.AuditMapper(new Pipeline.Audit.CaseTokens(new byte[32]));
        var audit = History.Events().Select(e => mapper.Map(e.Value, e.Topic, stage: null)).OfType<Pipeline.Contracts.AuditRecord>().ToList();
        Assert.DoesNotContain(audit, a => a.details.Values.Any(v => v.Contains("://", StringComparison.Ordinal)));
        var topics = Figures();
        var fromAudit = TransparencyFigures.Compute(AuditHistory.Of(audit), TransparencyTestHistory.From, TransparencyTestHistory.To, anonymous: true);

        // Bytes that never were a report are dead-lettered, not decided: the one thing the audit log does not count.
        Assert.Equal(topics.ReportsReceived - 1, fromAudit.ReportsReceived);
        Assert.Equal(topics.RejectedByReason.Where(r => r.Key != TransparencyFigures.Unreadable).Select(r => (r.Key, r.Count)),
            fromAudit.RejectedByReason.Select(r => (r.Key, r.Count)));
        Assert.Equal((topics.ReportsAccepted, topics.CasesOpened, topics.ReportsClassified, topics.AssessedIllegal, topics.IllegalShare),
            (fromAudit.ReportsAccepted, fromAudit.CasesOpened, fromAudit.ReportsClassified, fromAudit.AssessedIllegal, fromAudit.IllegalShare));
        Assert.Equal((topics.Known, topics.New, topics.NotIllegal, topics.AwaitingAssessment, topics.AnalystAssessments),
            (fromAudit.Known, fromAudit.New, fromAudit.NotIllegal, fromAudit.AwaitingAssessment, fromAudit.AnalystAssessments));
        Assert.Equal(topics.ByHostingCountry, fromAudit.ByHostingCountry);
        Assert.Equal(topics.ByHoster, fromAudit.ByHoster);
        Assert.Equal((topics.TakedownRequests, topics.FirstNotices, topics.Reminders, topics.Escalations),
            (fromAudit.TakedownRequests, fromAudit.FirstNotices, fromAudit.Reminders, fromAudit.Escalations));
        Assert.Equal((topics.FromNotice, topics.FromReport, topics.RemovedWithinDeadline), (fromAudit.FromNotice, fromAudit.FromReport, fromAudit.RemovedWithinDeadline));
        Assert.Equal(topics.RemovalBuckets, fromAudit.RemovalBuckets);
        Assert.Equal((topics.ForwardsIn, topics.ForwardsOut, topics.PoliceReferrals), (fromAudit.ForwardsIn, fromAudit.ForwardsOut, fromAudit.PoliceReferrals));
        Assert.Equal(topics.ForwardsInByPartner, fromAudit.ForwardsInByPartner);
        Assert.Equal(topics.ForwardsOutByPartner, fromAudit.ForwardsOutByPartner);
    }

    [Fact]
    public void A_shorter_period_counts_only_the_events_of_its_own_time()
    {
        var january = TransparencyFigures.Compute(TransparencyHistory.Of([.. History.Events().Select(e => (object)e.Value)]),
            TransparencyTestHistory.From, new DateTime(2026, 2, 1, 0, 0, 0, DateTimeKind.Utc), anonymous: false);

        Assert.Equal(5, january.ReportsReceived);
        Assert.Equal(0, january.ReportsRejected);
        Assert.Equal(3, january.FirstNotices);
        // r4 was removed on 2026-01-14 (80 h after its notice on the 10th); r6 in February.
        Assert.Equal(new RemovalTimes(3, 30, 80, Math.Round(1 / 3.0, 4), Math.Round(2 / 3.0, 4)), january.FromNotice);
        Assert.Equal([new("2026-01", 5, 1.0)], january.MonthlyReceived);
        Assert.Throws<ArgumentException>(() => TransparencyFigures.Compute(new TransparencyHistory(), TransparencyTestHistory.To, TransparencyTestHistory.From, false));
    }

    [Fact]
    public void An_empty_history_gives_zeros_and_no_shares()
    {
        var f = TransparencyFigures.Compute(new TransparencyHistory(), TransparencyTestHistory.From, TransparencyTestHistory.To, anonymous: false);

        Assert.Equal((0, 0, null), (f.ReportsReceived, f.AssessedIllegal, f.IllegalShare));
        Assert.Equal(new RemovalTimes(0, null, null, null, null), f.FromNotice);
        Assert.Equal(3, f.MonthlyReceived.Count);
        Assert.Contains("None in the period.", TransparencyReportFormats.Html(f), StringComparison.Ordinal);
    }

    [Fact]
    public void Json_carries_every_figure_and_the_anonymous_report_no_url_host_ip_or_hash()
    {
        using (var doc = JsonDocument.Parse(TransparencyReportFormats.Json(Figures())))
        {
            var root = doc.RootElement;
            Assert.Equal(10, root.GetProperty("reportsReceived").GetInt32());
            Assert.Equal(0.7143, root.GetProperty("illegalShare").GetDouble());
            Assert.Equal(10, root.GetProperty("fromNotice").GetProperty("medianHours").GetDouble());
            Assert.Equal("NL", root.GetProperty("byHostingCountry")[0].GetProperty("key").GetString());
            Assert.Equal(4, root.GetProperty("slowestRemovals").GetArrayLength());
        }

        var anonymous = Figures(anonymous: true);
        foreach (var text in new[] { TransparencyReportFormats.Json(anonymous), TransparencyReportFormats.Csv(anonymous), TransparencyReportFormats.Html(anonymous) })
        {
            Assert.DoesNotContain("http", text.Replace("http-equiv", "", StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.DoesNotContain(".test", text, StringComparison.Ordinal);
            Assert.DoesNotContain("192.0.2.", text, StringComparison.Ordinal);
            Assert.DoesNotContain("198.51.100.", text, StringComparison.Ordinal);
            Assert.DoesNotContain(TraceHistory.ReporterEmail, text, StringComparison.Ordinal);
            Assert.DoesNotContain(TraceHistory.ReporterName, text, StringComparison.Ordinal);
            Assert.DoesNotContain("slowest", text, StringComparison.OrdinalIgnoreCase);
        }
        using var anonymousDoc = JsonDocument.Parse(TransparencyReportFormats.Json(anonymous));
        Assert.False(anonymousDoc.RootElement.TryGetProperty("slowestRemovals", out _));
        Assert.True(anonymousDoc.RootElement.GetProperty("anonymous").GetBoolean());
    }

    [Fact]
    public void Csv_is_one_long_table_of_section_key_value_share()
    {
        var lines = TransparencyReportFormats.Csv(Figures()).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal("section,key,value,share", lines[0]);
        Assert.All(lines, l => Assert.Equal(3, l.Count(c => c == ',')));
        Assert.Contains("reports,received,10,", lines);
        Assert.Contains("classification,assessed_illegal,5,0.7143", lines);
        Assert.Contains("hosting_country,NL,4,0.8", lines);
        Assert.Contains("removal_from_notice,median_hours,10,", lines);
        Assert.Contains("removal_from_notice,within_24h,,0.5", lines);
        Assert.Contains("notices,reminders,3,", lines);
        Assert.Contains("forwards_out_by_partner,de-hotline,1,1", lines);
        Assert.Contains("monthly_received,2026-02,4,0.4", lines);
    }

    [Fact]
    public void Html_is_one_page_with_the_figures_and_three_png_charts_and_nothing_fetched()
    {
        var html = TransparencyReportFormats.Html(Figures());

        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("Reports received 2026-01-01 to 2026-03-31 (UTC)", html, StringComparison.Ordinal);
        Assert.Contains("<div class=\"v\">10</div><div class=\"l\">reports received</div>", html, StringComparison.Ordinal);
        Assert.Contains("<tr><td>NL</td><td class=\"n\">4</td><td class=\"n\">80.0 %</td></tr>", html, StringComparison.Ordinal);
        var images = System.Text.RegularExpressions.Regex.Matches(html, "<img id=\"chart-([a-z-]+)\"[^>]* src=\"data:image/png;base64,([^\"]+)\"");
        Assert.Equal(["monthly", "countries", "removal-times"], images.Select(m => m.Groups[1].Value));
        foreach (var png in images.Select(m => Convert.FromBase64String(m.Groups[2].Value)))
        {
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
            Assert.True(png.Length > 5000, "a chart of some substance, not an empty image: " + png.Length + " bytes");
        }
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
        Assert.DoesNotContain(" src=\"http", html, StringComparison.Ordinal);
        Assert.DoesNotContain(TraceHistory.ReporterEmail, html, StringComparison.Ordinal);
        Assert.Contains(History.Url("r4"), html, StringComparison.Ordinal); // the slowest removals, in the non-anonymous report
    }
}
