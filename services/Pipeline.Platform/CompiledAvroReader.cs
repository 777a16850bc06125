using System.Collections;
using Avro;
using Avro.IO;
using Avro.Specific;

namespace Pipeline.Platform;

/// <summary>
/// Reads Avro binary into a generated class (<see cref="ISpecificRecord"/>) when the record was written with the very
/// schema the class has, from a plan compiled once per schema: the common case, a stage reading what the same release
/// wrote. A record written with another schema goes through schema resolution (<see cref="ResolvedSpecificReader{T}"/>).
/// <para>Written here rather than taken from Apache.Avro because its preresolving reader goes through a delegate, a
/// closure and an access object per field and per collection element (issue 11's profile of
/// <c>pipeline bench pipeline</c>). Every value is read through the given <see cref="Decoder"/>, so
/// <see cref="BoundedAvroDecoder"/>'s limits hold as before. Test: <c>CompiledAvroReaderTests</c> reads every contract
/// back to what Apache.Avro reads.</para>
/// </summary>
public static class CompiledAvroReader
{
    public delegate object? ReadItem(Decoder decoder);

    /// <param name="projection">Fields to step over rather than read (<see cref="AvroProjection"/>); null reads all.</param>
    public static ReadItem Compile(Schema schema, AvroProjection? projection = null) =>
        Build(schema, new Dictionary<string, Func<ReadItem>>(StringComparer.Ordinal), projection);

    private static ReadItem Build(Schema schema, Dictionary<string, Func<ReadItem>> named, AvroProjection? projection) => schema switch
    {
        LogicalSchema logical => Logical(logical, named, projection),
        RecordSchema record => Record(record, named, projection),
        EnumSchema enumSchema => Enum(enumSchema),
        ArraySchema array => Array(array, named, projection),
        MapSchema map => Map(map, named, projection),
        UnionSchema union => Union(union, named, projection),
        _ => schema.Tag switch
        {
            Schema.Type.Null => d => { d.ReadNull(); return null; },
            Schema.Type.Boolean => d => d.ReadBoolean() ? True : False,
            Schema.Type.Int => d => d.ReadInt() is var i && (uint)(i + 1) < (uint)SmallInts.Length ? SmallInts[i + 1] : i,
            Schema.Type.Long => d => d.ReadLong(),
            Schema.Type.Float => d => d.ReadFloat(),
            Schema.Type.Double => d => d.ReadDouble(),
            Schema.Type.String => d => d.ReadString(),
            Schema.Type.Bytes => d => d.ReadBytes(),
            _ => throw new NotSupportedException($"Avro type {schema.Tag} is not compiled."),
        },
    };

    // Boxed once: a boolean or a small int (attempts, counts, -1 for "none") read into a record is not boxed again per value.
    private static readonly object True = true;
    private static readonly object False = false;
    private static readonly object[] SmallInts = [.. Enumerable.Range(-1, 258).Select(i => (object)i)];

    private static ReadItem Logical(LogicalSchema schema, Dictionary<string, Func<ReadItem>> named, AvroProjection? projection)
    {
        // timestamp-millis, the contracts' only logical type in use, without boxing the long first: Apache.Avro's
        // conversion (TimestampMillisecond.ConvertToLogicalValue), written out.
        if (schema.LogicalType is Avro.Util.TimestampMillisecond && schema.BaseSchema.Tag == Schema.Type.Long)
            return d => DateTime.UnixEpoch.AddMilliseconds(d.ReadLong());
        var baseReader = Build(schema.BaseSchema, named, projection);
        var logicalType = schema.LogicalType;
        return d => logicalType.ConvertToLogicalValue(baseReader(d)!, schema);
    }

    private static ReadItem Record(RecordSchema schema, Dictionary<string, Func<ReadItem>> named, AvroProjection? projection)
    {
        if (named.TryGetValue(schema.Fullname, out var known)) return d => known()(d);
        var create = SpecificConstructors.Of(schema);
        // A skipped field has position -1: its reader steps over the bytes and returns null, which is not stored.
        var fields = new (int Position, ReadItem Read)[schema.Fields.Count];
        ReadItem read = d =>
        {
            var record = (ISpecificRecord)create();
            foreach (var (position, readField) in fields)
            {
                var value = readField(d);
                if (position >= 0) record.Put(position, value);
            }
            return record;
        };
        named[schema.Fullname] = () => read; // before the fields: a record may contain itself
        for (var i = 0; i < fields.Length; i++)
        {
            var field = schema.Fields[i];
            fields[i] = projection?.Skips(schema.Name, field.Name) == true
                ? (-1, AvroSkipper.Compile(field.Schema))
                : (field.Pos, Build(field.Schema, named, projection));
        }
        return read;
    }

    private static ReadItem Enum(EnumSchema schema)
    {
        var type = SpecificTypes.Of(schema);
        var values = schema.Symbols.Select(symbol => System.Enum.Parse(type, symbol)).ToArray();
        return d =>
        {
            var ordinal = d.ReadEnum();
            return (uint)ordinal < (uint)values.Length ? values[ordinal]
                : throw new AvroException($"Enum {schema.Name} has no symbol number {ordinal}.");
        };
    }

    private static ReadItem Array(ArraySchema schema, Dictionary<string, Func<ReadItem>> named, AvroProjection? projection)
    {
        var create = SpecificConstructors.Of(schema);
        var item = Build(schema.ItemSchema, named, projection);
        return d =>
        {
            var list = (IList)create();
            for (var n = d.ReadArrayStart(); n != 0; n = d.ReadArrayNext())
                for (var i = 0L; i < n; i++) list.Add(item(d));
            return list;
        };
    }

    private static ReadItem Map(MapSchema schema, Dictionary<string, Func<ReadItem>> named, AvroProjection? projection)
    {
        var create = SpecificConstructors.Of(schema);
        var value = Build(schema.ValueSchema, named, projection);
        return d =>
        {
            var map = (IDictionary)create();
            for (var n = d.ReadMapStart(); n != 0; n = d.ReadMapNext())
            {
                for (var i = 0L; i < n; i++)
                {
                    var key = d.ReadString();
                    map[key] = value(d);
                }
            }
            return map;
        };
    }

    private static ReadItem Union(UnionSchema schema, Dictionary<string, Func<ReadItem>> named, AvroProjection? projection)
    {
        var branches = schema.Schemas.Select(branch => Build(branch, named, projection)).ToArray();
        return d =>
        {
            var index = d.ReadUnionIndex();
            return (uint)index < (uint)branches.Length ? branches[index](d)
                : throw new AvroException($"Union {schema} has no branch {index}.");
        };
    }
}
