using Confluent.SchemaRegistry;
using Pipeline.Contracts;

namespace Pipeline.Platform;

/// <summary>Registers the value schema of every topic (subject &lt;topic&gt;-value) from the topic catalog. Idempotent:
/// registering an unchanged schema returns its existing id; an incompatible change is refused by the registry.</summary>
public static class SchemaRegistration
{
    public static Type ValueType(TopicDefinition topic) =>
        Schemas.EventTypes.FirstOrDefault(t => t.Name == topic.ValueType)
        ?? throw new InvalidOperationException($"Topic {topic.Name} names value type {topic.ValueType}, which is not an event in schemas/. Fix infra/kafka/topics.json.");

    public sealed record Registered(string Subject, int Id, string ValueType);

    public static async Task<IReadOnlyList<Registered>> RegisterAllAsync(ISchemaRegistryClient registry, IEnumerable<TopicDefinition>? topics = null, Func<string, string>? rename = null)
    {
        var result = new List<Registered>();
        foreach (var topic in topics ?? TopicCatalog.All)
        {
            var subject = (rename?.Invoke(topic.Name) ?? topic.Name) + "-value";
            var schema = Schemas.Of(ValueType(topic)).ToString();
            var id = await registry.RegisterSchemaAsync(subject, new Schema(schema, SchemaType.Avro), normalize: false);
            result.Add(new Registered(subject, id, topic.ValueType));
        }
        return result;
    }
}
