using Avro.Specific;

namespace Pipeline.Platform;

/// <summary>The outputs of one processing call, serialised only after the call returned.</summary>
internal sealed class OutputBuffer(Action<PendingEffect>? startEffect = null) : IOutput
{
    /// <summary>An output: its value is serialised after the call, by a writer made once per type (no closure per output).</summary>
    internal sealed record Pending(string Topic, int? Partition, string Key, ISpecificRecord? Value, Func<AvroSerdes, ISpecificRecord, string, byte[]>? Writer)
    {
        /// <summary>The Confluent-framed Avro bytes, or null for a tombstone.</summary>
        public byte[]? Serialize(AvroSerdes serdes) => Value is null ? null : Writer!(serdes, Value, Topic);
    }

    private static class Writers<T> where T : class, ISpecificRecord
    {
        public static readonly Func<AvroSerdes, ISpecificRecord, string, byte[]> Write = static (serdes, value, topic) => serdes.Serialize((T)value, topic);
    }

    public List<Pending> Items { get; } = [];

    /// <summary>The trace context every output of this call carries (and that a state entry written by it keeps): the
    /// call's span, or the context it continues when no span is made. Null outside a host.</summary>
    public TraceHeaders? Trace { get; set; }

    private List<IStateChanges>? enlisted;

    public void Enlist(IStateChanges changes)
    {
        enlisted ??= [];
        if (!enlisted.Contains(changes)) enlisted.Add(changes);
    }

    /// <summary>Every output was handed to the producer: the state changes made beside them become visible.</summary>
    public void CommitState()
    {
        if (enlisted is null) return;
        foreach (var changes in enlisted.Where(c => c is not PendingEffect || startEffect is null)) changes.Commit();
        if (startEffect is not null)
            foreach (var effect in enlisted.OfType<PendingEffect>()) startEffect(effect);
        enlisted = null;
    }

    /// <summary>The call failed: its state changes are discarded with its outputs.</summary>
    public void RollbackState()
    {
        if (enlisted is null) return;
        foreach (var changes in enlisted) changes.Rollback();
        enlisted = null;
    }

    public void Send<T>(string topic, string key, T value) where T : class, ISpecificRecord =>
        Add(topic, null, key, value);

    public void Send<T>(string topic, int partition, string key, T value) where T : class, ISpecificRecord =>
        Add(topic, partition, key, value);

    public void Tombstone(string topic, string key, int? partition = null) =>
        Items.Add(new Pending(topic, partition, key, null, null));

    private void Add<T>(string topic, int? partition, string key, T value) where T : class, ISpecificRecord
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Items.Add(new Pending(topic, partition, key, value, Writers<T>.Write));
    }
}
