using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

/// <summary>Stages of one process share one producer (issue 11), and each still waits only for its own outputs.</summary>
public sealed class SharedProducerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Two_stages_in_one_process_lease_one_producer_and_one_stage_stops_while_the_other_goes_on_producing()
    {
        await using var h = await Harness.StartAsync();
        var (first, second) = (h.NewStage("shared-a"), h.NewStage("shared-b"));
        var inputs = Harness.Submitted("shared", 200).ToList();
        await h.PublishAsync(inputs);

        var a = h.BuildHost(first, new AcceptingProcessor());
        var b = h.BuildHost(second, new AcceptingProcessor());
        await a.StartAsync();
        await b.StartAsync();

        // Both stages read every input (two groups) and write its output: 2 × 200 records, by one producer.
        var reader = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        await reader.ReadAtLeastAsync(400, Timeout, settle: TimeSpan.FromMilliseconds(300));
        Assert.Equal([2], SharedProducer.LeasesFor(h.Kafka.BootstrapServers));
        var byStage = reader.Records.GroupBy(r => Harness.Header(r.Headers, "pipeline.stage")).ToDictionary(g => g.Key, g => g.Select(r => r.Value.eventId).Distinct().Count());
        Assert.Equal(200, byStage[first]);
        Assert.Equal(200, byStage[second]);

        // The first stops gracefully: everything it consumed is committed, and the producer stays for the second.
        await a.StopAsync();
        Assert.Equal(h.EndOffsets(Topics.ReportsSubmitted), h.Committed(first, Topics.ReportsSubmitted));
        Assert.Equal([1], SharedProducer.LeasesFor(h.Kafka.BootstrapServers));

        await h.PublishAsync(Harness.Submitted("after-stop", 50));
        await reader.ReadAtLeastAsync(450, Timeout, settle: TimeSpan.FromMilliseconds(300));
        Assert.Equal(250, reader.Records.Where(r => Harness.Header(r.Headers, "pipeline.stage") == second).Select(r => r.Value.eventId).Distinct().Count());

        // The last lease destroys the producer.
        await b.StopAsync();
        Assert.Equal(h.EndOffsets(Topics.ReportsSubmitted), h.Committed(second, Topics.ReportsSubmitted));
        Assert.Empty(SharedProducer.LeasesFor(h.Kafka.BootstrapServers));
    }
}
