using FsCheck;
using FsCheck.Xunit;
using Pipeline.Classification.Pdq;

namespace Pipeline.Classification.Tests;

/// <summary>The index must return exactly what a linear scan over an independent model returns: same ids, same distances.</summary>
public class PdqIndexTests
{
    /// <summary>The reference: a plain list scanned linearly.</summary>
    private sealed class Model
    {
        public List<(Pdq256 Hash, int Id)> Entries { get; } = [];

        public List<(int, int)> Search(Pdq256 q, int radius) =>
            [.. Entries.Select(e => (e.Id, Pdq256.Distance(q, e.Hash))).Where(m => m.Item2 <= radius).Order()];
    }

    private static List<(int, int)> Sorted(IEnumerable<PdqMatch> matches) => [.. matches.Select(m => (m.Id, m.Distance)).Order()];

    /// <summary>Queries that stress the boundary: random, and for entries of the bank exactly 0, 1, 30, 31, 32 and 33 bits away.</summary>
    private static List<Pdq256> QueriesFor(IReadOnlyList<Pdq256> bank, Random random, int count)
    {
        var queries = new List<Pdq256>();
        int[] distances = [0, 1, 15, 30, 31, 32, 33];
        for (var i = 0; i < count; i++)
            queries.Add(bank.Count == 0 || i % 4 == 0 ? PdqWorkload.Random(random)
                : PdqWorkload.Flip(bank[random.Next(bank.Count)], distances[random.Next(distances.Length)], random));
        return queries;
    }

    private static void AssertSameAsModel(PdqIndex index, Model model, IReadOnlyList<Pdq256> queries, int radius)
    {
        var single = new List<PdqMatch>();
        foreach (var q in queries)
        {
            single.Clear();
            index.Search(q, radius, single);
            Assert.Equal(model.Search(q, radius), Sorted(single));
        }
        var batch = new List<PdqBatchMatch>();
        index.SearchBatch(queries.ToArray(), radius, batch);
        for (var i = 0; i < queries.Count; i++)
            Assert.Equal(model.Search(queries[i], radius), [.. batch.Where(m => m.Query == i).Select(m => (m.Id, m.Distance)).Order()]);
        Assert.Equal(model.Entries.Count, index.Count);
    }

    private static (PdqIndex, Model) Built(Pdq256[] bank)
    {
        var index = new PdqIndex();
        var model = new Model();
        index.Build(bank, Enumerable.Range(0, bank.Length).ToArray());
        for (var i = 0; i < bank.Length; i++) model.Entries.Add((bank[i], i));
        return (index, model);
    }

    [Property(MaxTest = 40)]
    public void Random_bank_gives_the_brute_force_answer(int seed, NonNegativeInt size)
    {
        var random = new Random(seed);
        var bank = PdqWorkload.Uniform(size.Get % 3000, seed);
        var (index, model) = Built(bank);
        AssertSameAsModel(index, model, QueriesFor(bank, random, 60), PdqIndex.DefaultRadius);
    }

    [Property(MaxTest = 40)]
    public void Clustered_bank_of_near_duplicates_gives_the_brute_force_answer(int seed, PositiveInt clusterSize, NonNegativeInt maxFlips)
    {
        var random = new Random(seed);
        var bank = PdqWorkload.Clustered(2000, seed, 1 + clusterSize.Get % 200, maxFlips.Get % 40);
        var (index, model) = Built(bank);
        AssertSameAsModel(index, model, QueriesFor(bank, random, 60), PdqIndex.DefaultRadius);
    }

    [Property(MaxTest = 40)]
    public void Any_radius_gives_the_brute_force_answer(int seed, NonNegativeInt radius)
    {
        var random = new Random(seed);
        var bank = PdqWorkload.Clustered(1500, seed, 50, 24);
        var (index, model) = Built(bank);
        AssertSameAsModel(index, model, QueriesFor(bank, random, 40), radius.Get % 70);
    }

    [Property(MaxTest = 30)]
    public void After_removes_the_removed_entries_are_gone_and_the_rest_found(int seed)
    {
        var random = new Random(seed);
        var bank = PdqWorkload.Clustered(1500, seed, 30, 20);
        var (index, model) = Built(bank);
        foreach (var i in Enumerable.Range(0, bank.Length).Where(_ => random.Next(3) == 0).ToList())
        {
            Assert.True(index.Remove(bank[i], i));
            model.Entries.Remove((bank[i], i));
        }
        Assert.False(index.Remove(PdqWorkload.Random(random), 0));
        AssertSameAsModel(index, model, QueriesFor(bank, random, 60), PdqIndex.DefaultRadius);
        index.Merge();
        Assert.Equal(0, index.PendingRemoves);
        AssertSameAsModel(index, model, QueriesFor(bank, random, 60), PdqIndex.DefaultRadius);
    }

    [Property(MaxTest = 30)]
    public void Live_adds_are_found_before_and_after_the_merge(int seed, NonNegativeInt threshold)
    {
        var random = new Random(seed);
        var bank = PdqWorkload.Clustered(1200, seed, 40, 20);
        var (index, model) = Built(bank);
        index.MergeThreshold = threshold.Get % 300;
        var nextId = bank.Length;
        for (var round = 0; round < 4; round++)
        {
            // near-duplicates of existing entries and fresh hashes, plus a removal in the delta
            for (var i = 0; i < 150; i++)
            {
                var h = i % 2 == 0 ? PdqWorkload.Flip(bank[random.Next(bank.Length)], random.Next(40), random) : PdqWorkload.Random(random);
                index.Add(h, nextId);
                model.Entries.Add((h, nextId++));
            }
            var (hash, id) = model.Entries[random.Next(model.Entries.Count)];
            Assert.True(index.Remove(hash, id));
            model.Entries.Remove((hash, id));
            AssertSameAsModel(index, model, QueriesFor([.. model.Entries.Select(e => e.Hash)], random, 40), PdqIndex.DefaultRadius);
        }
        index.Merge();
        Assert.Equal(0, index.PendingAdds);
        AssertSameAsModel(index, model, QueriesFor([.. model.Entries.Select(e => e.Hash)], random, 60), PdqIndex.DefaultRadius);
    }

    [Fact]
    public void Distance_31_matches_and_32_does_not()
    {
        var random = new Random(31);
        var bank = PdqWorkload.Uniform(50_000, 7);
        var (index, _) = Built(bank);
        var results = new List<PdqMatch>();
        for (var i = 0; i < 200; i++)
        {
            var target = random.Next(bank.Length);
            results.Clear();
            index.Search(PdqWorkload.Flip(bank[target], 31, random), 31, results);
            Assert.Equal([(target, 31)], Sorted(results));
            results.Clear();
            index.Search(PdqWorkload.Flip(bank[target], 32, random), 31, results);
            Assert.Empty(results);
        }
    }

    [Fact]
    public void Same_hash_under_two_ids_gives_both_and_removing_one_keeps_the_other()
    {
        var h = PdqWorkload.Random(new Random(1));
        var index = new PdqIndex();
        index.Build([h, h, PdqWorkload.Random(new Random(2))], [10, 11, 12]);
        var results = new List<PdqMatch>();
        index.Search(h, 0, results);
        Assert.Equal([(10, 0), (11, 0)], Sorted(results));
        Assert.True(index.Remove(h, 10));
        Assert.False(index.Remove(h, 10));
        results.Clear();
        index.Search(h, 31, results);
        Assert.Equal([(11, 0)], Sorted(results));
    }

    [Fact]
    public void Empty_index_finds_nothing()
    {
        var index = new PdqIndex();
        var results = new List<PdqMatch>();
        index.Search(default, 31, results);
        Assert.Empty(results);
        Assert.Equal(0, index.Count);
    }

    [Fact]
    public void Large_uniform_bank_with_real_table_shapes_gives_the_brute_force_answer()
    {
        // 2^18 entries: the offset tables index fewer bits than the substring, so residual filtering is exercised.
        var bank = PdqWorkload.Uniform(1 << 18, 11);
        var index = new PdqIndex();
        index.Build(bank, Enumerable.Range(0, bank.Length).ToArray());
        var queries = QueriesFor(bank, new Random(5), 300);
        var batch = new List<PdqBatchMatch>();
        index.SearchBatch(queries.ToArray(), 31, batch);
        var brute = new List<PdqMatch>();
        for (var i = 0; i < 30; i++)
        {
            brute.Clear();
            index.SearchBruteForce(queries[i], 31, brute);
            Assert.Equal(Sorted(brute), [.. batch.Where(m => m.Query == i).Select(m => (m.Id, m.Distance)).Order()]);
        }
    }
}

public class Pdq256Tests
{
    [Property(MaxTest = 500)]
    public bool Hex_round_trips(ulong a, ulong b, ulong c, ulong d)
    {
        var h = new Pdq256(a, b, c, d);
        return Pdq256.Parse(h.ToString()) == h && Pdq256.Parse(h.ToString().ToUpperInvariant()) == h && h.ToString().Length == 64;
    }

    [Property(MaxTest = 500)]
    public bool Distance_counts_flipped_bits(int seed, NonNegativeInt bits)
    {
        var random = new Random(seed);
        var h = PdqWorkload.Random(random);
        var k = bits.Get % 257;
        return Pdq256.Distance(h, PdqWorkload.Flip(h, k, random)) == k;
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("g000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000f")]
    [InlineData("+000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("000000000000000 000000000000000000000000000000000000000000000000")]
    public void Malformed_hex_is_rejected(string hex)
    {
        Assert.False(Pdq256.TryParse(hex, out _));
        Assert.Throws<FormatException>(() => Pdq256.Parse(hex));
    }

    [Fact]
    public void First_hex_digit_is_the_most_significant_bit()
    {
        var h = Pdq256.Parse("8" + new string('0', 63));
        Assert.Equal(1UL << 63, h.A);
        Assert.Equal(h, default(Pdq256).FlipBit(0));
        Assert.Equal(1UL, h.Bits(0, 1));
    }
}
