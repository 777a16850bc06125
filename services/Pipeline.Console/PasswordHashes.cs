using Microsoft.AspNetCore.Identity;

namespace Pipeline.Operator;

/// <summary>Password hashes of ASP.NET Core Identity's <see cref="PasswordHasher{TUser}"/> (PBKDF2-HMAC-SHA512, salted,
/// 100,000 iterations in format v3). The user type plays no part in the hash, so one hasher serves every user.</summary>
public static class PasswordHashes
{
    private static readonly PasswordHasher<string> Hasher = new();

    public static string Hash(string password) => Hasher.HashPassword("", password);

    public static bool Verify(string hash, string password)
    {
        if (!LooksValid(hash)) return false;
        return Hasher.VerifyHashedPassword("", hash, password) != PasswordVerificationResult.Failed;
    }

    /// <summary>A base64 Identity v3 hash (format marker 0x01, then the parameters, salt and subkey).</summary>
    public static bool LooksValid(string? hash)
    {
        if (string.IsNullOrWhiteSpace(hash)) return false;
        Span<byte> bytes = stackalloc byte[hash.Length];
        return Convert.TryFromBase64String(hash, bytes, out var n) && n > 13 && bytes[0] == 0x01;
    }
}
