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
        // Length-prefixed parts: no two different causes (null vs "", or moved boundaries) give the same text.
        var text = new StringBuilder(kind);
        foreach (var part in cause)
            text.Append('|').Append(part is null ? "-1" : part.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append(':').Append(part);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()), hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80); // version 8
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80); // RFC 9562 variant
        return new Guid(hash[..16], bigEndian: true).ToString();
    }
}
