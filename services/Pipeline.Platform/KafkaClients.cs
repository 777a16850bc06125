using Confluent.Kafka;

namespace Pipeline.Platform;

/// <summary>The connection settings every Kafka client of the pipeline shares.</summary>
public static class KafkaClients
{
    public static ClientConfig Config(KafkaOptions kafka)
    {
        var config = new ClientConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            SecurityProtocol = Enum.Parse<SecurityProtocol>(kafka.SecurityProtocol, ignoreCase: true),
        };
        if (!string.IsNullOrEmpty(kafka.SaslMechanism)) config.SaslMechanism = Enum.Parse<SaslMechanism>(kafka.SaslMechanism.Replace("-", "", StringComparison.Ordinal), ignoreCase: true);
        if (!string.IsNullOrEmpty(kafka.SaslUsername)) config.SaslUsername = kafka.SaslUsername;
        if (!string.IsNullOrEmpty(kafka.SaslPassword)) config.SaslPassword = kafka.SaslPassword;
        if (!string.IsNullOrEmpty(kafka.SslCaLocation)) config.SslCaLocation = kafka.SslCaLocation;
        return config;
    }

    /// <summary>An idempotent acks=all producer of raw bytes. It partitions with murmur2 like Java clients, so keys
    /// co-partition across every producer of the pipeline.</summary>
    public static IProducer<byte[]?, byte[]?> Producer(KafkaOptions kafka, string clientId) =>
        new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig(Config(kafka))
        {
            ClientId = clientId, Acks = Acks.All, EnableIdempotence = true, LingerMs = 5, Partitioner = Partitioner.Murmur2Random,
        }).Build();
}
