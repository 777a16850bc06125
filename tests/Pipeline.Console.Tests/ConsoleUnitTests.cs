using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Operator;

namespace Pipeline.Console.Tests;

public sealed class AssessmentLockTests
{
    private static readonly DateTime T = new(2026, 11, 2, 8, 0, 0, DateTimeKind.Utc);

    private static AssessmentLock Lock(string by, DateTime at) =>
        new() { eventId = by + at.Ticks, caseKey = "http://a.example/1", reportId = "r-1", lockedBy = by, lockedAt = at, expiresAt = at.AddMinutes(15) };

    [Fact]
    public void The_first_lock_wins_until_it_expires_its_holder_may_renew_it_and_a_release_frees_it()
    {
        var first = Lock("analyst-1", T);
        Assert.Same(first, AssessmentLocks.Apply(null, first));
        Assert.Same(first, AssessmentLocks.Apply(first, Lock("analyst-2", T.AddMinutes(1)))); // taken: the second loses on every replica
        var renewed = Lock("analyst-1", T.AddMinutes(10));
        Assert.Same(renewed, AssessmentLocks.Apply(first, renewed));
        var later = Lock("analyst-2", T.AddMinutes(15));
        Assert.Same(later, AssessmentLocks.Apply(first, later)); // expired
        Assert.Null(AssessmentLocks.Apply(first, null));
        Assert.Equal(first, AssessmentLocks.Holder(first, T.AddMinutes(14)));
        Assert.Null(AssessmentLocks.Holder(first, T.AddMinutes(15)));
    }

    [Fact]
    public void An_illegal_verdict_needs_a_category_and_a_legal_one_takes_none()
    {
        Assert.Single(ConsoleActions.Problems(new(Pipeline.Contracts.Classification.BASELINE, SeverityCategory.NOT_DETERMINED, AgeGroup.NOT_DETERMINED, Gender.NOT_DETERMINED, false, false, null)));
        Assert.Single(ConsoleActions.Problems(new(Pipeline.Contracts.Classification.NOT_ILLEGAL, SeverityCategory.A1, AgeGroup.NOT_DETERMINED, Gender.NOT_DETERMINED, false, false, null)));
        Assert.Empty(ConsoleActions.Problems(new(Pipeline.Contracts.Classification.NATIONAL, SeverityCategory.B2, AgeGroup.PUBESCENT, Gender.FEMALE, false, false, "note")));
    }
}

public sealed class ConsoleOptionsTests
{
    private static string Errors(ConsoleOptions o) => new ConsoleOptionsValidator().Validate(null, o) is { Failed: true } r ? r.FailureMessage : "";

    [Fact]
    public void Every_config_error_names_the_setting_and_the_fix()
    {
        Assert.Equal("", Errors(new ConsoleOptions { Users = [new() { Name = "analyst-7", PasswordHash = PasswordHashes.Hash("a long password"), Roles = ["analyst"] }] }));
        var errors = Errors(new ConsoleOptions
        {
            SessionMinutes = 0,
            Users = [new() { Name = "Analyst 7", PasswordHash = "secret", Roles = ["boss"] }],
            Oidc = new OidcSettings { Authority = "http://login.hotline.example", ClientId = "" },
        });
        foreach (var expected in new[]
        {
            "Console:SessionMinutes 0 must lie between 1 and 1440. Fix:", "Console:Users:0:Name 'Analyst 7' is not a user name. Fix:",
            "Console:Users:0:PasswordHash of 'Analyst 7' is not an ASP.NET Core Identity password hash. Fix: hash the password with `pipeline console hash-password`",
            "Console:Users:0:Roles [boss] of 'Analyst 7' must be one or more of analyst, manager, admin. Fix:",
            "Console:Oidc:Authority 'http://login.hotline.example' is plain HTTP. Fix:", "Console:Oidc:ClientId is not set while Console:Oidc:Authority is. Fix:",
        })
            Assert.Contains(expected, errors, StringComparison.Ordinal);
    }

    [Fact]
    public void A_password_hash_verifies_only_its_password()
    {
        var hash = PasswordHashes.Hash("correct-horse-battery");
        Assert.True(PasswordHashes.LooksValid(hash));
        Assert.True(PasswordHashes.Verify(hash, "correct-horse-battery"));
        Assert.False(PasswordHashes.Verify(hash, "correct-horse-batterY"));
        Assert.False(PasswordHashes.Verify("correct-horse-battery", "correct-horse-battery")); // a password in the hash's place never verifies
    }

    [Fact]
    public void The_console_refuses_to_start_with_a_bad_setting()
    {
        var e = Assert.Throws<OptionsValidationException>(() =>
        {
            using var app = ConsoleApp.Create([], new Dictionary<string, string?>
            {
                ["urls"] = "http://127.0.0.1:0", ["Kafka:BootstrapServers"] = "127.0.0.1:1", ["Kafka:SchemaRegistryUrl"] = "http://127.0.0.1:1",
                ["Console:LockMinutes"] = "0",
            });
            app.StartAsync().GetAwaiter().GetResult();
        });
        Assert.Contains("Console:LockMinutes 0 must lie between 1 and 480. Fix:", e.Message, StringComparison.Ordinal);
    }
}
