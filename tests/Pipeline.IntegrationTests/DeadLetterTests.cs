using System.Text;
using Pipeline.Contracts;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.TestSupport;
using Pipeline.Platform;

namespace Pipeline.IntegrationTests;

/// <summary>A malformed message on any input topic lands on the stage's dead-letter topic with its reason and origin,
/// and the stage keeps going.</summary>
[Collection(KafkaCollection.Name)]
public sealed class DeadLetterTests(KafkaBackend backend)
{
    [Fact]
    public async Task Malformed_messages_on_every_input_topic_are_dead_lettered_with_origin_and_every_stage_keeps_going()
    {
        var run = Guid.NewGuid().ToString("N")[..10];
        var known = TestWorld.RandomHex(32);
        await using var pipeline = await RunningPipeline.StartAsync(backend, p =>
            p.Publisher.PublishAsync(Topics.HashesKnown, $"police-nl:sha256:{known}", TestWorld.Known(known)));
        var inputs = new (string Topic, string[] Stages)[]
        {
            (Topics.ReportsSubmitted, ["intake"]),
            (Topics.ReportsAccepted, ["geolocation"]),
            (Topics.ReportsLocated, ["classification"]),
            (Topics.ReportsClassified, ["routing"]),
            (Topics.TakedownRequested, ["takedown"]),
            (Topics.NoticesIssued, ["recheck", "sla"]),
            (Topics.ContentStatus, ["sla"]),
        };
        using var watch = backend.Watch([.. inputs.SelectMany(i => i.Stages).Distinct().Select(Topics.DeadLetter), Topics.NoticesIssued]);
        await watch.Assigned.WaitAsync(TimeSpan.FromSeconds(120));

        var sent = new Dictionary<string, (Confluent.Kafka.TopicPartitionOffset Where, byte[] Bytes)>();
        foreach (var (topic, _) in inputs)
        {
            var junk = Encoding.UTF8.GetBytes($"{{\"not\":\"avro\",\"run\":\"{run}\"}}");
            var result = await ProduceRawAsync(pipeline, topic, Encoding.UTF8.GetBytes(run), junk);
            sent[topic] = (result, junk);
        }
        // After the junk, a valid report must still go all the way to a notice.
        var report = TestWorld.Report($"{run}-after-junk", $"http://{TestWorld.HomeHosterHost}/{run}/after.jpg", known);
        await pipeline.Publisher.PublishAsync(Topics.ReportsSubmitted, report.report.reportId, report);

        var expected = inputs.SelectMany(i => i.Stages.Select(s => (Stage: s, i.Topic))).ToList();
        await watch.WaitUntilAsync(() => expected.All(e => DeadLettersOf(watch, e.Stage, run).Any(d => d.originTopic == e.Topic))
                && watch.Events<TakedownNotice>(Topics.NoticesIssued, n => n.url.Contains(run, StringComparison.Ordinal)).Count == 1,
            TimeSpan.FromSeconds(60), () => EndToEndTests.Describe(watch, run));

        foreach (var (stage, topic) in expected)
        {
            var dead = Assert.Single(DeadLettersOf(watch, stage, run), d => d.originTopic == topic);
            Assert.Equal(stage, dead.stage);
            Assert.StartsWith("undeserialisable:", dead.reason, StringComparison.Ordinal);
            Assert.Equal(sent[topic].Where.Partition.Value, dead.originPartition);
            Assert.Equal(sent[topic].Where.Offset.Value, dead.originOffset);
            Assert.Equal(sent[topic].Bytes, dead.value);
            Assert.Equal(run, Encoding.UTF8.GetString(dead.key));
            var delivery = watch.Deliveries(Topics.DeadLetter(stage)).First(d => ((DeadLetter)d.Value).eventId == dead.eventId);
            Assert.Equal(topic, Encoding.UTF8.GetString(delivery.Headers.GetLastBytes("dlq.origin.topic")));
            Assert.Equal(sent[topic].Where.Offset.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Encoding.UTF8.GetString(delivery.Headers.GetLastBytes("dlq.origin.offset")));
        }
    }

    private static List<DeadLetter> DeadLettersOf(TopicWatcher watch, string stage, string run) =>
        watch.Events<DeadLetter>(Topics.DeadLetter(stage), d => d.key is not null && Encoding.UTF8.GetString(d.key) == run);

    private static async Task<Confluent.Kafka.TopicPartitionOffset> ProduceRawAsync(RunningPipeline pipeline, string topic, byte[] key, byte[] value)
    {
        using var producer = new Confluent.Kafka.ProducerBuilder<byte[], byte[]>(new Confluent.Kafka.ProducerConfig { BootstrapServers = pipeline.Backend.BootstrapServers }).Build();
        var result = await producer.ProduceAsync(topic, new Confluent.Kafka.Message<byte[], byte[]> { Key = key, Value = value });
        return result.TopicPartitionOffset;
    }
}
