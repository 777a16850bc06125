using Pipeline.Cli.Demo;
using Pipeline.Platform.Embedded;

namespace Pipeline.Operations.Tests;

/// <summary>The embedded cluster's raw rates, the denominator of `bench pipeline`'s hop efficiency, are steady-state
/// rates: the consumer's group join is reported, not counted in its rate.</summary>
public sealed class RawKafkaBenchTests
{
    [Fact]
    public void The_raw_rates_leave_out_the_group_join_and_every_record_is_read()
    {
        using var cluster = EmbeddedKafkaCluster.Start(brokers: 3);
        var result = RawKafkaBench.Run(cluster, messages: 20_000);

        Assert.Equal(20_000, result.Messages);
        Assert.True(result.ProduceRate > 0 && result.ConsumeRate > 0, $"rates {result.ProduceRate} / {result.ConsumeRate}");
        // The join (subscription → first record) takes a group rebalance on the embedded cluster: tens of milliseconds at least.
        Assert.True(result.JoinMilliseconds > 0, $"join {result.JoinMilliseconds} ms");
        // Timed from the first record, the rate can only be higher than timed from the subscription.
        Assert.True(result.ConsumeRate > result.ConsumeRateWithJoin, $"steady {result.ConsumeRate:N0} against {result.ConsumeRateWithJoin:N0} with the join");
        Assert.True(result.ProduceCpuMicros > 0 && result.ConsumeCpuMicros > 0, $"CPU per record {result.ProduceCpuMicros} / {result.ConsumeCpuMicros} µs");
    }

    [Fact]
    public async Task A_measurement_larger_than_the_embedded_cluster_keeps_is_refused_by_the_bench()
    {
        var settings = new Pipeline.Cli.Commands.BenchPipelineCommand.Settings(0, 20, 5, 10, 500, 15_000, 3600, RawKafkaBench.MaxMessages + 1, 1);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Pipeline.Cli.Commands.BenchPipelineCommand.RunAsync(settings, CancellationToken.None));
        Assert.Contains("--raw-bench 1000–150000", e.Message);
    }
}

/// <summary>`bench hop`: a pass-through stage through the whole platform path, every record written on.</summary>
public sealed class BenchHopTests
{
    [Fact]
    public async Task Every_record_passes_through_the_stage_and_is_acknowledged()
    {
        var exit = await Pipeline.Cli.Commands.BenchHopCommand.RunAsync(new(Records: 2_000, Brokers: 1, RawBenchMessages: 1_000), CancellationToken.None);

        Assert.Equal(0, exit);
        Assert.Equal(2_000, Pipeline.Platform.ProcessorMetrics.Produced.WithLabels("bench-hop", Pipeline.Cli.Commands.BenchHopCommand.Output).Value);
        Assert.Equal(2_000, Pipeline.Platform.ProcessorMetrics.Consumed.WithLabels("bench-hop", Pipeline.Cli.Commands.BenchHopCommand.Input).Value);
    }

    [Theory]
    [InlineData(999, 1, 100_000)]
    [InlineData(240_001, 1, 100_000)]
    [InlineData(2_000, 0, 100_000)]
    [InlineData(2_000, 1, 150_001)]
    public async Task Settings_outside_their_range_are_refused_with_the_fix(int records, int brokers, int raw)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Pipeline.Cli.Commands.BenchHopCommand.RunAsync(new(records, brokers, raw), CancellationToken.None));
        Assert.StartsWith("Fix: --records 1000–240000", e.Message);
    }
}

/// <summary>`bench restore`: the platform's store restores a changelog of several records per key to one entry per key.</summary>
public sealed class BenchRestoreTests
{
    [Fact]
    public async Task A_changelog_with_rewritten_keys_restores_to_one_entry_per_key()
    {
        // The command itself refuses a restore that holds another number of entries than keys (an exception, not exit 0).
        var exit = await Pipeline.Cli.Commands.BenchRestoreCommand.RunAsync(new(Records: 3_000, Keys: 700, Partitions: 4, Rounds: 2), CancellationToken.None);

        Assert.Equal(0, exit);
    }

    [Fact]
    public async Task A_changelog_written_in_small_batches_restores_to_one_entry_per_key_too()
    {
        var exit = await Pipeline.Cli.Commands.BenchRestoreCommand.RunAsync(new(Records: 3_000, Keys: 700, Partitions: 4, Rounds: 1, Batch: 2), CancellationToken.None);

        Assert.Equal(0, exit);
    }

    [Fact]
    public async Task A_batch_size_outside_its_range_is_refused_with_the_fix()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Pipeline.Cli.Commands.BenchRestoreCommand.RunAsync(new(2_000, 10, 24, 1, Batch: 10_001), CancellationToken.None));
        Assert.Contains("--batch 0–10000", e.Message);
    }

    [Theory]
    [InlineData(999, 10, 24, 1)]
    [InlineData(240_001, 10, 24, 1)]
    [InlineData(60_001, 10, 6, 1)]
    [InlineData(2_000, 2_001, 24, 1)]
    [InlineData(2_000, 0, 24, 1)]
    [InlineData(2_000, 10, 49, 1)]
    [InlineData(2_000, 10, 24, 11)]
    public async Task Settings_outside_their_range_are_refused_with_the_fix(int records, int keys, int partitions, int rounds)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Pipeline.Cli.Commands.BenchRestoreCommand.RunAsync(new(records, keys, partitions, rounds), CancellationToken.None));
        Assert.StartsWith("Fix: --partitions 1–48, --records 1000–240000", e.Message);
    }
}

/// <summary>`bench chain`: records go through every hop of both chains, the raw one and the platform's, in a closed loop.</summary>
public sealed class BenchChainTests
{
    [Fact]
    public async Task Records_reach_the_end_of_both_chains_through_every_hop()
    {
        var (raw, chains) = await Pipeline.Cli.Commands.BenchChainCommand.MeasureAsync(
            new(Hops: 3, InFlight: 50, Duration: 2, Warmup: 0, Partitions: 2, Brokers: 1, Mode: "both", RawBenchMessages: 1_000), CancellationToken.None);

        Assert.True(raw.ConsumeRate > 0);
        Assert.Equal(["raw", "platform"], chains.Select(c => c.Mode));
        Assert.All(chains, c => Assert.True(c.Records > 0, $"{c.Mode}: no record reached the end of the chain in the window"));
        // Every hop of the platform chain consumed at least what reached its end (the closed loop keeps at most 50 in flight).
        var consumed = Enumerable.Range(0, 3).Select(i => Pipeline.Platform.ProcessorMetrics.Consumed.WithLabels($"chain{i}", $"bench.chain.platform.{i}").Value).ToList();
        Assert.All(consumed, n => Assert.True(n >= chains[1].Records, $"a hop consumed {n} records, fewer than the {chains[1].Records} that reached the end"));
        Assert.True(consumed[0] - consumed[2] <= 50, $"hop 0 consumed {consumed[0]}, hop 2 {consumed[2]}: more than the 50 in flight apart");
    }

    [Theory]
    [InlineData(0, 500, "both")]
    [InlineData(31, 500, "both")]
    [InlineData(9, 0, "both")]
    [InlineData(9, 500, "fast")]
    public async Task Settings_outside_their_range_are_refused_with_the_fix(int hops, int inFlight, string mode)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Pipeline.Cli.Commands.BenchChainCommand.RunAsync(
            new(hops, inFlight, Duration: 1, Warmup: 0, Partitions: 2, Brokers: 1, Mode: mode, RawBenchMessages: 1_000), CancellationToken.None));
        Assert.StartsWith("Fix: --hops 1–30", e.Message);
    }
}
