using System.Security.Cryptography;
using System.Text;

namespace Pipeline.Intake;

/// <summary>
/// One API key per hotline, stored only as <c>sha256:&lt;hex&gt;</c> of the key (Intake:ApiKeys:&lt;hotline&gt;). Keys are
/// long random secrets, so a plain SHA-256 is enough (no password stretching needed) and keeps every request cheap.
/// </summary>
public sealed class ApiKeys(IReadOnlyDictionary<string, string> stored)
{
    private readonly List<(string Hotline, byte[] Hash)> keys = stored
        .Where(e => IsValidStoredHash(e.Value))
        .Select(e => (e.Key, Convert.FromHexString(e.Value.AsSpan(7))))
        .ToList();

    public int Count => keys.Count;

    public static string Hash(string key) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static bool IsValidStoredHash(string? value) =>
        value is { Length: 71 } && value.StartsWith("sha256:", StringComparison.Ordinal) && value.AsSpan(7).ContainsAnyExcept(Hex) == false;

    private static readonly System.Buffers.SearchValues<char> Hex = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    /// <summary>The hotline that owns <paramref name="key"/>, or null. Compares every stored hash in constant time.</summary>
    public string? HotlineOf(string? key)
    {
        if (string.IsNullOrEmpty(key)) return null;
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        string? found = null;
        foreach (var (hotline, stored) in keys)
            if (CryptographicOperations.FixedTimeEquals(hash, stored)) found ??= hotline;
        return found;
    }
}
