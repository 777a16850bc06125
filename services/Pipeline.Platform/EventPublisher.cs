using System.Text;
using Avro.Specific;
using Confluent.Kafka;
using Microsoft.Extensions.Options;

namespace Pipeline.Platform;

/// <summary>
/// Produces typed events outside a consume loop (timers, HTTP submissions, feeds). Each call completes when Kafka
/// acknowledged the event, so callers can tell a durable event from a hope.
/// </summary>
public sealed class EventPublisher : IDisposable
{
    private readonly IProducer<byte[]?, byte[]?> producer;
    private readonly AvroSerdes serdes;
    private readonly string clientId;

    public EventPublisher(IOptions<KafkaOptions> options, AvroSerdes serdes, string clientId = "publisher")
    {
        this.serdes = serdes;
        this.clientId = clientId;
        producer = KafkaClients.Producer(options.Value, clientId);
    }

    public async Task<TopicPartitionOffset> PublishAsync<T>(string topic, string key, T value, int? partition = null, CancellationToken ct = default)
        where T : class, ISpecificRecord
    {
        using var activity = PipelineTracing.StartPublish(clientId, topic, out var headers);
        var bytes = await serdes.SerializeAsync(value, topic);
        var message = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = bytes, Headers = headers };
        var result = partition is null
            ? await producer.ProduceAsync(topic, message, ct)
            : await producer.ProduceAsync(new TopicPartition(topic, partition.Value), message, ct);
        ProcessorMetrics.Produced.WithLabels("publisher", topic).Inc();
        return result.TopicPartitionOffset;
    }

    public async Task TombstoneAsync(string topic, string key, int? partition = null, CancellationToken ct = default)
    {
        var message = new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = null };
        _ = partition is null
            ? await producer.ProduceAsync(topic, message, ct)
            : await producer.ProduceAsync(new TopicPartition(topic, partition.Value), message, ct);
    }

    /// <summary>Raw bytes, e.g. a deliberately malformed message in a test or a replayed dead letter.</summary>
    public Task PublishRawAsync(string topic, byte[]? key, byte[]? value, CancellationToken ct = default) =>
        producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Key = key, Value = value }, ct);

    public void Flush(TimeSpan timeout) => producer.Flush(timeout);

    public void Dispose()
    {
        producer.Flush(TimeSpan.FromSeconds(10));
        producer.Dispose();
    }
}
