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

    internal List<string>? CoPartitionedStateTopics { get; set; }

    /// <summary>Fields of the inputs this stage never reads, left out of their decode (<see cref="StageInputs{TProcessor}.Skipping"/>).</summary>
    public AvroProjection? Projection { get; internal set; }

    /// <summary>Topics whose partition p must all be handled by the member that owns input partition p: the inputs and
    /// the state topics of a stage that keeps per-partition state (state partition p is written while processing input
    /// partition p). Empty for a stage without such state. Checked at start (<see cref="CoPartitioning"/>).</summary>
    public IReadOnlyList<string> CoPartitionedTopics =>
        CoPartitionedStateTopics is null ? [] : [.. InputTopics.Concat(CoPartitionedStateTopics).Distinct(StringComparer.Ordinal)];

    /// <summary>How the group spreads input partitions over members. A stage whose state is fed by several inputs uses
    /// the range assignor: it assigns each topic on its own, members sorted by id, partitions in contiguous ranges, so with
    /// equal partition counts (checked at start, <see cref="CoPartitioning"/>) the member that gets partition p of one
    /// input gets partition p of every input, and so owns state partition p alone. CooperativeSticky does not promise
    /// that, and librdkafka takes no custom assignor from .NET. Range is an eager protocol: a rebalance revokes every
    /// partition (outputs flushed, state dropped) before it assigns again. Every other stage uses CooperativeSticky.</summary>
    public PartitionAssignmentStrategy AssignmentStrategy =>
        CoPartitionedStateTopics is not null && Inputs.Count > 1 ? PartitionAssignmentStrategy.Range : PartitionAssignmentStrategy.CooperativeSticky;
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

    /// <summary>Declares that this stage keeps per-partition state in <paramref name="stateTopics"/> keyed by input
    /// partition number: its inputs and those topics must have the same partition count (checked at start, the stage
    /// refuses to start otherwise), and with several inputs the group uses the range assignor, which keeps partition p of
    /// every input on one member (<see cref="StageDefinition.AssignmentStrategy"/>).</summary>
    public StageInputs<TProcessor> CoPartitioned(params string[] stateTopics)
    {
        Definition.CoPartitionedStateTopics = [.. stateTopics];
        return this;
    }

    /// <summary>Decodes this stage's inputs without the fields <paramref name="projection"/> names: fields its
    /// processor never reads (see <see cref="AvroProjection"/>).</summary>
    public StageInputs<TProcessor> Skipping(AvroProjection projection)
    {
        Definition.Projection = projection;
        return this;
    }

    public StageInputs<TProcessor> Consumes<TIn>(string topic) where TIn : class, ISpecificRecord => Bind<TIn>(topic, null, null);

    /// <summary>Consumes <paramref name="topic"/> but hands the processor only the records it acts on: each record is
    /// first decoded without what <paramref name="peek"/> skips, and only one that passes <paramref name="wanted"/> is
    /// decoded again, whole (less the stage's own <see cref="Skipping"/>), and processed. The others are handled as a
    /// processor that ignores them would handle them: their offsets move on, nothing is written. For an input a stage
    /// reads for a rare case (takedown acts on a reversed assessment or a MOVED delivery, and on none of the other
    /// records of those topics), the test reads a few fields instead of a whole report or notice.</summary>
    public StageInputs<TProcessor> Consumes<TIn>(string topic, Func<TIn, bool> wanted, AvroProjection peek) where TIn : class, ISpecificRecord =>
        Bind(topic, wanted, peek);

    private StageInputs<TProcessor> Bind<TIn>(string topic, Func<TIn, bool>? wanted, AvroProjection? peek) where TIn : class, ISpecificRecord
    {
        if (!typeof(IProcessor<TIn>).IsAssignableFrom(typeof(TProcessor)))
            throw new InvalidOperationException($"{typeof(TProcessor).Name} consumes {topic} as {typeof(TIn).Name} but does not implement IProcessor<{typeof(TIn).Name}>.");
        // Synchronous up to the processor: deserialising never leaves the stage thread.
        Definition.Inputs.Add(new InputBinding(topic, typeof(TIn), (processor, serdes, m, output, ct) =>
        {
            if (wanted is not null && !wanted(serdes.Deserialize<TIn>(m.Message.Value, m.Topic, peek))) return Task.CompletedTask;
            var value = serdes.Deserialize<TIn>(m.Message.Value, m.Topic, Definition.Projection);
            var key = m.Message.Key is null ? null : System.Text.Encoding.UTF8.GetString(m.Message.Key);
            var incoming = new Incoming<TIn>(key, value, m.Topic, m.Partition.Value, m.Offset.Value, m.Message.Timestamp.UtcDateTime, m.Message.Value) { Headers = m.Message.Headers };
            var processed = ((IProcessor<TIn>)processor).ProcessAsync(incoming, output, ct);
            return processed.IsCompletedSuccessfully ? Task.CompletedTask : processed.AsTask();
        }));
        return this;
    }
}
