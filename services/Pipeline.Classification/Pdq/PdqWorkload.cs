namespace Pipeline.Classification.Pdq;

/// <summary>Synthetic PDQ banks and queries (random bits; no imagery): uniform, and clustered near-duplicates.</summary>
public static class PdqWorkload
{
    public static Pdq256 Random(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        Span<byte> b = stackalloc byte[32];
        random.NextBytes(b);
        return new Pdq256(BitConverter.ToUInt64(b), BitConverter.ToUInt64(b[8..]), BitConverter.ToUInt64(b[16..]), BitConverter.ToUInt64(b[24..]));
    }

    /// <summary>The hash with exactly <paramref name="bits"/> distinct random bits flipped (distance = bits).</summary>
    public static Pdq256 Flip(Pdq256 hash, int bits, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, Pdq256.BitCount);
        Span<bool> flipped = stackalloc bool[Pdq256.BitCount];
        for (var done = 0; done < bits;)
        {
            var i = random.Next(Pdq256.BitCount);
            if (flipped[i]) continue;
            flipped[i] = true;
            hash = hash.FlipBit(i);
            done++;
        }
        return hash;
    }

    public static Pdq256[] Uniform(int count, int seed)
    {
        var random = new Random(seed);
        var bank = new Pdq256[count];
        for (var i = 0; i < count; i++) bank[i] = Random(random);
        return bank;
    }

    /// <summary>
    /// A bank of near-duplicates: <paramref name="clusterSize"/> entries per random seed hash, each the seed with
    /// 0..<paramref name="maxFlips"/> random bits flipped (re-encodings and crops of the same picture hash like this).
    /// </summary>
    public static Pdq256[] Clustered(int count, int seed, int clusterSize = 64, int maxFlips = 16)
    {
        var random = new Random(seed);
        var bank = new Pdq256[count];
        var centre = default(Pdq256);
        for (var i = 0; i < count; i++)
        {
            if (i % clusterSize == 0) centre = Random(random);
            bank[i] = Flip(centre, random.Next(maxFlips + 1), random);
        }
        return bank;
    }

    /// <summary>Queries against a bank: half fresh random hashes (no match expected), half an entry of the bank with
    /// 0..<paramref name="maxFlips"/> bits flipped (at least that entry matches at radius ≥ maxFlips).</summary>
    public static Pdq256[] Queries(IReadOnlyList<Pdq256> bank, int count, int seed, int maxFlips = 24)
    {
        ArgumentNullException.ThrowIfNull(bank);
        var random = new Random(seed);
        var queries = new Pdq256[count];
        for (var i = 0; i < count; i++)
            queries[i] = i % 2 == 0 || bank.Count == 0 ? Random(random) : Flip(bank[random.Next(bank.Count)], random.Next(maxFlips + 1), random);
        return queries;
    }
}
