using System.Security.Cryptography;
using System.Text;

namespace Pipeline.Platform;

/// <summary>The hotline's HMAC signature, one scheme both ways: notices we POST to hosters and the confirmations they
/// POST back carry <c>X-Signature: sha256=&lt;lower-case hex HMAC-SHA256(key, exact body)&gt;</c>.</summary>
public static class WebhookSignature
{
    public static string Sign(byte[] body, string secret) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));
}
