using Pipeline.Classification.Pdq;
using Pipeline.Contracts;

namespace Pipeline.Classification;

/// <summary>
/// Known hashes from every bank: exact lookup for md5, sha1 and sha256, and a <see cref="PdqIndex"/> for PDQ
/// near-duplicates within a radius. Built from the compacted hashes.known topic (key bank:algorithm:value); a
/// tombstone retracts an entry. One lock guards both: the topic reader applies while the processor matches.
/// </summary>
public sealed class HashBank
{
    private readonly Lock gate = new();
    // (algorithm, lower-case hex) → entries by bank key
    private readonly Dictionary<(HashAlgorithm, string), Dictionary<string, KnownHash>> exact = [];
    private readonly Dictionary<string, Stored> byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<int, KnownHash> pdqEntries = [];
    private readonly PdqIndex pdq = new();
    private int nextPdqId;

    private readonly record struct Stored(HashAlgorithm Algorithm, string Value, int PdqId);

    public int Count { get { lock (gate) return byKey.Count; } }

    public int PdqCount { get { lock (gate) return pdq.Count; } }

    /// <summary>Whether the entry with this key (bank:algorithm:value) is in the bank.</summary>
    public bool Contains(string key)
    {
        lock (gate) return byKey.ContainsKey(key);
    }

    /// <summary>Records whose value is not a valid hash for their algorithm (kept out of the bank, counted).</summary>
    public long Invalid { get; private set; }

    public static string KeyOf(KnownHash h) => KeyOf(h.bank, h.algorithm, h.value);

    public static string KeyOf(string bank, HashAlgorithm algorithm, string value) =>
        $"{bank}:{algorithm.ToString().ToLowerInvariant()}:{value.ToLowerInvariant()}";

    /// <summary>Expected hex length per algorithm.</summary>
    public static int HexLength(HashAlgorithm algorithm) => algorithm switch
    {
        HashAlgorithm.MD5 => 32,
        HashAlgorithm.SHA1 => 40,
        HashAlgorithm.SHA256 => 64,
        HashAlgorithm.PDQ => Pdq256.HexLength,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unknown hash algorithm."),
    };

    /// <summary>Null if the value is a well-formed hash of the algorithm, otherwise why not.</summary>
    public static string? Problem(HashAlgorithm algorithm, string? value)
    {
        if (string.IsNullOrEmpty(value)) return "empty value";
        var length = HexLength(algorithm);
        if (value.Length != length) return $"{algorithm} is {length} hex characters, got {value.Length}";
        foreach (var ch in value)
            if (!char.IsAsciiHexDigit(ch)) return $"'{ch}' is not a hex digit";
        return null;
    }

    /// <summary>Applies one record of the topic: an entry, or a tombstone (null) that retracts the key.</summary>
    /// <returns>The entry that was retracted or replaced, if any.</returns>
    public KnownHash? Apply(string key, KnownHash? entry)
    {
        lock (gate)
        {
            var previous = RemoveKey(key);
            if (entry is null) return previous;
            if (Problem(entry.algorithm, entry.value) is not null)
            {
                Invalid++;
                return previous;
            }
            var value = entry.value.ToLowerInvariant();
            var pdqId = -1;
            if (entry.algorithm == HashAlgorithm.PDQ)
            {
                pdqId = nextPdqId++;
                pdq.Add(Pdq256.Parse(value), pdqId);
                pdqEntries[pdqId] = entry;
            }
            else
            {
                if (!exact.TryGetValue((entry.algorithm, value), out var banks)) exact[(entry.algorithm, value)] = banks = new(StringComparer.Ordinal);
                banks[key] = entry;
            }
            byKey[key] = new Stored(entry.algorithm, value, pdqId);
            return previous;
        }
    }

    /// <summary>Folds pending PDQ changes into the index's bulk arrays (after a bulk load).</summary>
    public void Compact()
    {
        lock (gate) pdq.Merge();
    }

    public List<HashMatch> Match(ContentHashes? hashes) => Match(hashes, new ClassificationOptions());

    public List<HashMatch> Match(ContentHashes? hashes, ClassificationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var matches = new List<HashMatch>();
        if (hashes is null) return matches;
        lock (gate)
        {
            Add(HashAlgorithm.MD5, hashes.md5);
            Add(HashAlgorithm.SHA1, hashes.sha1);
            Add(HashAlgorithm.SHA256, hashes.sha256);
            if (hashes.pdq is { } pdqHex && Pdq256.TryParse(pdqHex, out var query)
                && (hashes.pdqQuality is null || hashes.pdqQuality >= options.PdqMinQuality))
            {
                var found = new List<PdqMatch>();
                pdq.Search(query, options.PdqRadius, found);
                matches.AddRange(found
                    .Select(m => (Match: m, Entry: pdqEntries[m.Id]))
                    .OrderBy(m => m.Match.Distance).ThenBy(m => m.Entry.bank, StringComparer.Ordinal).ThenBy(m => m.Entry.value, StringComparer.Ordinal)
                    .Select(m => new HashMatch
                    {
                        bank = m.Entry.bank, algorithm = HashAlgorithm.PDQ, value = m.Entry.value.ToLowerInvariant(), distance = m.Match.Distance, category = m.Entry.category,
                    }));
            }
        }
        return matches;

        void Add(HashAlgorithm algorithm, string? value)
        {
            if (value is null || !exact.TryGetValue((algorithm, value.ToLowerInvariant()), out var banks)) return;
            matches.AddRange(banks.Values.OrderBy(b => b.bank, StringComparer.Ordinal).Select(b => new HashMatch
            {
                bank = b.bank, algorithm = algorithm, value = b.value.ToLowerInvariant(), distance = 0, category = b.category,
            }));
        }
    }

    private KnownHash? RemoveKey(string key)
    {
        if (!byKey.Remove(key, out var stored)) return null;
        if (stored.Algorithm == HashAlgorithm.PDQ)
        {
            pdqEntries.Remove(stored.PdqId, out var old);
            pdq.Remove(Pdq256.Parse(stored.Value), stored.PdqId);
            return old;
        }
        if (!exact.TryGetValue((stored.Algorithm, stored.Value), out var banks) || !banks.Remove(key, out var entry)) return null;
        if (banks.Count == 0) exact.Remove((stored.Algorithm, stored.Value));
        return entry;
    }
}
