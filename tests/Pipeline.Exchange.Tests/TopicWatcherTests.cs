using Confluent.Kafka;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.TestSupport;

namespace Pipeline.Exchange.Tests;

/// <summary>
/// The cause of the intermittent "test host process crashed" in this project: when a partner's brokers went down
/// (the outage test), a <see cref="TopicWatcher"/> on that cluster was told by its consumer that the group's committed
/// offsets could not be fetched. That non-fatal ConsumeException escaped the watcher's background thread, and an
/// unhandled exception on any thread ends the test host (SIGABRT, exit code 134), with no test failing by name.
/// Reproduced deterministically here by making the broker fail the watcher's OffsetFetch requests.
/// </summary>
public sealed class TopicWatcherTests
{
    private const short OffsetFetch = 9;

    [Fact]
    public async Task A_watcher_polls_on_through_a_consumer_error_instead_of_ending_the_test_host()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync(brokers: 3);
        using var clients = PipelineClients.For(runtime, "watcher-test");
        runtime.Cluster.PushRequestErrors(OffsetFetch, ErrorCode.NotCoordinatorForGroup, ErrorCode.NotCoordinatorForGroup, ErrorCode.NotCoordinatorForGroup);
        using var watcher = new TopicWatcher(runtime.BootstrapServers, runtime.SchemaRegistryUrl, Topics.ReportsSubmitted);
        await watcher.Assigned.WaitAsync(TimeSpan.FromSeconds(120));

        var report = Hotline.Report("r-watched", "https://site.nl-host.test/w.jpg", Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        await clients.Publisher.PublishAsync(Topics.ReportsSubmitted, report.report.reportId, report);

        await watcher.WaitUntilAsync(() => watcher.Events<ReportSubmitted>(Topics.ReportsSubmitted).Count == 1, TimeSpan.FromSeconds(120),
            () => $"consumer errors {watcher.ConsumerErrors}");
        Assert.True(watcher.ConsumerErrors > 0, "the injected OffsetFetch errors never reached the watcher's consumer");
        Assert.Null(watcher.Failure);
    }
}
