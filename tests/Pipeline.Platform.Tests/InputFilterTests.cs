using System.Collections.Concurrent;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

/// <summary>An input consumed with a filter (<c>Consumes(topic, wanted, peek)</c>, issue 11): the test sees the record
/// decoded without the peek's fields, the processor gets only the wanted records and gets them whole, and the records
/// passed over still move the committed offsets on.</summary>
public sealed class InputFilterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Only_wanted_records_reach_the_processor_whole_and_every_offset_is_committed()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("filtered");
        var inputs = Harness.Submitted("filter", 100).ToList();
        await h.PublishAsync(inputs);
        var wantedIds = inputs.Where((_, i) => i % 4 == 0).Select(i => i.report.reportId).ToHashSet();

        var peeked = new ConcurrentBag<(string ReportId, string? Url)>();
        var processor = new AcceptingProcessor();
        var app = h.BuildHost(stage, processor, s => s.Consumes<ReportSubmitted>(Topics.ReportsSubmitted, r =>
        {
            peeked.Add((r.report.reportId, r.report.url));
            return wantedIds.Contains(r.report.reportId);
        }, AvroProjection.Skip("Report", "url", "hashes")));
        await app.StartAsync();

        var outputs = await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadAtLeastAsync(wantedIds.Count, Timeout, settle: TimeSpan.FromMilliseconds(500));
        await Harness.Eventually(() => h.Committed(stage, Topics.ReportsSubmitted).Values.Sum() == 100, Timeout,
            () => $"{h.Committed(stage, Topics.ReportsSubmitted).Values.Sum()} of 100 offsets committed");

        Assert.Equal(100, peeked.Select(p => p.ReportId).Distinct().Count()); // every record was looked at…
        Assert.All(peeked, p => Assert.Null(p.Url)); // …without its URL
        Assert.Equal(wantedIds.Order(), processor.Attempts.Keys.Order()); // only the wanted ones were processed
        // Processed whole: the output is keyed by the URL the peek did not decode.
        Assert.Equal(inputs.Where(i => wantedIds.Contains(i.report.reportId)).Select(i => i.report.url).Order(), outputs.Select(o => o.Key).Order());
        Assert.Equal(h.EndOffsets(Topics.ReportsSubmitted), h.Committed(stage, Topics.ReportsSubmitted));
    }
}
