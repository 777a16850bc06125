using Avro.Specific;
using Confluent.Kafka;

namespace Pipeline.Platform;

internal delegate Task Dispatch(object processor, AvroSerdes serdes, ConsumeResult<byte[]?, byte[]?> message, IOutput output, CancellationToken ct);

internal sealed record InputBinding(string Topic, Type ValueType, Dispatch Dispatch);

/// <summary>A stage: one consumer group, its input topics and the processor that handles them.</summary>
public sealed class StageDefinition
{
    internal StageDefinition(string name, Type processorType)
    {
        Name = name;
        ProcessorType = processorType;
        DeadLetterTopic = Topics.DeadLetter(name);
    }

    /// <summary>The stage name: consumer group id, metric label and dead-letter topic suffix.</summary>
    public string Name { get; }

    public Type ProcessorType { get; }

    /// <summary>Where this stage's dead letters go: <c>deadletter.&lt;stage&gt;.v1</c> unless set with
    /// <see cref="StageInputs{TProcessor}.DeadLettersTo"/>.</summary>
    public string DeadLetterTopic { get; internal set; } = "";

    internal List<InputBinding> Inputs { get; } = [];

    public IReadOnlyList<string> InputTopics => Inputs.Select(i => i.Topic).ToList();
}

/// <summary>Declares which topics a stage's processor consumes, each with its record type.</summary>
public sealed class StageInputs<TProcessor> where TProcessor : class
{
    internal StageInputs(StageDefinition definition) => Definition = definition;

    internal StageDefinition Definition { get; }

    /// <summary>Sends this stage's dead letters to <paramref name="topic"/> (e.g. several stages sharing one).</summary>
    public StageInputs<TProcessor> DeadLettersTo(string topic)
    {
        Definition.DeadLetterTopic = topic;
        return this;
    }

    public StageInputs<TProcessor> Consumes<TIn>(string topic) where TIn : class, ISpecificRecord
    {
        if (!typeof(IProcessor<TIn>).IsAssignableFrom(typeof(TProcessor)))
            throw new InvalidOperationException($"{typeof(TProcessor).Name} consumes {topic} as {typeof(TIn).Name} but does not implement IProcessor<{typeof(TIn).Name}>.");
        Definition.Inputs.Add(new InputBinding(topic, typeof(TIn), async (processor, serdes, m, output, ct) =>
        {
            var value = await serdes.DeserializeAsync<TIn>(m.Message.Value, m.Topic);
            var key = m.Message.Key is null ? null : System.Text.Encoding.UTF8.GetString(m.Message.Key);
            var incoming = new Incoming<TIn>(key, value, m.Topic, m.Partition.Value, m.Offset.Value, m.Message.Timestamp.UtcDateTime, m.Message.Value);
            await ((IProcessor<TIn>)processor).ProcessAsync(incoming, output, ct);
        }));
        return this;
    }
}
