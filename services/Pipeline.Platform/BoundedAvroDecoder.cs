using System.Buffers.Binary;
using System.Text;
using Avro;
using Avro.IO;

namespace Pipeline.Platform;

/// <summary>What one message may cost to decode. A payload that asks for more is refused before anything is allocated.</summary>
public sealed record AvroDecodeLimits
{
    /// <summary>Array and map entries in one message, all collections together (an array of nulls costs no bytes, so
    /// the bytes alone do not bound it).</summary>
    public int MaxItems { get; init; } = 100_000;

    // No time budget: with every length checked against the bytes that follow and the entries counted, a decode's work
    // is linear in the payload's bytes and entries, so the payload alone decides whether it is refused. A wall-clock
    // budget (1 s until 2026-12-04) refused a legitimate takedown request in CI on a loaded machine (the first decode
    // after a restart, JIT included, descheduled for over a second): a verdict must not depend on the machine's load.

    public static AvroDecodeLimits Default { get; } = new();
}

/// <summary>Thrown when a payload is malformed or asks for more than <see cref="AvroDecodeLimits"/> allow.</summary>
public sealed class AvroPayloadException(string message) : AvroException(message);

/// <summary>
/// An Avro binary decoder over one message's bytes that checks every length prefix against the bytes that follow
/// before it allocates, and keeps a per-message budget of collection entries. Apache.Avro's BinaryDecoder
/// trusts the prefixes: a 250-byte payload claiming a 2 GiB string or a billion-entry array made it allocate
/// gigabytes (issue 15). Same wire format and the same calls as BinaryDecoder.
/// </summary>
public sealed class BoundedAvroDecoder : Avro.IO.Decoder
{
    private readonly ReadOnlyMemory<byte> data;
    private readonly AvroDecodeLimits limits;
    private int position;
    private long items;

    public BoundedAvroDecoder(ReadOnlyMemory<byte> data, AvroDecodeLimits? limits = null)
    {
        this.data = data;
        this.limits = limits ?? AvroDecodeLimits.Default;
    }

    /// <summary>Bytes not yet read.</summary>
    public int Remaining => data.Length - position;

    private ReadOnlySpan<byte> Span => data.Span;

    public void ReadNull()
    {
    }

    public bool ReadBoolean()
    {
        var b = ReadByte();
        return b switch
        {
            0 => false,
            1 => true,
            _ => throw new AvroPayloadException($"A boolean at byte {position - 1} is {b}, not 0 or 1."),
        };
    }

    public int ReadInt()
    {
        var value = ReadLong();
        if (value is < int.MinValue or > int.MaxValue) throw new AvroPayloadException($"An int before byte {position} is out of range ({value}).");
        return (int)value;
    }

    public long ReadLong()
    {
        ulong raw = 0;
        var shift = 0;
        while (true)
        {
            var b = ReadByte();
            raw |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) break;
            shift += 7;
            if (shift > 63) throw new AvroPayloadException($"A variable-length integer before byte {position} is longer than 10 bytes.");
        }
        return (long)(raw >> 1) ^ -(long)(raw & 1);
    }

    public float ReadFloat() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

    public double ReadDouble() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

    public byte[] ReadBytes() => Take(Length("bytes")).ToArray();

    public string ReadString() => Encoding.UTF8.GetString(Take(Length("string")));

    public int ReadEnum() => ReadInt();

    public long ReadArrayStart() => BlockCount("array");

    public long ReadArrayNext() => BlockCount("array");

    public long ReadMapStart() => BlockCount("map");

    public long ReadMapNext() => BlockCount("map");

    public int ReadUnionIndex() => ReadInt();

    public void ReadFixed(byte[] buffer) => ReadFixed(buffer, 0, buffer.Length);

    public void ReadFixed(byte[] buffer, int start, int length) => Take(length).CopyTo(buffer.AsSpan(start, length));

    public void SkipNull()
    {
    }

    public void SkipBoolean() => ReadBoolean();

    public void SkipInt() => ReadLong();

    public void SkipLong() => ReadLong();

    public void SkipFloat() => Take(4);

    public void SkipDouble() => Take(8);

    public void SkipBytes() => Take(Length("bytes"));

    public void SkipString() => Take(Length("string"));

    public void SkipEnum() => ReadLong();

    public void SkipUnionIndex() => ReadLong();

    public void SkipFixed(int len) => Take(len);

    private byte ReadByte()
    {
        if (position >= data.Length) throw new AvroPayloadException($"The payload ends at byte {data.Length} in the middle of a value.");
        return Span[position++];
    }

    private ReadOnlySpan<byte> Take(int length)
    {
        if (length < 0 || length > Remaining)
            throw new AvroPayloadException($"A value at byte {position} needs {length} bytes but only {Remaining} follow.");
        var span = Span.Slice(position, length);
        position += length;
        return span;
    }

    private int Length(string what)
    {
        var at = position;
        var length = ReadLong();
        if (length < 0) throw new AvroPayloadException($"A {what} at byte {at} has a negative length ({length}).");
        if (length > Remaining) throw new AvroPayloadException($"A {what} at byte {at} claims {length:N0} bytes but only {Remaining:N0} follow.");
        return (int)length;
    }

    /// <summary>A block of a collection: its entry count (negative counts are followed by the block's byte size).</summary>
    private long BlockCount(string what)
    {
        var at = position;
        var count = ReadLong();
        if (count < 0)
        {
            if (count == long.MinValue) throw new AvroPayloadException($"An {what} block at byte {at} has an invalid count.");
            count = -count;
            var size = ReadLong();
            if (size < 0 || size > Remaining) throw new AvroPayloadException($"An {what} block at byte {at} claims {size:N0} bytes but only {Remaining:N0} follow.");
        }
        // A map entry is at least its key's length byte; an array item may be empty (null), so arrays are bounded by
        // the item budget alone.
        if (what == "map" && count > Remaining) throw new AvroPayloadException($"A map block at byte {at} claims {count:N0} entries but only {Remaining:N0} bytes follow.");
        items += count;
        if (items > limits.MaxItems) throw new AvroPayloadException($"The payload claims {items:N0} array/map entries (at byte {at}); at most {limits.MaxItems:N0} are read per message.");
        return count;
    }
}
