using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Pipeline.Operator;

/// <summary>Section <c>Console</c>: the operator console.</summary>
public sealed class ConsoleOptions
{
    public const string Section = "Console";

    /// <summary>A session ends after this many minutes without a request (sliding: each request in the second half of
    /// the period renews it).</summary>
    public int SessionMinutes { get; set; } = 30;

    /// <summary>How long an analyst's lock on a report lasts without being renewed (opening the report renews it).</summary>
    public int LockMinutes { get; set; } = 15;

    /// <summary>Users from configuration, with hashed passwords. Users an admin adds are kept on console.users.v1 and
    /// take precedence over a configured user of the same name.</summary>
    public List<ConsoleUserSettings> Users { get; set; } = [];

    public OidcSettings Oidc { get; set; } = new();

    /// <summary>Cookies only over HTTPS (the default). False only where the console is served over plain HTTP on
    /// loopback (the demo, tests).</summary>
    public bool SecureCookies { get; set; } = true;
}

public sealed class ConsoleUserSettings
{
    public string Name { get; set; } = "";

    /// <summary>An ASP.NET Core Identity password hash (`pipeline console hash-password`), never the password.</summary>
    public string PasswordHash { get; set; } = "";

    public List<string> Roles { get; set; } = [];
}

/// <summary>Section <c>Console:Oidc</c>: sign-in through an OpenID Connect provider, only when Authority is set.</summary>
public sealed class OidcSettings
{
    public string? Authority { get; set; }
    public string? ClientId { get; set; }

    /// <summary>Secret: from the environment (Console__Oidc__ClientSecret) or a Secret, never a config file.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>The claim whose values are the console roles (analyst, manager, admin).</summary>
    public string RoleClaim { get; set; } = "roles";

    /// <summary>The claim that names the user (their pseudonymous id in assessments and the audit log).</summary>
    public string NameClaim { get; set; } = "preferred_username";

    /// <summary>The provider's name on the sign-in page.</summary>
    public string DisplayName { get; set; } = "single sign-on";

    public bool RequireHttpsMetadata { get; set; } = true;

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority);
}

public static partial class ConsoleRoles
{
    public const string Analyst = "analyst";
    public const string Manager = "manager";
    public const string Admin = "admin";

    public static IReadOnlyList<string> All { get; } = [Analyst, Manager, Admin];

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$")]
    public static partial Regex UserName();
}

public sealed class ConsoleOptionsValidator : IValidateOptions<ConsoleOptions>
{
    public ValidateOptionsResult Validate(string? name, ConsoleOptions o)
    {
        var errors = new List<string>();
        if (o.SessionMinutes is < 1 or > 24 * 60)
            errors.Add($"Console:SessionMinutes {o.SessionMinutes} must lie between 1 and 1440. Fix: e.g. Console:SessionMinutes=30.");
        if (o.LockMinutes is < 1 or > 8 * 60)
            errors.Add($"Console:LockMinutes {o.LockMinutes} must lie between 1 and 480. Fix: e.g. Console:LockMinutes=15.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < o.Users.Count; i++)
        {
            var u = o.Users[i];
            var at = $"Console:Users:{i}";
            if (!ConsoleRoles.UserName().IsMatch(u.Name ?? ""))
                errors.Add($"{at}:Name '{u.Name}' is not a user name. Fix: lower-case letters, digits, '.', '_' or '-', e.g. analyst-7 (a pseudonym: it names the analyst in assessments).");
            else if (!seen.Add(u.Name!))
                errors.Add($"{at}:Name '{u.Name}' is configured twice. Fix: give each user one entry.");
            if (!PasswordHashes.LooksValid(u.PasswordHash))
                errors.Add($"{at}:PasswordHash of '{u.Name}' is not an ASP.NET Core Identity password hash. Fix: hash the password with `pipeline console hash-password` and set the output; never the password itself.");
            if (u.Roles.Count == 0 || u.Roles.Any(r => !ConsoleRoles.All.Contains(r)))
                errors.Add($"{at}:Roles [{string.Join(", ", u.Roles)}] of '{u.Name}' must be one or more of analyst, manager, admin. Fix: e.g. Console:Users:{i}:Roles:0=analyst.");
        }
        if (o.Oidc.Enabled)
        {
            if (!Uri.TryCreate(o.Oidc.Authority, UriKind.Absolute, out var authority) || authority.Scheme is not ("https" or "http"))
                errors.Add($"Console:Oidc:Authority '{o.Oidc.Authority}' is not an absolute URL. Fix: the issuer URL of the provider, e.g. https://login.hotline.example/realms/hotline; or remove it to sign in with local accounts only.");
            else if (authority.Scheme == "http" && o.Oidc.RequireHttpsMetadata)
                errors.Add($"Console:Oidc:Authority '{o.Oidc.Authority}' is plain HTTP. Fix: use the provider's https:// URL (Console:Oidc:RequireHttpsMetadata=false only for a provider on loopback in tests).");
            if (string.IsNullOrWhiteSpace(o.Oidc.ClientId))
                errors.Add("Console:Oidc:ClientId is not set while Console:Oidc:Authority is. Fix: set the client id the provider registered for the console.");
            if (string.IsNullOrWhiteSpace(o.Oidc.RoleClaim))
                errors.Add("Console:Oidc:RoleClaim is empty. Fix: name the claim that carries analyst/manager/admin, e.g. roles.");
            if (string.IsNullOrWhiteSpace(o.Oidc.NameClaim))
                errors.Add("Console:Oidc:NameClaim is empty. Fix: name the claim that carries the user's pseudonym, e.g. preferred_username.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
