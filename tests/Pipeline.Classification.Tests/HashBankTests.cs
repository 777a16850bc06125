using Confluent.SchemaRegistry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pipeline.Classification.Pdq;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.TestSupport;

namespace Pipeline.Classification.Tests;

public class PdqBankTests
{
    private static readonly DateTime T0 = new(2026, 11, 2, 8, 0, 0, DateTimeKind.Utc);

    internal static KnownHash Pdq(Pdq256 h, string bank = "iwf", string category = "A") => new()
    {
        eventId = "known-" + bank + "-" + h, algorithm = HashAlgorithm.PDQ, value = h.ToString(), bank = bank,
        category = category, addedBy = "test", addedAt = T0, reference = null,
    };

    internal static ContentHashes Report(Pdq256 h, int? quality) => new() { md5 = null, sha1 = null, sha256 = null, pdq = h.ToString(), pdqQuality = quality };

    [Fact]
    public void Pdq_near_duplicate_matches_with_its_distance_and_retraction_removes_it()
    {
        var random = new Random(4);
        var entry = PdqWorkload.Random(random);
        var bank = new HashBank();
        bank.Apply(HashBank.KeyOf(Pdq(entry)), Pdq(entry));
        bank.Apply(HashBank.KeyOf(Pdq(PdqWorkload.Random(random))), Pdq(PdqWorkload.Random(random)));
        var match = Assert.Single(bank.Match(Report(PdqWorkload.Flip(entry, 31, random), 90)));
        Assert.Equal(("iwf", HashAlgorithm.PDQ, 31, entry.ToString()), (match.bank, match.algorithm, match.distance, match.value));
        Assert.Empty(bank.Match(Report(PdqWorkload.Flip(entry, 32, random), 90)));

        var retracted = bank.Apply(HashBank.KeyOf(Pdq(entry)), null);
        Assert.Equal(entry.ToString(), retracted?.value);
        Assert.Empty(bank.Match(Report(entry, 90)));
        Assert.Equal(1, bank.Count);
    }

    [Theory]
    [InlineData(49, false)]
    [InlineData(50, true)]
    [InlineData(null, true)]
    public void Pdq_below_the_quality_threshold_is_not_matched(int? quality, bool matched)
    {
        var entry = PdqWorkload.Random(new Random(5));
        var bank = new HashBank();
        bank.Apply(HashBank.KeyOf(Pdq(entry)), Pdq(entry));
        Assert.Equal(matched, bank.Match(Report(entry, quality), new ClassificationOptions { PdqMinQuality = 50 }).Count == 1);
    }

    [Fact]
    public void Radius_is_configurable()
    {
        var random = new Random(6);
        var entry = PdqWorkload.Random(random);
        var bank = new HashBank();
        bank.Apply(HashBank.KeyOf(Pdq(entry)), Pdq(entry));
        var query = Report(PdqWorkload.Flip(entry, 20, random), 100);
        Assert.Empty(bank.Match(query, new ClassificationOptions { PdqRadius = 19 }));
        Assert.Single(bank.Match(query, new ClassificationOptions { PdqRadius = 20 }));
    }

    [Fact]
    public void Malformed_pdq_record_is_counted_and_kept_out()
    {
        var bank = new HashBank();
        var bad = Pdq(default);
        bad.value = "not-hex";
        bank.Apply("iwf:pdq:not-hex", bad);
        Assert.Equal((0, 1L), (bank.Count, bank.Invalid));
    }

    [Fact]
    public void Same_pdq_in_two_banks_matches_twice_and_an_update_replaces()
    {
        var h = PdqWorkload.Random(new Random(7));
        var bank = new HashBank();
        bank.Apply(HashBank.KeyOf(Pdq(h, "iwf")), Pdq(h, "iwf"));
        bank.Apply(HashBank.KeyOf(Pdq(h, "police-nl")), Pdq(h, "police-nl"));
        bank.Apply(HashBank.KeyOf(Pdq(h, "police-nl")), Pdq(h, "police-nl", "B"));
        Assert.Equal([("iwf", "A"), ("police-nl", "B")], bank.Match(Report(h, null)).Select(m => (m.bank, m.category)));
        Assert.Equal(2, bank.PdqCount);
    }

    [Fact]
    public void Options_validator_names_the_setting_and_the_fix()
    {
        var result = new ClassificationOptionsValidator().Validate(null, new ClassificationOptions { PdqRadius = 100, PdqMinQuality = -1 });
        Assert.True(result.Failed);
        Assert.Contains("Classification:PdqRadius", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Classification:PdqMinQuality", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Fix:", result.FailureMessage, StringComparison.Ordinal);
    }
}

/// <summary>The bank loads from hashes.known through a real (embedded) Kafka cluster and follows it live.</summary>
public class HashBankTopicTests
{
    [Fact]
    public async Task Bank_loads_from_the_topic_and_follows_adds_and_retractions_live()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync();
        var kafka = new KafkaOptions { BootstrapServers = runtime.BootstrapServers, SchemaRegistryUrl = runtime.SchemaRegistryUrl, SessionTimeoutMs = 3000 };
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        using var publisher = new EventPublisher(Options.Create(kafka), serdes, "test");
        var random = new Random(8);
        var initial = Enumerable.Range(0, 3000).Select(_ => PdqWorkload.Random(random)).ToArray();
        await Task.WhenAll(initial.Select(h => publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(PdqBankTests.Pdq(h)), PdqBankTests.Pdq(h))));
        await publisher.TombstoneAsync(Topics.HashesKnown, HashBank.KeyOf(PdqBankTests.Pdq(initial[0])));

        var bank = new HashBank();
        using var reader = new CompactedTopicReader<KnownHash>(kafka, serdes, Topics.HashesKnown, (key, value, _) => bank.Apply(key, value), NullLogger.Instance);
        reader.Start();
        await reader.CaughtUp.WaitAsync(TimeSpan.FromSeconds(120));
        bank.Compact();
        Assert.Equal(2999, bank.Count);
        Assert.Empty(bank.Match(PdqBankTests.Report(initial[0], null)));
        Assert.Equal(12, Assert.Single(bank.Match(PdqBankTests.Report(PdqWorkload.Flip(initial[1], 12, random), null))).distance);

        // live: a new entry arrives, an old one is retracted
        var added = PdqWorkload.Random(random);
        await publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(PdqBankTests.Pdq(added)), PdqBankTests.Pdq(added));
        await publisher.TombstoneAsync(Topics.HashesKnown, HashBank.KeyOf(PdqBankTests.Pdq(initial[1])));
        await Polling.Until(() => bank.Match(PdqBankTests.Report(added, null)).Count != 0 && bank.Match(PdqBankTests.Report(initial[1], null)).Count == 0,
            TimeSpan.FromSeconds(120), () => "the bank did not follow the added entry and the retraction");
        Assert.Single(bank.Match(PdqBankTests.Report(added, null)));
        Assert.Empty(bank.Match(PdqBankTests.Report(initial[1], null)));
        Assert.Equal(2999, bank.Count);
    }
}

public class HashListTests
{
    private static readonly DateTime T0 = new(2026, 11, 2, 8, 0, 0, DateTimeKind.Utc);
    private static readonly string Pdq = PdqWorkload.Random(new Random(1)).ToString();
    private static readonly string Sha256 = new('a', 64);

    [Fact]
    public void Csv_reports_added_duplicates_and_invalid_lines_with_line_numbers()
    {
        var csv = $"algorithm,value,category,reference\npdq,{Pdq},A,r1\nsha256,{Sha256.ToUpperInvariant()}\n\n# comment\npdq,{Pdq},A\nmd5,xyz\nsha512,{Sha256}\nsha1\n";
        var r = HashList.ReadCsv(csv, "iwf", "test", T0, new HashSet<string> { HashBank.KeyOf("iwf", HashAlgorithm.SHA256, Sha256) });
        Assert.Equal([2], r.Entries.Select(e => e.Line));
        Assert.Equal(("iwf", Pdq, "A", "r1"), (r.Entries[0].Entry.bank, r.Entries[0].Entry.value, r.Entries[0].Entry.category, r.Entries[0].Entry.reference));
        Assert.Equal([(3, "already in the bank"), (6, "line 2")], r.Duplicates.Select(d => (d.Line, d.Where)));
        Assert.Equal([7, 8, 9], r.Invalid.Select(i => i.Line));
        Assert.Contains("MD5 is 32 hex characters", r.Invalid[0].Reason, StringComparison.Ordinal);
        Assert.Contains("unknown algorithm 'sha512'", r.Invalid[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_array_and_json_lines_give_line_numbers()
    {
        var array = $"[\n  {{\"algorithm\":\"pdq\",\"value\":\"{Pdq}\"}},\n  {{\"algorithm\":\"pdq\",\"value\":\"{Pdq[..60]}\"}}\n]";
        var r = HashList.ReadJson(array, "iwf", "test", T0);
        Assert.Equal([2], r.Entries.Select(e => e.Line));
        Assert.Equal(3, Assert.Single(r.Invalid).Line);

        var lines = $"{{\"algorithm\":\"sha256\",\"value\":\"{Sha256}\"}}\nnot json\n";
        var l = HashList.ReadJson(lines, "iwf", "test", T0);
        Assert.Single(l.Entries);
        Assert.Equal(2, Assert.Single(l.Invalid).Line);
    }

    [Theory]
    [InlineData("", false)]
    [InlineData("police-nl", true)]
    [InlineData("iwf:x", false)]
    public void Bank_names_cannot_break_the_key(string bank, bool ok) => Assert.Equal(ok, HashList.BankProblem(bank) is null);
}
