using System.Collections.Concurrent;
using Pipeline.Contracts;

namespace Pipeline.Intake;

/// <summary>
/// Every case's status and its exact content hashes, over ALL partitions of intake.cases (each instance follows the
/// whole topic): a report at a new URL finds the case that already holds its content, wherever that case lives.
/// Only lookups use it; every change to a case is still made by the one instance that owns the case's partition.
/// With <c>sameHostOnly</c>, a hash only groups reports on the same host: the same content on another site is
/// another hoster's to remove and gets its own case and notice.
/// </summary>
public sealed class CaseIndex(bool sameHostOnly = true)
{
    private readonly ConcurrentDictionary<string, CaseStatus> statuses = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> byHash = new(StringComparer.Ordinal);

    public sealed record Match(string CaseKey, CaseStatus Status, string Algorithm);

    public int Cases => statuses.Count;

    public CaseStatus? StatusOf(string caseKey) => statuses.TryGetValue(caseKey, out var s) ? s : null;

    public void Apply(string caseKey, CaseState? state)
    {
        if (state is null)
        {
            statuses.TryRemove(caseKey, out _);
            return;
        }
        statuses[caseKey] = state.status;
        if (state.status == CaseStatus.ALIAS) return;
        foreach (var hash in state.hashes)
        {
            // The first OPEN case to hold a hash keeps it; a closed one gives way to a case opened later.
            byHash.AddOrUpdate(hash, caseKey, (_, existing) => existing != caseKey && StatusOf(existing) == CaseStatus.OPEN ? existing : caseKey);
            if (sameHostOnly)
                byHash.AddOrUpdate(Scoped(caseKey, hash), caseKey, (_, existing) => existing != caseKey && StatusOf(existing) == CaseStatus.OPEN ? existing : caseKey);
        }
    }

    /// <summary>The case holding one of these hashes (sha256 first, then sha1, then md5), other than
    /// <paramref name="except"/>: with same-host scoping, an open or closed case on the same host, else a removed
    /// (closed) case anywhere — so content that comes back on another host is still recognised as a re-upload.</summary>
    public Match? Find(ContentHashes? hashes, string except)
    {
        foreach (var (algorithm, value) in Keys(hashes))
        {
            var key = HashKey(algorithm, value);
            if (sameHostOnly && Lookup(Scoped(except, key), except, algorithm) is { } local) return local;
            if (Lookup(key, except, algorithm) is { } any && (!sameHostOnly || any.Status == CaseStatus.CLOSED_REMOVED)) return any;
        }
        return null;
    }

    private Match? Lookup(string indexKey, string except, string algorithm) =>
        byHash.TryGetValue(indexKey, out var caseKey) && caseKey != except && StatusOf(caseKey) is { } status && status != CaseStatus.ALIAS
            ? new Match(caseKey, status, algorithm)
            : null;

    public static string HashKey(string algorithm, string value) => algorithm + ":" + value.ToLowerInvariant();

    private string Scoped(string caseKey, string hashKey) =>
        (Uri.TryCreate(caseKey, UriKind.Absolute, out var u) ? u.Authority : caseKey) + "|" + hashKey;

    /// <summary>Exact hashes only: a PDQ hash is perceptual, so equal PDQ does not mean identical content.</summary>
    public static IEnumerable<(string Algorithm, string Value)> Keys(ContentHashes? hashes)
    {
        if (hashes is null) yield break;
        if (!string.IsNullOrEmpty(hashes.sha256)) yield return ("sha256", hashes.sha256);
        if (!string.IsNullOrEmpty(hashes.sha1)) yield return ("sha1", hashes.sha1);
        if (!string.IsNullOrEmpty(hashes.md5)) yield return ("md5", hashes.md5);
    }
}
