using System.Collections.Concurrent;
using Avro.Specific;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;

namespace Pipeline.Platform;

/// <summary>
/// Avro (de)serialisation through the Schema Registry, one cached serializer per record type. Values are framed the
/// Confluent way (magic byte + schema id), keys are plain UTF-8 strings.
/// </summary>
public sealed class AvroSerdes(ISchemaRegistryClient registry, bool autoRegisterSchemas)
{
    private readonly ConcurrentDictionary<Type, object> serializers = new();
    private readonly ConcurrentDictionary<Type, object> deserializers = new();

    public ISchemaRegistryClient Registry => registry;

    public async Task<byte[]> SerializeAsync<T>(T value, string topic) where T : class, ISpecificRecord
    {
        var serializer = (AvroSerializer<T>)serializers.GetOrAdd(typeof(T), _ => new AvroSerializer<T>(registry,
            new AvroSerializerConfig { AutoRegisterSchemas = autoRegisterSchemas, UseLatestVersion = false }));
        try
        {
            return await serializer.SerializeAsync(value, new SerializationContext(MessageComponentType.Value, topic));
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            ProcessorMetrics.SchemaRegistryFailures.WithLabels("serialize").Inc();
            throw;
        }
    }

    public async Task<T> DeserializeAsync<T>(byte[]? data, string topic) where T : class, ISpecificRecord
    {
        if (data is null) throw new UndeserialisableException($"The message on {topic} has no value (a tombstone), but {typeof(T).Name} was expected.");
        if (data.Length < 5 || data[0] != 0)
            throw new UndeserialisableException($"The message on {topic} is not Confluent-framed Avro (magic byte 0 + schema id); {data.Length} bytes starting 0x{Convert.ToHexString(data.AsSpan(0, Math.Min(8, data.Length)))}.");
        var deserializer = (AvroDeserializer<T>)deserializers.GetOrAdd(typeof(T), _ => new AvroDeserializer<T>(registry));
        try
        {
            return await deserializer.DeserializeAsync(data, false, new SerializationContext(MessageComponentType.Value, topic));
        }
        catch (Exception e) when (!TransientErrors.IsTransient(e))
        {
            throw new UndeserialisableException($"The message on {topic} could not be read as {typeof(T).Name}: {e.Message}", e);
        }
        catch (Exception e)
        {
            ProcessorMetrics.SchemaRegistryFailures.WithLabels("deserialize").Inc();
            throw new UndeserialisableException($"The Schema Registry could not be reached to read a {typeof(T).Name} on {topic}: {e.Message}", e);
        }
    }
}
