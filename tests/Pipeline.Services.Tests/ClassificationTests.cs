using Pipeline.Classification;
using Pipeline.Contracts;

namespace Pipeline.Services.Tests;

using Classification = Pipeline.Contracts.Classification;

public class HashBankTests
{
    private static KnownHash Entry(HashAlgorithm algorithm, string value, string bank = "police-nl", string? category = "A") => new()
    {
        eventId = "known-" + bank + "-" + value[..8],
        algorithm = algorithm,
        value = value,
        bank = bank,
        category = category,
        addedBy = "import-job",
        addedAt = Fixtures.T0.AddDays(-1),
        reference = null,
    };

    private static HashBank Bank(params KnownHash[] entries)
    {
        var bank = new HashBank();
        foreach (var e in entries) bank.Apply(HashBank.KeyOf(e), e);
        return bank;
    }

    private static ContentHashes Only(string? md5 = null, string? sha1 = null, string? sha256 = null) => Fixtures.Hashes(md5, sha1, sha256, null);

    [Fact]
    public void Key_is_bank_algorithm_and_lower_case_value() =>
        Assert.Equal("police-nl:sha256:" + Fixtures.Sha256, HashBank.KeyOf(Entry(HashAlgorithm.SHA256, Fixtures.Sha256.ToUpperInvariant())));

    [Fact]
    public void Sha256_matches_exactly()
    {
        var match = Assert.Single(Bank(Entry(HashAlgorithm.SHA256, Fixtures.Sha256)).Match(Only(sha256: Fixtures.Sha256)));
        Assert.Equal("police-nl", match.bank);
        Assert.Equal(HashAlgorithm.SHA256, match.algorithm);
        Assert.Equal(Fixtures.Sha256, match.value);
        Assert.Equal(0, match.distance);
        Assert.Equal("A", match.category);
    }

    [Fact]
    public void Md5_matches() =>
        Assert.Equal(HashAlgorithm.MD5, Assert.Single(Bank(Entry(HashAlgorithm.MD5, Fixtures.Md5)).Match(Only(md5: Fixtures.Md5))).algorithm);

    [Fact]
    public void Sha1_matches() =>
        Assert.Equal(HashAlgorithm.SHA1, Assert.Single(Bank(Entry(HashAlgorithm.SHA1, Fixtures.Sha1)).Match(Only(sha1: Fixtures.Sha1))).algorithm);

    [Fact]
    public void Upper_case_report_hash_matches_lower_case_entry() =>
        Assert.Single(Bank(Entry(HashAlgorithm.SHA256, Fixtures.Sha256)).Match(Only(sha256: Fixtures.Sha256.ToUpperInvariant())));

    [Fact]
    public void Upper_case_entry_matches_and_is_reported_in_lower_case()
    {
        var match = Assert.Single(Bank(Entry(HashAlgorithm.SHA256, Fixtures.Sha256.ToUpperInvariant())).Match(Only(sha256: Fixtures.Sha256)));
        Assert.Equal(Fixtures.Sha256, match.value);
    }

    [Fact]
    public void Same_value_under_another_algorithm_does_not_match() =>
        Assert.Empty(Bank(Entry(HashAlgorithm.SHA256, Fixtures.Sha256)).Match(Only(md5: Fixtures.Md5, sha1: Fixtures.Sha1, sha256: Fixtures.OtherSha256)));

    [Fact]
    public void No_hashes_no_matches() => Assert.Empty(Bank(Entry(HashAlgorithm.SHA256, Fixtures.Sha256)).Match(null));

    [Fact]
    public void Two_banks_matching_the_same_hash_give_two_matches_sorted_by_bank()
    {
        var bank = Bank(Entry(HashAlgorithm.SHA256, Fixtures.Sha256, "police-nl"), Entry(HashAlgorithm.SHA256, Fixtures.Sha256, "iwf", "B"));
        var matches = bank.Match(Only(sha256: Fixtures.Sha256));
        Assert.Equal(["iwf", "police-nl"], matches.Select(m => m.bank));
        Assert.Equal(["B", "A"], matches.Select(m => m.category));
    }

    [Fact]
    public void Matches_on_several_algorithms_are_all_reported()
    {
        var bank = Bank(Entry(HashAlgorithm.MD5, Fixtures.Md5), Entry(HashAlgorithm.SHA256, Fixtures.Sha256));
        var matches = bank.Match(Only(md5: Fixtures.Md5, sha256: Fixtures.Sha256));
        Assert.Equal([HashAlgorithm.MD5, HashAlgorithm.SHA256], matches.Select(m => m.algorithm));
    }

    [Fact]
    public void Tombstone_retracts_the_entry()
    {
        var entry = Entry(HashAlgorithm.SHA256, Fixtures.Sha256);
        var bank = Bank(entry);
        bank.Apply(HashBank.KeyOf(entry), null);
        Assert.Empty(bank.Match(Only(sha256: Fixtures.Sha256)));
        Assert.Equal(0, bank.Count);
    }

    [Fact]
    public void Tombstone_of_one_bank_keeps_the_other_banks_entry()
    {
        var police = Entry(HashAlgorithm.SHA256, Fixtures.Sha256, "police-nl");
        var bank = Bank(police, Entry(HashAlgorithm.SHA256, Fixtures.Sha256, "iwf"));
        bank.Apply(HashBank.KeyOf(police), null);
        Assert.Equal("iwf", Assert.Single(bank.Match(Only(sha256: Fixtures.Sha256))).bank);
    }

    [Fact]
    public void Tombstone_for_an_unknown_key_is_harmless()
    {
        var bank = Bank(Entry(HashAlgorithm.SHA256, Fixtures.Sha256));
        bank.Apply("iwf:sha256:" + Fixtures.OtherSha256, null);
        Assert.Equal(1, bank.Count);
    }

    [Fact]
    public void Count_counts_entries_and_a_repeated_key_once()
    {
        var entry = Entry(HashAlgorithm.SHA256, Fixtures.Sha256);
        var bank = Bank(entry, Entry(HashAlgorithm.MD5, Fixtures.Md5), Entry(HashAlgorithm.SHA256, Fixtures.Sha256, "iwf"));
        bank.Apply(HashBank.KeyOf(entry), entry);
        Assert.Equal(3, bank.Count);
    }
}

public class ClassifierTests
{
    private static readonly HashMatch[] OneMatch = [Fixtures.Match()];

    [Theory]
    [InlineData(null)]
    [InlineData(Classification.BASELINE)]
    [InlineData(Classification.NATIONAL)]
    [InlineData(Classification.NOT_ILLEGAL)]
    [InlineData(Classification.DOUBTFUL)]
    public void Any_bank_match_is_known_whatever_the_assessment(Classification? classification) =>
        Assert.Equal(Verdict.KNOWN, Classifier.Decide(OneMatch, classification is { } c ? Fixtures.Assessment(c) : null));

    [Theory]
    [InlineData(Classification.BASELINE, Verdict.NEW)]
    [InlineData(Classification.NATIONAL, Verdict.NEW)]
    [InlineData(Classification.NOT_ILLEGAL, Verdict.NOT_ILLEGAL)]
    [InlineData(Classification.DOUBTFUL, Verdict.NEEDS_ASSESSMENT)]
    public void Without_match_the_assessment_decides(Classification classification, Verdict verdict) =>
        Assert.Equal(verdict, Classifier.Decide([], Fixtures.Assessment(classification)));

    [Fact]
    public void Without_match_or_assessment_it_needs_assessment() =>
        Assert.Equal(Verdict.NEEDS_ASSESSMENT, Classifier.Decide([], null));
}
