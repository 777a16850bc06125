using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Pipeline.Platform;

/// <summary>
/// Deterministic event ids: the same cause always yields the same id, so a replay after a crash produces events
/// that downstream stages recognise as already seen (DESIGN.md, "Delivery guarantee").
/// </summary>
public static class EventIds
{
    /// <summary>A UUID-formatted id (version 8, name-based on SHA-256) from the kind of event and its cause.</summary>
    public static string Derive(string kind, params ReadOnlySpan<string?> cause)
    {
        // Length-prefixed parts: no two different causes (null vs "", or moved boundaries) give the same text. The text
        // is "kind|len:part|len:part…" (len -1 for null), hashed as UTF-8; it is written as UTF-8 straight into a
        // buffer on the stack (a pooled one if long), not built as a string first: audit alone derives an id for each of
        // about ten messages per report (issue 11). EventIdsTests pins the ids to the string-built form.
        var max = Encoding.UTF8.GetMaxByteCount(kind.Length);
        foreach (var part in cause) max += 13 + (part is null ? 0 : Encoding.UTF8.GetMaxByteCount(part.Length)); // '|', up to 11 digits, ':'
        byte[]? rented = null;
        var text = max <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(max));
        var n = Encoding.UTF8.GetBytes(kind, text);
        foreach (var part in cause)
        {
            text[n++] = (byte)'|';
            (part?.Length ?? -1).TryFormat(text[n..], out var digits, provider: CultureInfo.InvariantCulture);
            n += digits;
            text[n++] = (byte)':';
            if (part is not null) n += Encoding.UTF8.GetBytes(part, text[n..]);
        }
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(text[..n], hash);
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80); // version 8
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80); // RFC 9562 variant
        return new Guid(hash[..16], bigEndian: true).ToString();
    }
}
