using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pipeline.Platform;

/// <summary>One topic as defined in infra/kafka/topics.json.</summary>
public sealed record TopicDefinition(
    string Name,
    string ValueType,
    int Partitions,
    short ReplicationFactor,
    long RetentionMs,
    string CleanupPolicy,
    string Key)
{
    public string ValueSubject => Name + "-value";
}

/// <summary>Reads the single topic definition (infra/kafka/topics.json, embedded in this assembly).</summary>
public static class TopicCatalog
{
    private static readonly Lazy<IReadOnlyList<TopicDefinition>> Embedded = new(() =>
    {
        using var stream = typeof(TopicCatalog).Assembly.GetManifestResourceStream("Pipeline.Platform.topics.json")
            ?? throw new InvalidOperationException("topics.json is not embedded in Pipeline.Platform.");
        return Parse(stream);
    });

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNameCaseInsensitive = true };

    public static IReadOnlyList<TopicDefinition> All => Embedded.Value;

    public static TopicDefinition Get(string name) =>
        All.FirstOrDefault(t => t.Name == name)
        ?? throw new KeyNotFoundException($"Topic '{name}' is not defined in infra/kafka/topics.json.");

    public static IReadOnlyList<TopicDefinition> Parse(Stream json)
    {
        var file = JsonSerializer.Deserialize<TopicFile>(json, JsonOptions)
            ?? throw new InvalidDataException("topics.json is empty.");
        var d = file.Defaults ?? new TopicEntry();
        return file.Topics.Select(t => new TopicDefinition(
            t.Name ?? throw new InvalidDataException("A topic in topics.json has no name."),
            t.ValueType ?? throw new InvalidDataException($"Topic {t.Name} has no valueType."),
            t.Partitions ?? d.Partitions ?? 6,
            t.ReplicationFactor ?? d.ReplicationFactor ?? 3,
            t.RetentionMs ?? d.RetentionMs ?? 604_800_000,
            t.CleanupPolicy ?? d.CleanupPolicy ?? "delete",
            t.Key ?? "")).ToList();
    }

    private sealed class TopicFile
    {
        public TopicEntry? Defaults { get; set; }
        public List<TopicEntry> Topics { get; set; } = [];
    }

    private sealed class TopicEntry
    {
        public string? Name { get; set; }
        public string? ValueType { get; set; }
        public int? Partitions { get; set; }
        public short? ReplicationFactor { get; set; }
        public long? RetentionMs { get; set; }
        public string? CleanupPolicy { get; set; }
        public string? Key { get; set; }
        [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }
    }
}
