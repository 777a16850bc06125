using System.Globalization;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Operator;

/// <summary>A user as the console knows them: from configuration or from console.users.v1 (which wins).</summary>
public sealed record ConsoleAccount(string Name, string? PasswordHash, IReadOnlyList<string> Roles, bool Disabled, string Source);

/// <summary>The console's local accounts: Console:Users plus the users admins added on console.users.v1.</summary>
public sealed class ConsoleUsers(IOptions<ConsoleOptions> options, ConsoleTopics topics, EventPublisher publisher, TimeProvider time)
{
    public IReadOnlyList<ConsoleAccount> All
    {
        get
        {
            var all = options.Value.Users.ToDictionary(u => u.Name, u => new ConsoleAccount(u.Name, u.PasswordHash, u.Roles, false, "configuration"), StringComparer.Ordinal);
            foreach (var (name, u) in topics.TopicUsers) all[name] = new ConsoleAccount(u.userName, u.passwordHash, [.. u.roles], u.disabled, Topics.ConsoleUsers);
            return [.. all.Values.OrderBy(a => a.Name, StringComparer.Ordinal)];
        }
    }

    public ConsoleAccount? Find(string name) => All.FirstOrDefault(a => a.Name == name);

    /// <summary>The account whose password this is, or null (unknown user, wrong password, disabled, no local password).</summary>
    public ConsoleAccount? SignIn(string name, string password)
    {
        var account = Find(name.Trim().ToLowerInvariant());
        return account is { Disabled: false, PasswordHash: { } hash } && PasswordHashes.Verify(hash, password) ? account : null;
    }

    /// <summary>Adds or changes a user on console.users.v1. A null password keeps the current one.</summary>
    public async Task<ConsoleUser> SaveAsync(string name, string? password, IReadOnlyList<string> roles, bool disabled, string by, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var hash = password is { Length: > 0 } ? PasswordHashes.Hash(password) : Find(name)?.PasswordHash;
        var user = new ConsoleUser
        {
            // What changed is part of the cause: two changes within one clock tick stay two records.
            eventId = EventIds.Derive("console-user", name, now.Ticks.ToString(CultureInfo.InvariantCulture), string.Join(",", roles), disabled ? "disabled" : "active", hash),
            userName = name, passwordHash = hash, roles = [.. roles], disabled = disabled, updatedAt = now, updatedBy = by,
        };
        await publisher.PublishAsync(Topics.ConsoleUsers, name, user, ct: ct);
        return user;
    }
}
