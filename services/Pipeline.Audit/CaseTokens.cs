using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Pipeline.Audit;

/// <summary>
/// Keyed one-way tokens of case keys: <c>ct-</c> and 26 base32 characters (130 bits) of HMAC-SHA-256(key, case key).
/// The same case key always gives the same token, so an anonymous record still joins the other records of its case,
/// and whoever holds the key can find a URL's records by computing its token; the URL cannot be read back from a token.
/// </summary>
public sealed class CaseTokens
{
    private readonly byte[] key;

    public CaseTokens(IOptions<AuditOptions> options) : this(Convert.FromBase64String(options.Value.TokenKey ?? throw new InvalidOperationException("Audit:TokenKey is not set. " + AuditOptionsValidator.Fix)))
    {
    }

    public CaseTokens(byte[] key)
    {
        if (key.Length < 32) throw new ArgumentException("A case token key has at least 32 bytes. " + AuditOptionsValidator.Fix, nameof(key));
        this.key = key;
    }

    public string Of(string caseKey)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(caseKey), mac);
        return "ct-" + Base32(mac[..17])[..26];
    }

    private static string Base32(ReadOnlySpan<byte> data)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
        var text = new StringBuilder((data.Length * 8 + 4) / 5);
        int buffer = 0, bits = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                text.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }
        if (bits > 0) text.Append(alphabet[(buffer << (5 - bits)) & 31]);
        return text.ToString();
    }
}
