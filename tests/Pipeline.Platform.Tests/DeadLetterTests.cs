using System.Text;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

public sealed class DeadLetterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Undeserialisable_input_and_tombstones_are_dead_lettered_at_once_with_their_bytes_and_origin()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("geolocation");
        var processor = new AcceptingProcessor();
        var app = h.BuildHost(stage, processor);
        await app.StartAsync();

        var garbage = Encoding.UTF8.GetBytes("{\"url\":\"https://bad.example/x\"} not avro");
        var badKey = Encoding.UTF8.GetBytes("bad-key-1");
        var tombKey = Encoding.UTF8.GetBytes("tomb-key-1");
        var bad = await h.PublishRawAsync(Topics.ReportsSubmitted, badKey, garbage, partition: 2);
        var tomb = await h.PublishRawAsync(Topics.ReportsSubmitted, tombKey, null, partition: 2);
        var valid = Harness.Submitted("after-garbage");
        var validAt = await h.PublishAsync([valid], partition: 2);

        var dlq = h.Reader<DeadLetter>(Topics.DeadLetter(stage));
        var letters = await dlq.ReadAtLeastAsync(2, Timeout, settle: TimeSpan.FromMilliseconds(300));
        Assert.Equal(2, letters.Count);

        var outputs = await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadAtLeastAsync(1, Timeout);
        Assert.Equal(Harness.AcceptedId(valid), Assert.Single(outputs).Value.eventId);
        Assert.Equal($"{Topics.ReportsSubmitted}:2:{validAt[valid.eventId].Offset.Value}", Harness.Header(outputs[0].Headers, "pipeline.origin"));

        foreach (var (origin, key, value) in new[] { (bad, badKey, (byte[]?)garbage), (tomb, tombKey, null) })
        {
            var letter = Assert.Single(letters, l => l.Value.originOffset == origin.Offset.Value);
            var d = letter.Value;
            Assert.Equal(stage, d.stage);
            Assert.StartsWith("undeserialisable", d.reason, StringComparison.Ordinal);
            Assert.Equal(typeof(UndeserialisableException).FullName, d.errorType);
            Assert.Equal(Topics.ReportsSubmitted, d.originTopic);
            Assert.Equal(2, d.originPartition);
            Assert.Equal(key, d.key);
            Assert.Equal(value, d.value);
            Assert.Equal(1, d.attempts);
            Assert.NotNull(d.originTimestamp);
            Assert.Equal(key, letter.RawKey);
            Assert.Equal(d.reason, Harness.Header(letter.Headers, "dlq.reason"));
            Assert.Equal(Topics.ReportsSubmitted, Harness.Header(letter.Headers, "dlq.origin.topic"));
            Assert.Equal("2", Harness.Header(letter.Headers, "dlq.origin.partition"));
            Assert.Equal(origin.Offset.Value.ToString(), Harness.Header(letter.Headers, "dlq.origin.offset"));
            Assert.Equal($"{Topics.ReportsSubmitted}:2:{origin.Offset.Value}", Harness.Header(letter.Headers, "pipeline.origin"));
        }
        Assert.Equal(["after-garbage"], processor.Attempts.Keys); // the processor never saw the bad messages
        Assert.Equal(2, ProcessorMetrics.DeadLettered.WithLabels(stage, "undeserialisable").Value);
        Assert.Equal(3, ProcessorMetrics.Consumed.WithLabels(stage, Topics.ReportsSubmitted).Value);
    }

    [Fact]
    public async Task Non_transient_failures_are_dead_lettered_once_transient_ones_retried_then_exhausted()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("classification");
        var processor = new AcceptingProcessor((m, attempt) => m.Value.report.reportId switch
        {
            "poison" => throw new InvalidOperationException("the report cannot be classified"),
            "flaky" when attempt <= 2 => throw new TransientException($"dependency timed out (attempt {attempt})"),
            "always-transient" => throw new TransientException("dependency down"),
            _ => Task.CompletedTask,
        });
        var app = h.BuildHost(stage, processor, new Dictionary<string, string?>
        {
            ["Processing:MaxAttempts"] = "3",
            ["Processing:InitialBackoffMs"] = "10",
        });
        await app.StartAsync();
        var outputs = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        var dlq = h.Reader<DeadLetter>(Topics.DeadLetter(stage));

        // 1. a non-transient failure: one attempt, then the dead-letter topic
        var poison = await h.PublishAsync([Harness.Submitted("poison")], partition: 1);
        var letter = (await dlq.ReadAtLeastAsync(1, Timeout)).Single().Value;
        Assert.StartsWith("processing_failed", letter.reason, StringComparison.Ordinal);
        Assert.Contains("the report cannot be classified", letter.reason, StringComparison.Ordinal);
        Assert.Equal(typeof(InvalidOperationException).FullName, letter.errorType);
        Assert.Equal(1, letter.attempts);
        Assert.Equal(poison.Values.Single().Offset.Value, letter.originOffset);
        Assert.Equal(1, processor.Attempts["poison"]);
        Assert.Equal(0, ProcessorMetrics.Retries.WithLabels(stage).Value);

        // 2. transient twice, then success: one output, two retries
        var flaky = Harness.Submitted("flaky");
        await h.PublishAsync([flaky], partition: 1);
        var produced = await outputs.ReadAtLeastAsync(1, Timeout, settle: TimeSpan.FromMilliseconds(300));
        Assert.Equal(Harness.AcceptedId(flaky), Assert.Single(produced).Value.eventId);
        Assert.Equal(3, processor.Attempts["flaky"]);
        Assert.Equal(2, ProcessorMetrics.Retries.WithLabels(stage).Value);

        // 3. always transient: dead-lettered after Processing:MaxAttempts
        var always = await h.PublishAsync([Harness.Submitted("always-transient")], partition: 1);
        var exhausted = (await dlq.ReadAtLeastAsync(2, Timeout, settle: TimeSpan.FromMilliseconds(300)))[1].Value;
        Assert.StartsWith("retries_exhausted", exhausted.reason, StringComparison.Ordinal);
        Assert.Equal(typeof(TransientException).FullName, exhausted.errorType);
        Assert.Equal(3, exhausted.attempts);
        Assert.Equal(always.Values.Single().Offset.Value, exhausted.originOffset);
        Assert.Equal(3, processor.Attempts["always-transient"]);
        Assert.Equal(4, ProcessorMetrics.Retries.WithLabels(stage).Value);
        Assert.Equal(2, dlq.Records.Count);
        Assert.Single(outputs.Records);
        Assert.Equal(1, ProcessorMetrics.DeadLettered.WithLabels(stage, "processing_failed").Value);
        Assert.Equal(1, ProcessorMetrics.DeadLettered.WithLabels(stage, "retries_exhausted").Value);
    }

    [Fact]
    public async Task A_registry_outage_while_reading_input_is_waited_out_not_dead_lettered()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("routing");
        FlakyRegistry? control = null;
        h.ConfigureServices = s => s.AddSingleton(_ => FlakyRegistry.Wrap(
            new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = h.Runtime.SchemaRegistryUrl }), out control));
        var processor = new AcceptingProcessor();
        var app = h.BuildHost(stage, processor, new Dictionary<string, string?> { ["Processing:MaxAttempts"] = "3" });
        await app.StartAsync();
        Assert.NotNull(control);
        var health = app.Services.GetRequiredService<StageHealth>();
        await Harness.Eventually(() => health.Snapshot.TryGetValue(stage, out var s) && s.Joined, Timeout, () => "stage never joined");
        var failuresBefore = ProcessorMetrics.SchemaRegistryFailures.WithLabels("deserialize").Value;
        control.Outage = true; // the registry cannot be reached to fetch writer schemas by id

        var valid = Harness.Submitted("valid-during-outage");
        await h.PublishAsync([valid]);
        // Well past Processing:MaxAttempts (3 × ≤100 ms backoff): still retrying, not ready, nothing dead-lettered.
        await Harness.Eventually(() => ProcessorMetrics.Retries.WithLabels(stage).Value >= 6, Timeout,
            () => $"retries {ProcessorMetrics.Retries.WithLabels(stage).Value}");
        Assert.False(health.Snapshot[stage].Joined, "readiness must report the stage as not consuming during the outage");
        Assert.True(ProcessorMetrics.SchemaRegistryFailures.WithLabels("deserialize").Value >= failuresBefore + 6,
            "every failed attempt to reach the registry counts in pipeline_schema_registry_failures_total (SchemaRegistryUnreachable)");
        var dlq = h.Reader<DeadLetter>(Topics.DeadLetter(stage));
        Assert.Empty(await dlq.PollAsync(TimeSpan.FromMilliseconds(300)));
        Assert.Empty(processor.Attempts);

        control.Outage = false;
        var outputs = await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadAtLeastAsync(1, Timeout, settle: TimeSpan.FromMilliseconds(300));
        Assert.Equal(Harness.AcceptedId(valid), Assert.Single(outputs).Value.eventId);
        Assert.Empty(await dlq.PollAsync(TimeSpan.FromMilliseconds(200)));
        await Harness.Eventually(() => health.Snapshot[stage].Joined, Timeout, () => "stage did not report ready again");
    }

    /// <summary>Found by the full fuzz run: a crafted payload decoded into an enum value outside its symbols; writing the
    /// output made from it threw, and the host took that for a missing schema and stopped the stage for good (a poison
    /// pill). Now the input is dead-lettered and the stage goes on.</summary>
    [Fact]
    public async Task An_output_that_cannot_be_written_dead_letters_its_input_and_the_stage_goes_on()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("geolocation");
        var processor = new AcceptingProcessor((m, _) =>
        {
            if (m.Value.report.reportId == "enum-out-of-range") m.Value.report.contentType = (ContentType)250;
            return Task.CompletedTask;
        });
        var app = h.BuildHost(stage, processor);
        await app.StartAsync();

        var bad = Harness.Submitted("enum-out-of-range");
        var good = Harness.Submitted("after-it");
        var badAt = await h.PublishAsync([bad], partition: 1);
        await h.PublishAsync([good], partition: 1);

        var letter = Assert.Single(await h.Reader<DeadLetter>(Topics.DeadLetter(stage)).ReadAtLeastAsync(1, Timeout, settle: TimeSpan.FromMilliseconds(300)));
        Assert.StartsWith("output_unserialisable", letter.Value.reason, StringComparison.Ordinal);
        Assert.Equal(typeof(UnserialisableOutputException).FullName, letter.Value.errorType);
        Assert.Equal(badAt[bad.eventId].Offset.Value, letter.Value.originOffset);
        var accepted = Assert.Single(await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadAtLeastAsync(1, Timeout));
        Assert.Equal(Harness.AcceptedId(good), accepted.Value.eventId);
        Assert.Equal(1, processor.Attempts["enum-out-of-range"]); // not retried: the payload will not get better
    }
}
