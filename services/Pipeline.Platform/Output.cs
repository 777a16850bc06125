using Avro.Specific;

namespace Pipeline.Platform;

/// <summary>The outputs of one processing call, serialised only after the call returned.</summary>
internal sealed class OutputBuffer : IOutput
{
    internal sealed record Pending(string Topic, int? Partition, string Key, Func<AvroSerdes, Task<byte[]>>? Serialize);

    public List<Pending> Items { get; } = [];

    public void Send<T>(string topic, string key, T value) where T : class, ISpecificRecord =>
        Add(topic, null, key, value);

    public void Send<T>(string topic, int partition, string key, T value) where T : class, ISpecificRecord =>
        Add(topic, partition, key, value);

    public void Tombstone(string topic, string key, int? partition = null) =>
        Items.Add(new Pending(topic, partition, key, null));

    private void Add<T>(string topic, int? partition, string key, T value) where T : class, ISpecificRecord
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Items.Add(new Pending(topic, partition, key, serdes => serdes.SerializeAsync(value, topic)));
    }
}
