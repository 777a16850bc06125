using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Intake.Tests;

/// <summary>Each rejection reason end to end: ReportSubmitted on Kafka → intake → ReportRejected with the code and the exact bytes.</summary>
public class RejectionTests
{
    [Fact]
    public async Task Every_reason_arrives_on_reports_rejected_with_the_original_payload()
    {
        await using var h = await IntakeHarness.StartAsync();
        await h.StartIntakeAsync(new Dictionary<string, string?> { ["Intake:MaxUrlLength"] = "256" });
        var cases = new Dictionary<string, (string Code, ReportSubmitted Input)>();
        void Add(string id, string code, Action<ReportSubmitted> spoil)
        {
            var s = IntakeHarness.Submitted("rej-" + id, $"http://files.example/{id}.jpg");
            spoil(s);
            cases["rej-" + id] = (code, s);
        }
        Add("event-id", "EVENT_ID_MISSING", s => s.eventId = "");
        Add("report-id", "REPORT_ID_MISSING", s => s.report.reportId = " ");
        Add("hotline-missing", "SOURCE_HOTLINE_MISSING", s => s.report.sourceHotline = "");
        Add("hotline-unknown", "SOURCE_HOTLINE_UNKNOWN", s => s.report.sourceHotline = "xx-hotline");
        Add("reference-long", "FIELD_TOO_LONG", s => s.report.sourceReference = new string('r', 129));
        Add("contact-long", "FIELD_TOO_LONG", s => s.report.reporterContact = new ReporterContact { name = new string('n', 300), email = null, phone = null });
        Add("url-missing", "URL_MISSING", s => s.report.url = "   ");
        Add("url-long", "URL_TOO_LONG", s => s.report.url = "http://files.example/" + new string('a', 300));
        Add("future", "RECEIVED_IN_FUTURE", s => s.report.receivedAt = DateTime.UtcNow.AddHours(1));
        Add("md5", "HASH_MALFORMED", s => s.report.hashes.md5 = IntakeHarness.RandomHex(15));
        Add("sha1", "HASH_MALFORMED", s => s.report.hashes.sha1 = IntakeHarness.RandomHex(20)[..39] + "g");
        Add("pdq", "HASH_MALFORMED", s => s.report.hashes.pdq = IntakeHarness.RandomHex(31));
        Add("unparsable", "URL_UNPARSABLE", s => s.report.url = "files.example/a.jpg");
        Add("scheme", "URL_SCHEME_NOT_ALLOWED", s => s.report.url = "ftp://files.example/a.jpg");
        Add("no-host", "URL_UNPARSABLE", s => s.report.url = "http:///a.jpg");
        var valid = IntakeHarness.Submitted("rej-valid", "http://files.example/valid.jpg");

        var rejected = h.Reader<ReportRejected>(Topics.ReportsRejected);
        var accepted = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        var raw = new Dictionary<string, byte[]>();
        foreach (var (id, c) in cases)
        {
            var bytes = await h.Serdes.SerializeAsync(c.Input, Topics.ReportsSubmitted);
            raw[id] = bytes;
            await h.Publisher.PublishRawAsync(Topics.ReportsSubmitted, System.Text.Encoding.UTF8.GetBytes(id), bytes);
        }
        await h.SubmitAsync(valid);

        await rejected.ReadUntilAsync(r => r.Count >= cases.Count, TimeSpan.FromSeconds(30), settle: TimeSpan.FromMilliseconds(500));
        await accepted.ReadUntilAsync(r => r.Count >= 1, TimeSpan.FromSeconds(120));
        Assert.Equal(cases.Count, rejected.Records.Count);
        foreach (var (id, c) in cases)
        {
            var r = Assert.Single(rejected.Records, x => x.Value.originalPayload.AsSpan().SequenceEqual(raw[id])).Value;
            Assert.True(c.Code == r.reasonCode, $"{id}: expected {c.Code}, got {r.reasonCode} ({r.message})");
            Assert.False(string.IsNullOrWhiteSpace(r.message));
            Assert.Equal(Topics.ReportsSubmitted, r.originTopic);
        }
        Assert.Equal(valid.report.reportId, Assert.Single(accepted.Records).Value.report.reportId);
    }
}
