using Confluent.Kafka;

namespace Pipeline.Platform.Tests;

/// <summary>A stage whose committed position the broker no longer holds (retention; the embedded cluster evicts past about
/// 5 MiB per partition) starts again from the earliest record it still has: what lay in between is skipped unread. That
/// must not pass silently: it is counted (<c>pipeline_consumer_offset_resets_total</c>, alert PipelineConsumerOffsetReset)
/// and logged as a warning.</summary>
public sealed class OffsetResetTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task A_stage_whose_committed_position_was_evicted_counts_the_reset_and_says_what_it_skipped()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("offset-reset");
        var processor = new AcceptingProcessor();
        await h.PublishAsync(Harness.Submitted("before", 5), partition: 0);
        var app = h.BuildHost(stage, processor);
        await app.StartAsync();
        await Harness.Eventually(() => processor.Processed == 5, Timeout, () => $"{processor.Processed} of 5 processed");
        await app.StopAsync(); // commits its position: offset 5 of partition 0
        var committed = h.Committed(stage, Topics.ReportsSubmitted)[0];
        Assert.Equal(5, committed);

        // While the stage is down, about 8 MiB more arrive in that partition: the cluster evicts its oldest records,
        // the committed position among them.
        var filler = new byte[900 * 1024];
        Random.Shared.NextBytes(filler);
        for (var i = 0; i < 9; i++) await h.PublishRawAsync(Topics.ReportsSubmitted, null, filler, partition: 0);
        using (var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = h.Kafka.BootstrapServers, GroupId = "probe-" + Guid.NewGuid() }).Build())
        {
            var low = probe.QueryWatermarkOffsets(new TopicPartition(Topics.ReportsSubmitted, 0), TimeSpan.FromSeconds(10)).Low.Value;
            Assert.True(low > committed, $"the cluster kept offset {committed} (low watermark {low}): nothing to reset");
        }

        var again = h.BuildHost(stage, new AcceptingProcessor());
        await again.StartAsync();
        await Harness.Eventually(() => KafkaClients.OffsetResets.WithLabels(stage, Topics.ReportsSubmitted).Value >= 1, Timeout,
            () => "no offset reset counted");
        await again.StopAsync();
    }
}
