using Microsoft.Extensions.Options;

namespace Pipeline.Audit;

/// <summary>Section <c>Audit</c>.</summary>
public sealed class AuditOptions
{
    public const string Section = "Audit";

    /// <summary>Secret: the key of the case tokens (HMAC-SHA-256), base64, at least 32 bytes. The same key must be used for
    /// as long as tokens must join (the whole audit period): a new key makes new tokens. Supply it through the environment
    /// (Audit__TokenKey) or a Secret, never a config file.</summary>
    public string? TokenKey { get; set; }
}

public sealed class AuditOptionsValidator : IValidateOptions<AuditOptions>
{
    public const string Fix = "Fix: set Audit:TokenKey (environment variable Audit__TokenKey, from a Secret) to at least 32 random bytes in base64, e.g. the output of `openssl rand -base64 32`, and keep it: case tokens made with another key no longer join.";

    public ValidateOptionsResult Validate(string? name, AuditOptions o)
    {
        if (string.IsNullOrWhiteSpace(o.TokenKey)) return ValidateOptionsResult.Fail("Audit:TokenKey is not set. " + Fix);
        byte[] key;
        try
        {
            key = Convert.FromBase64String(o.TokenKey);
        }
        catch (FormatException)
        {
            return ValidateOptionsResult.Fail("Audit:TokenKey is not base64. " + Fix);
        }
        return key.Length < 32
            ? ValidateOptionsResult.Fail($"Audit:TokenKey is {key.Length} bytes; it must be at least 32. " + Fix)
            : ValidateOptionsResult.Success;
    }
}
