using Avro;
using Avro.IO;

namespace Pipeline.Platform;

/// <summary>
/// Steps over one value of a schema in Avro binary without building it: the reader of a field an
/// <see cref="AvroProjection"/> skips. Every step goes through the <see cref="Decoder"/>'s own skips and block counts, so
/// <see cref="BoundedAvroDecoder"/> still checks each length against the bytes that follow and counts collection
/// entries against its budget, exactly as when the value is read.
/// </summary>
internal static class AvroSkipper
{
    public static CompiledAvroReader.ReadItem Compile(Schema schema)
    {
        var skip = Build(schema, new Dictionary<string, Func<Action<Decoder>>>(StringComparer.Ordinal));
        return d =>
        {
            skip(d);
            return null;
        };
    }

    private static Action<Decoder> Build(Schema schema, Dictionary<string, Func<Action<Decoder>>> named) => schema switch
    {
        LogicalSchema logical => Build(logical.BaseSchema, named),
        RecordSchema record => Record(record, named),
        EnumSchema => d => d.SkipEnum(),
        FixedSchema fixedSchema => d => d.SkipFixed(fixedSchema.Size),
        ArraySchema array => Items(Build(array.ItemSchema, named), map: false),
        MapSchema map => Items(Build(map.ValueSchema, named), map: true),
        UnionSchema union => Union(union, named),
        _ => schema.Tag switch
        {
            Schema.Type.Null => d => d.SkipNull(),
            Schema.Type.Boolean => d => d.SkipBoolean(),
            Schema.Type.Int => d => d.SkipInt(),
            Schema.Type.Long => d => d.SkipLong(),
            Schema.Type.Float => d => d.SkipFloat(),
            Schema.Type.Double => d => d.SkipDouble(),
            Schema.Type.String => d => d.SkipString(),
            Schema.Type.Bytes => d => d.SkipBytes(),
            _ => throw new NotSupportedException($"Avro type {schema.Tag} cannot be skipped."),
        },
    };

    private static Action<Decoder> Record(RecordSchema schema, Dictionary<string, Func<Action<Decoder>>> named)
    {
        if (named.TryGetValue(schema.Fullname, out var known)) return d => known()(d);
        var fields = new Action<Decoder>[schema.Fields.Count];
        Action<Decoder> skip = d =>
        {
            foreach (var field in fields) field(d);
        };
        named[schema.Fullname] = () => skip; // before the fields: a record may contain itself
        for (var i = 0; i < fields.Length; i++) fields[i] = Build(schema.Fields[i].Schema, named);
        return skip;
    }

    private static Action<Decoder> Items(Action<Decoder> item, bool map) => d =>
    {
        // Item by item, not by a block's byte size: the decoder counts every entry against its budget.
        for (var n = map ? d.ReadMapStart() : d.ReadArrayStart(); n != 0; n = map ? d.ReadMapNext() : d.ReadArrayNext())
        {
            for (var i = 0L; i < n; i++)
            {
                if (map) d.SkipString();
                item(d);
            }
        }
    };

    private static Action<Decoder> Union(UnionSchema schema, Dictionary<string, Func<Action<Decoder>>> named)
    {
        var branches = schema.Schemas.Select(branch => Build(branch, named)).ToArray();
        return d =>
        {
            var index = d.ReadUnionIndex();
            if ((uint)index >= (uint)branches.Length) throw new AvroException($"Union {schema} has no branch {index}.");
            branches[index](d);
        };
    }
}
