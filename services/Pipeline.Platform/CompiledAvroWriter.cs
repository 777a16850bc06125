using System.Buffers.Binary;
using System.Collections;
using System.Text;
using Avro;
using Avro.Specific;

namespace Pipeline.Platform;

/// <summary>
/// Writes a generated Avro class (<see cref="ISpecificRecord"/>) as Avro binary, byte for byte what Apache.Avro's
/// <c>SpecificDatumWriter</c> writes, from a plan compiled once per schema.
/// <para>Written here rather than taken from Apache.Avro because its writer allocates on every value it writes: a new
/// delegate per string, long, int and boolean field (<c>e.WriteString</c> as a method group, per call), a byte array per
/// string (<c>Encoding.UTF8.GetBytes</c>) and an encoder per record. In the issue-11 allocation profile of
/// <c>pipeline bench pipeline</c> that was 17% of all the bytes the process allocated, and the garbage collector's pauses
/// were 15% of the run. This plan writes straight into one reused buffer. Test: <c>CompiledAvroWriterTests</c> compares
/// its bytes with Apache.Avro's for every contract.</para>
/// <para>Unions other than ["null", X] are not compiled (<see cref="NotSupportedException"/>): the caller then keeps
/// Apache.Avro's writer for that type. No contract has one today.</para>
/// </summary>
internal static class CompiledAvroWriter
{
    public delegate void WriteItem(object? value, AvroOutput output);

    public static WriteItem Compile(Schema schema) => Build(schema, new Dictionary<string, WriteItem>(StringComparer.Ordinal));

    private static WriteItem Build(Schema schema, Dictionary<string, WriteItem> named) => schema switch
    {
        LogicalSchema logical => Logical(logical, named),
        RecordSchema record => Record(record, named),
        EnumSchema enumSchema => Enum(enumSchema),
        ArraySchema array => Array(array, named),
        MapSchema map => Map(map, named),
        UnionSchema union => Union(union, named),
        FixedSchema fixedSchema => (v, o) => o.Raw(v is SpecificFixed f && f.Value.Length == fixedSchema.Size ? f.Value : throw Mismatch(fixedSchema, v)),
        _ => schema.Tag switch
        {
            Schema.Type.Null => (v, _) => { if (v is not null) throw Mismatch(schema, v); },
            Schema.Type.Boolean => (v, o) => o.Byte(v is bool b ? (byte)(b ? 1 : 0) : throw Mismatch(schema, v)),
            Schema.Type.Int => (v, o) => o.Long(v is int i ? i : throw Mismatch(schema, v)),
            Schema.Type.Long => (v, o) => o.Long(v is long l ? l : throw Mismatch(schema, v)),
            Schema.Type.Float => (v, o) => o.Float(v is float f ? f : throw Mismatch(schema, v)),
            Schema.Type.Double => (v, o) => o.Double(v is double d ? d : throw Mismatch(schema, v)),
            Schema.Type.String => (v, o) => o.String(v as string ?? throw Mismatch(schema, v)),
            Schema.Type.Bytes => (v, o) => o.Bytes(v as byte[] ?? throw Mismatch(schema, v)),
            _ => throw new NotSupportedException($"Avro type {schema.Tag} is not compiled."),
        },
    };

    private static WriteItem Logical(LogicalSchema schema, Dictionary<string, WriteItem> named)
    {
        var baseWriter = Build(schema.BaseSchema, named);
        var logicalType = schema.LogicalType;
        // timestamp-millis, the contracts' only logical type in use, without boxing the long: Apache.Avro's conversion
        // (TimestampMillisecond.ConvertToBaseValue), written out.
        if (logicalType is Avro.Util.TimestampMillisecond && schema.BaseSchema.Tag == Schema.Type.Long)
            return (v, o) => o.Long(v is DateTime t ? (long)(t.ToUniversalTime() - DateTime.UnixEpoch).TotalMilliseconds : throw Mismatch(schema, v));
        return (v, o) => baseWriter(v is null ? throw Mismatch(schema, v) : logicalType.ConvertToBaseValue(v, schema), o);
    }

    private static WriteItem Record(RecordSchema schema, Dictionary<string, WriteItem> named)
    {
        if (named.TryGetValue(schema.Fullname, out var known)) return known;
        var fields = new (int Position, WriteItem Write)[schema.Fields.Count];
        WriteItem write = (v, o) =>
        {
            var record = v as ISpecificRecord ?? throw Mismatch(schema, v);
            foreach (var (position, writeField) in fields) writeField(record.Get(position), o);
        };
        named[schema.Fullname] = write; // before the fields: a record may contain itself
        for (var i = 0; i < fields.Length; i++) fields[i] = (schema.Fields[i].Pos, Build(schema.Fields[i].Schema, named));
        return write;
    }

    private static WriteItem Enum(EnumSchema schema)
    {
        // C# value (boxed enum) → symbol ordinal, built at the first value (its type); looked up without converting the
        // value to a number, which boxed it again at every write.
        Dictionary<object, int>? ordinals = null;
        return (v, o) =>
        {
            if (v is not System.Enum value) throw Mismatch(schema, v);
            var map = ordinals ??= Ordinals(value.GetType(), schema);
            o.Long(map.TryGetValue(value, out var ordinal) ? ordinal : throw Mismatch(schema, v));
        };
    }

    // Not inline in the writer above: a lambda there capturing the value made the compiler allocate a closure for it at
    // every write, not only the first.
    private static Dictionary<object, int> Ordinals(Type type, EnumSchema schema) =>
        System.Enum.GetNames(type).ToDictionary(name => System.Enum.Parse(type, name), schema.Ordinal);

    private static WriteItem Array(ArraySchema schema, Dictionary<string, WriteItem> named)
    {
        var item = Build(schema.ItemSchema, named);
        return (v, o) =>
        {
            var list = v as IList ?? throw Mismatch(schema, v);
            if (list.Count > 0)
            {
                o.Long(list.Count);
                for (var i = 0; i < list.Count; i++) item(list[i], o);
            }
            o.Long(0);
        };
    }

    private static WriteItem Map(MapSchema schema, Dictionary<string, WriteItem> named)
    {
        var value = Build(schema.ValueSchema, named);
        return (v, o) =>
        {
            var map = v as IDictionary ?? throw Mismatch(schema, v);
            if (map.Count > 0)
            {
                o.Long(map.Count);
                foreach (DictionaryEntry entry in map)
                {
                    o.String((string)entry.Key);
                    value(entry.Value, o);
                }
            }
            o.Long(0);
        };
    }

    private static WriteItem Union(UnionSchema schema, Dictionary<string, WriteItem> named)
    {
        var nullBranch = schema.Schemas.ToList().FindIndex(s => s.Tag == Schema.Type.Null);
        if (schema.Count != 2 || nullBranch < 0) throw new NotSupportedException($"Only [\"null\", X] unions are compiled, not {schema}.");
        var otherBranch = 1 - nullBranch;
        var other = Build(schema.Schemas[otherBranch], named);
        return (v, o) =>
        {
            if (v is null) o.Long(nullBranch);
            else
            {
                o.Long(otherBranch);
                other(v, o);
            }
        };
    }

    private static AvroTypeException Mismatch(Schema schema, object? value) =>
        new($"{(value is null ? "null" : value.GetType().Name)} is not a valid {schema.Name} ({schema.Tag}).");
}

/// <summary>A growable byte buffer with Avro's binary primitives; reused by one thread for message after message.</summary>
internal sealed class AvroOutput
{
    private byte[] buffer = new byte[1024];
    private int length;

    public int Length => length;

    public int Capacity => buffer.Length;

    public void Reset() => length = 0;

    public byte[] ToArray() => buffer.AsSpan(0, length).ToArray();

    private Span<byte> Reserve(int count)
    {
        if (length + count > buffer.Length) System.Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length + count));
        return buffer.AsSpan(length, count);
    }

    public void Byte(byte value)
    {
        Reserve(1)[0] = value;
        length++;
    }

    public void Int32BigEndian(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(Reserve(4), value);
        length += 4;
    }

    /// <summary>Avro's int and long: zig-zag, then a variable-length quantity, 7 bits per byte, low bits first.</summary>
    public void Long(long value)
    {
        var n = (ulong)((value << 1) ^ (value >> 63));
        var span = Reserve(10);
        var i = 0;
        while (n > 0x7F)
        {
            span[i++] = (byte)((n & 0x7F) | 0x80);
            n >>= 7;
        }
        span[i++] = (byte)n;
        length += i;
    }

    public void Float(float value)
    {
        BinaryPrimitives.WriteSingleLittleEndian(Reserve(4), value);
        length += 4;
    }

    public void Double(double value)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(Reserve(8), value);
        length += 8;
    }

    public void String(string value)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        Long(count);
        Encoding.UTF8.GetBytes(value, Reserve(count));
        length += count;
    }

    public void Bytes(byte[] value)
    {
        Long(value.Length);
        Raw(value);
    }

    public void Raw(byte[] value)
    {
        value.CopyTo(Reserve(value.Length));
        length += value.Length;
    }
}
