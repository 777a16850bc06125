using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Intake;
using Pipeline.Platform;

namespace Pipeline.Services.Tests;

/// <summary>Intake's case grouping when a content-hash redirect reaches a case that closed in the meantime: the report
/// comes back to its own URL and opens a case there (a regression: the alias sent it back to the closed case, which
/// returned it, and so on for ever, so the report never reached an outcome).</summary>
public class GroupingReturnTests
{
    private const string CaseUrl = "http://gallery.example/a/img.jpg";
    private const string CopyUrl = "http://gallery.example/mirror/copy.jpg";
    private const int CasePartition = 0;
    private const int CopyPartition = 1;

    [Fact]
    public async Task A_redirect_that_meets_a_closed_case_comes_back_and_opens_its_own_case_once()
    {
        var processor = new GroupingProcessor(
            Microsoft.Extensions.Options.Options.Create(new KafkaOptions { BootstrapServers = "127.0.0.1:9", SchemaRegistryUrl = "http://127.0.0.1:9" }),
            Microsoft.Extensions.Options.Options.Create(new IntakeOptions()),
            Microsoft.Extensions.Options.Options.Create(new RetentionOptions()),
            new AvroSerdes(new Confluent.SchemaRegistry.CachedSchemaRegistryClient(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = "http://127.0.0.1:9" }), false),
            new FakeTimeProvider(new DateTimeOffset(Fixtures.T0)), NullLogger<GroupingProcessor>.Instance);
        var sha = Fixtures.Hashes(md5: null, sha1: null, pdq: null);

        // The case opens; a report of a copy at another URL on the same host matches its content and is redirected.
        var opened = await Process(processor, CasePartition, Report("r-1", CaseUrl, CaseUrl, sha));
        Assert.Single(opened.Sent, o => o.Topic == Topics.ReportsAccepted);
        var redirected = await Process(processor, CopyPartition, Report("r-2", CopyUrl, CopyUrl, sha));
        var hop = Assert.Single(redirected.Sent, o => o.Topic == Topics.IntakeGrouping);
        Assert.Equal(CaseUrl, hop.Key);
        Assert.Single(redirected.Sent, o => o.Topic == Topics.IntakeCases && ((CaseState)o.Value!).status == CaseStatus.ALIAS);

        // The case closes (a confirmed removal) before the redirected report reaches it: the report is sent back.
        await Process(processor, CasePartition, new CaseCommand
        {
            eventId = "close-1", caseKey = CaseUrl, kind = CaseCommandKind.CLOSE, submittedEventId = "close-1", report = null, urlKey = CaseUrl,
            host = "gallery.example", userinfoRemoved = false, matchedBy = null, allowRedirect = false, noticeId = "notice-1",
            removedAt = Fixtures.T0.AddMinutes(1), issuedAt = Fixtures.T0.AddMinutes(1),
        });
        var returned = await Process(processor, CasePartition, (CaseCommand)hop.Value!);
        var back = Assert.Single(returned.Sent, o => o.Topic == Topics.IntakeGrouping);
        Assert.Equal(CopyUrl, back.Key);
        Assert.False(((CaseCommand)back.Value!).allowRedirect);

        // Back at its own URL, past its alias: it opens a case there (a re-upload of the removed content), and nothing
        // goes round again.
        var home = await Process(processor, CopyPartition, (CaseCommand)back.Value!);
        Assert.DoesNotContain(home.Sent, o => o.Topic == Topics.IntakeGrouping);
        var accepted = (ReportAccepted)Assert.Single(home.Sent, o => o.Topic == Topics.ReportsAccepted).Value!;
        Assert.Equal(("r-2", CopyUrl, true), (accepted.report.reportId, accepted.caseKey, accepted.caseInfo.reupload));

        // The same returned command delivered again (a replay) gives the same answer, with the same event id.
        var replay = await Process(processor, CopyPartition, (CaseCommand)back.Value!);
        Assert.Equal(accepted.eventId, ((ReportAccepted)Assert.Single(replay.Sent, o => o.Topic == Topics.ReportsAccepted).Value!).eventId);
        Assert.DoesNotContain(replay.Sent, o => o.Topic == Topics.IntakeGrouping);
    }

    private static CaseCommand Report(string reportId, string url, string caseKey, ContentHashes hashes)
    {
        var report = Fixtures.Report(reportId);
        report.url = url;
        report.hashes = hashes;
        return new CaseCommand
        {
            eventId = "cmd-" + reportId, caseKey = caseKey, kind = CaseCommandKind.REPORT, submittedEventId = "submitted-" + reportId, report = report,
            urlKey = url, host = "gallery.example", userinfoRemoved = false, matchedBy = null, allowRedirect = true,
            noticeId = null, removedAt = null, issuedAt = Fixtures.T0,
        };
    }

    private static async Task<RoutingProcessorTests.RecordingOutput> Process(GroupingProcessor processor, int partition, CaseCommand command)
    {
        var output = new RoutingProcessorTests.RecordingOutput();
        await processor.ProcessAsync(new Incoming<CaseCommand>(command.caseKey, command, Topics.IntakeGrouping, partition, 1, Fixtures.T0, null), output, CancellationToken.None);
        return output;
    }
}
