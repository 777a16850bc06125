using Pipeline.TestSupport;
using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Pipeline.Contracts;
using Xunit.Abstractions;

namespace Pipeline.Platform.Tests;

/// <summary>State restore outlives a broker outage (seen in a fault run: a broker down for 5 s during a restore
/// stopped the stage for good with `QueryWatermarkOffsets … Local: Unknown partition`).</summary>
public sealed class RestoreTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("all brokers")]
    [InlineData("the leader")]
    public async Task A_restore_during_a_5_s_broker_outage_waits_for_the_broker_and_restores_everything(string down)
    {
        await using var h = await Harness.StartAsync();
        var inputs = Harness.Submitted("restore", 60).ToList();
        var written = await h.PublishAsync(inputs);
        var partitions = written.Values.Select(w => w.Partition.Value).Distinct().Order().ToList();
        Assert.True(partitions.Count > 1);

        var brokers = down == "all brokers" ? Enumerable.Range(1, h.Runtime.Cluster.BrokerCount).ToList() : [Leader(h, Topics.ReportsSubmitted, partitions[0])];
        var log = new OutputLogger(output);
        var state = new PartitionedState<ReportSubmitted>(Topics.ReportsSubmitted, h.Kafka, h.Serdes, log);
        foreach (var b in brokers) h.Runtime.Cluster.SetBrokerDown(b);
        var sw = Stopwatch.StartNew();
        var restore = Task.Run(() => state.Restore(partitions.Select(p => new TopicPartition(Topics.ReportsSubmitted, p))));
        // The outage lasts until the restore has run into it (a failed read it retries) and for 5 s at least.
        await Polling.Until(() => log.Warnings > 0 && sw.Elapsed >= TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60),
            () => $"the restore logged {log.Warnings} retried failures in {sw.Elapsed.TotalSeconds:0} s with {down} down");
        foreach (var b in brokers) h.Runtime.Cluster.SetBrokerUp(b);
        await restore.WaitAsync(TimeSpan.FromSeconds(120));
        output.WriteLine($"{down} down for 5 s: restored {state.Count} entries in {sw.Elapsed.TotalSeconds:0.0} s");

        Assert.Equal(inputs.Count, state.Count);
        foreach (var input in inputs)
            Assert.True(state.TryGet(written[input.eventId].Partition.Value, input.report.reportId, out var restored) && restored.eventId == input.eventId,
                $"{input.report.reportId} was not restored");
    }

    /// <summary>A reader decodes each record with a plain call and goes to the retry pipeline only when that fails
    /// transiently: a registry that cannot be reached for a schema not yet cached is waited out, and nothing is skipped.</summary>
    [Fact]
    public async Task A_restore_while_the_registry_is_unreachable_waits_for_it_and_skips_nothing()
    {
        await using var h = await Harness.StartAsync();
        var inputs = Harness.Submitted("registry-outage", 20).ToList();
        var written = await h.PublishAsync(inputs);
        var partitions = written.Values.Select(w => w.Partition.Value).Distinct().Order().ToList();
        // A serdes of its own: nothing cached, so the first decode asks the registry for the writer schema.
        var registry = FlakyRegistry.Wrap(new Confluent.SchemaRegistry.CachedSchemaRegistryClient(
            new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = h.Runtime.SchemaRegistryUrl }), out var control);
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        var log = new OutputLogger(output);
        var state = new PartitionedState<ReportSubmitted>(Topics.ReportsSubmitted, h.Kafka, serdes, log);
        control.Outage = true;
        var restore = Task.Run(() => state.Restore(partitions));
        await Polling.Until(() => log.Warnings >= 2, TimeSpan.FromSeconds(60), () => $"the restore logged {log.Warnings} retried failures");
        Assert.False(restore.IsCompleted, "the restore finished while no record could be decoded");
        Assert.Equal(0, state.Count);

        control.Outage = false;
        await restore.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(inputs.Count, state.Count);
    }

    private static int Leader(Harness h, string topic, int partition)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = h.Kafka.BootstrapServers }).Build();
        return admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Single(p => p.PartitionId == partition).Leader;
    }
}

/// <summary>Log lines into the test's output (what the reader retried, and when).</summary>
internal sealed class OutputLogger(ITestOutputHelper output) : ILogger
{
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private int warnings;

    /// <summary>Warnings and errors logged so far (a reader's failed read that it retries is one).</summary>
    public int Warnings => Volatile.Read(ref warnings);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logLevel >= LogLevel.Warning) Interlocked.Increment(ref warnings);
        try { output.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.0} s {logLevel}: {formatter(state, exception)}"); }
        catch (InvalidOperationException) { } // the test has ended
    }
}
