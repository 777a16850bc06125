using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Numerics;

namespace Pipeline.Classification.Pdq;

/// <summary>A 256-bit PDQ hash: 64 hex characters, most significant first (A holds the first 16).</summary>
public readonly record struct Pdq256(ulong A, ulong B, ulong C, ulong D)
{
    public const int BitCount = 256;
    public const int HexLength = 64;

    public static Pdq256 Parse(string hex) =>
        TryParse(hex, out var h) ? h
        : throw new FormatException($"A PDQ hash is {HexLength} hex characters (0-9, a-f); got {(hex is null ? "null" : hex.Length + " characters")}.");

    public static bool TryParse([NotNullWhen(true)] string? hex, out Pdq256 hash) => TryParse(hex.AsSpan(), out hash) && hex is not null;

    public static bool TryParse(ReadOnlySpan<char> hex, out Pdq256 hash)
    {
        hash = default;
        if (hex.Length != HexLength) return false;
        if (!ulong.TryParse(hex[..16], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var a)
            || !ulong.TryParse(hex[16..32], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b)
            || !ulong.TryParse(hex[32..48], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var c)
            || !ulong.TryParse(hex[48..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var d)) return false;
        hash = new Pdq256(a, b, c, d);
        return true;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{A:x16}{B:x16}{C:x16}{D:x16}");

    public static int Distance(in Pdq256 x, in Pdq256 y) =>
        BitOperations.PopCount(x.A ^ y.A) + BitOperations.PopCount(x.B ^ y.B)
        + BitOperations.PopCount(x.C ^ y.C) + BitOperations.PopCount(x.D ^ y.D);

    public int DistanceTo(in Pdq256 other) => Distance(this, other);

    public static Pdq256 operator ^(in Pdq256 x, in Pdq256 y) => new(x.A ^ y.A, x.B ^ y.B, x.C ^ y.C, x.D ^ y.D);

    /// <summary>Bits [start, start + length) counted from the most significant bit of A; length ≤ 32.</summary>
    public ulong Bits(int start, int length)
    {
        var word = start >> 6;
        var offset = start & 63;
        var hi = Word(word);
        if (offset + length <= 64) return (hi >> (64 - offset - length)) & ((1UL << length) - 1);
        var lo = Word(word + 1);
        var fromHi = 64 - offset;
        var fromLo = length - fromHi;
        return ((hi & ((1UL << fromHi) - 1)) << fromLo) | (lo >> (64 - fromLo));
    }

    /// <summary>The hash with bit i (0 = most significant bit of A) flipped.</summary>
    public Pdq256 FlipBit(int i) => (i >> 6) switch
    {
        0 => this with { A = A ^ (1UL << (63 - (i & 63))) },
        1 => this with { B = B ^ (1UL << (63 - (i & 63))) },
        2 => this with { C = C ^ (1UL << (63 - (i & 63))) },
        3 => this with { D = D ^ (1UL << (63 - (i & 63))) },
        _ => throw new ArgumentOutOfRangeException(nameof(i), i, "A PDQ hash has bits 0..255."),
    };

    private ulong Word(int i) => i switch { 0 => A, 1 => B, 2 => C, _ => D };
}

/// <summary>An index entry within the search radius: the caller's id and the Hamming distance.</summary>
public readonly record struct PdqMatch(int Id, int Distance);

/// <summary>A match of query number <see cref="Query"/> in a batch.</summary>
public readonly record struct PdqBatchMatch(int Query, int Id, int Distance);
