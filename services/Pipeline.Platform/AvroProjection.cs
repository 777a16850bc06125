namespace Pipeline.Platform;

/// <summary>
/// Fields of the contracts that a stage never reads, named by record and field (<c>("Report", "url")</c>): its inputs
/// are decoded without them. A skipped field is stepped over in the bytes, never turned into a string, list or record,
/// and is left as a new instance of the generated class has it (the schema's default for an enum, null for a string,
/// list or record) in the object the stage receives. Declared with
/// <see cref="StageInputs{TProcessor}.Skipping"/>.
/// <para>It applies wherever the named record occurs, at any depth and on every input of the stage. It applies to
/// records written with the reader's own schema (the compiled path of <see cref="CompiledAvroReader"/>, which is what a
/// stage reads from the same release); a record written with another schema is read whole through schema resolution.
/// So a stage with a projection must never depend on a skipped field being null: it must not read it at all.</para>
/// </summary>
public sealed class AvroProjection
{
    private readonly HashSet<(string Record, string Field)> skipped;

    private AvroProjection(HashSet<(string Record, string Field)> skipped) => this.skipped = skipped;

    /// <summary>A notice's X-ARF document and text: for stages that measure or schedule notices and keep them
    /// <c>WithoutBodies()</c> (sla, recheck). Only the delivery stages and takedown's own timers read them.</summary>
    public static AvroProjection NoticeBodies { get; } = Skip("TakedownNotice", "xarf", "text");

    public static AvroProjection Skip(string record, params string[] fields) => new AvroProjection([]).And(record, fields);

    /// <summary>This projection and <paramref name="fields"/> of <paramref name="record"/> (its name without namespace).</summary>
    public AvroProjection And(string record, params string[] fields)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(record);
        if (fields.Length == 0) throw new ArgumentException($"Name at least one field of {record} to skip.", nameof(fields));
        return new AvroProjection([.. skipped, .. fields.Select(f => (record, f))]);
    }

    public IReadOnlyCollection<(string Record, string Field)> Fields => skipped;

    public bool Skips(string record, string field) => skipped.Contains((record, field));
}
