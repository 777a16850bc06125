using System.Collections.Concurrent;
using Pipeline.Contracts;

namespace Pipeline.Classification;

/// <summary>
/// Known hashes from every bank, indexed for exact lookup (md5, sha1, sha256). Built from the compacted
/// hashes.known topic (key bank:algorithm:value); a tombstone retracts an entry.
/// </summary>
public sealed class HashBank
{
    // (algorithm, lower-case hex) → entries by bank key
    private readonly ConcurrentDictionary<(HashAlgorithm, string), ConcurrentDictionary<string, KnownHash>> index = new();
    private readonly ConcurrentDictionary<string, (HashAlgorithm, string)> byKey = new();

    public int Count => byKey.Count;

    public static string KeyOf(KnownHash h) => $"{h.bank}:{h.algorithm.ToString().ToLowerInvariant()}:{h.value.ToLowerInvariant()}";

    public void Apply(string key, KnownHash? entry)
    {
        if (entry is null)
        {
            if (byKey.TryRemove(key, out var slot) && index.TryGetValue(slot, out var banks)) banks.TryRemove(key, out _);
            return;
        }
        var id = (entry.algorithm, entry.value.ToLowerInvariant());
        byKey[key] = id;
        index.GetOrAdd(id, _ => new())[key] = entry;
    }

    public List<HashMatch> Match(ContentHashes? hashes)
    {
        var matches = new List<HashMatch>();
        if (hashes is null) return matches;
        Add(HashAlgorithm.MD5, hashes.md5);
        Add(HashAlgorithm.SHA1, hashes.sha1);
        Add(HashAlgorithm.SHA256, hashes.sha256);
        return matches;

        void Add(HashAlgorithm algorithm, string? value)
        {
            if (value is null || !index.TryGetValue((algorithm, value.ToLowerInvariant()), out var banks)) return;
            matches.AddRange(banks.Values.OrderBy(b => b.bank, StringComparer.Ordinal).Select(b => new HashMatch
            {
                bank = b.bank, algorithm = algorithm, value = b.value.ToLowerInvariant(), distance = 0, category = b.category,
            }));
        }
    }
}
