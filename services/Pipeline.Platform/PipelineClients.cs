using Confluent.SchemaRegistry;
using Microsoft.Extensions.Options;
using Pipeline.Platform.Embedded;

namespace Pipeline.Platform;

/// <summary>
/// The clients a tool, benchmark or test needs outside a service host: the Schema Registry client, Avro serdes and
/// an acknowledging publisher, made once from the connection settings and disposed together.
/// </summary>
public sealed class PipelineClients : IDisposable
{
    public PipelineClients(KafkaOptions kafka, string clientId = "pipeline-clients")
    {
        Kafka = kafka;
        Registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = kafka.SchemaRegistryUrl });
        Serdes = new AvroSerdes(Registry, kafka.AutoRegisterSchemas);
        Publisher = new EventPublisher(Options.Create(kafka), Serdes, clientId);
    }

    /// <summary>Clients for an embedded runtime.</summary>
    public static PipelineClients For(EmbeddedRuntime runtime, string clientId = "pipeline-clients", int? sessionTimeoutMs = null) =>
        new(new KafkaOptions
        {
            BootstrapServers = runtime.BootstrapServers,
            SchemaRegistryUrl = runtime.SchemaRegistryUrl,
            SessionTimeoutMs = sessionTimeoutMs ?? new KafkaOptions().SessionTimeoutMs,
            FetchWaitMaxMs = EmbeddedRuntime.FetchWaitMaxMs,
            SocketTimeoutMs = EmbeddedRuntime.SocketTimeoutMs,
        }, clientId);

    public KafkaOptions Kafka { get; }
    public CachedSchemaRegistryClient Registry { get; }
    public AvroSerdes Serdes { get; }
    public EventPublisher Publisher { get; }

    public void Dispose()
    {
        Publisher.Dispose();
        Registry.Dispose();
    }
}
