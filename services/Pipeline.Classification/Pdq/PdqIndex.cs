using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Pipeline.Classification.Pdq;

/// <summary>
/// Exact Hamming-radius search over 256-bit PDQ hashes: multi-index hashing (Norouzi et al.) with the generalised
/// pigeonhole principle. The hash is cut into 11 substrings of 23–24 bits. If d(q, x) ≤ r then some substring i has
/// d_i(q, x) ≤ t_i whenever Σ (t_i + 1) ≥ r + 1, so for r = 31 ten substrings are probed at threshold 2 and one
/// at threshold 1. Every candidate is verified against the full hash with popcount, so the answer is exactly the
/// brute-force answer; a match reachable from several substrings is reported only by the first of them.
/// <para>
/// Layout (built in bulk): the hashes in slot order (32 B, cache-line aligned), the caller's ids (4 B), and per
/// substring a counting-sorted posting array of slots (4 B) with the low bits of the substring beside it (1 B) and
/// an offset table over the high bits. Probing one prefix therefore reads one offset, then a short run of bytes
/// and slots, and fetches the full hash only for real candidates. All three accesses are prefetched a few probes
/// ahead, and <see cref="SearchBatch"/> sorts the probes of many queries by bucket so the tables are walked in order.
/// </para>
/// <para>
/// Live changes: <see cref="Add"/> goes to a small delta searched by brute force, <see cref="Remove"/> sets a
/// tombstone bit (or drops a delta entry); the delta and the tombstones are folded into the bulk arrays by
/// <see cref="Merge"/>, which a search calls itself when the delta outgrows <see cref="MergeThreshold"/>.
/// Not thread-safe: callers serialise access (HashBank does).
/// </para>
/// </summary>
public sealed unsafe class PdqIndex
{
    public const int DefaultRadius = 31;
    public const int Substrings = 11;
    /// <summary>Above this radius the index enumerates too many neighbours to win; it scans instead (still exact).</summary>
    public const int MaxIndexedRadius = 48;

    private static readonly int[] Widths = [24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23];
    private static readonly int[] Starts = StartsOf(Widths);
    private const int Prefetch = 12;

    private readonly int prefixSlack;

    // Bulk part.
    private int mainCount;
    private ulong[] hashArray = [];
    private ulong* hashes;                 // 4 ulongs per slot, 64-byte aligned (the array is pinned)
    private int[] ids = [];
    private ulong[] deleted = [];
    private int deletedCount;
    private Table[] tables = [];

    // Live part.
    private readonly List<Pdq256> deltaHashes = [];
    private readonly List<int> deltaIds = [];

    // Scratch for one query (reused; the index is single-threaded).
    private uint[] probeBucket = new uint[4096];
    private byte[] probeTable = new byte[4096];
    private byte[] probeBudget = new byte[4096];
    private uint[] probeStart = new uint[4096];
    private uint[] probeEnd = new uint[4096];
    private uint[] candSlot = new uint[4096];
    private byte[] candTable = new byte[4096];

    /// <param name="prefixSlack">How many bits fewer than log2(entries) the offset tables index (2^slack entries per
    /// bucket on average); 3 keeps the offset tables at ~0.4 B/entry each.</param>
    public PdqIndex(int prefixSlack = 3)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefixSlack);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixSlack, 8);
        this.prefixSlack = prefixSlack;
    }

    /// <summary>Live adds are folded into the bulk arrays once they exceed this many (searched by brute force until then).</summary>
    public int MergeThreshold { get; set; } = 4096;

    public int Count => mainCount - deletedCount + deltaHashes.Count;
    public int PendingAdds => deltaHashes.Count;
    public int PendingRemoves => deletedCount;

    /// <summary>Bytes held by the index (bulk arrays, tombstones and delta), for the bytes-per-entry figure.</summary>
    public long MemoryBytes
    {
        get
        {
            long bytes = (long)hashArray.Length * 8 + (long)ids.Length * 4 + (long)deleted.Length * 8 + deltaHashes.Capacity * 32L + deltaIds.Capacity * 4L;
            foreach (var t in tables) bytes += t.Offsets.LongLength * 4 + t.Slots.LongLength * 4 + t.Residuals.LongLength;
            return bytes;
        }
    }

    /// <summary>Replaces the whole content with these entries in one bulk build (the fast way to load a bank).</summary>
    public void Build(ReadOnlySpan<Pdq256> entries, ReadOnlySpan<int> entryIds)
    {
        if (entries.Length != entryIds.Length) throw new ArgumentException("Every hash needs exactly one id.", nameof(entryIds));
        deltaHashes.Clear();
        deltaIds.Clear();
        BuildMain(entries, entryIds);
    }

    public void Add(in Pdq256 hash, int id)
    {
        deltaHashes.Add(hash);
        deltaIds.Add(id);
    }

    /// <summary>Removes one entry with this hash and id; false if there is none.</summary>
    public bool Remove(in Pdq256 hash, int id)
    {
        for (var i = deltaHashes.Count - 1; i >= 0; i--)
        {
            if (deltaIds[i] != id || deltaHashes[i] != hash) continue;
            var last = deltaHashes.Count - 1;
            deltaHashes[i] = deltaHashes[last];
            deltaIds[i] = deltaIds[last];
            deltaHashes.RemoveAt(last);
            deltaIds.RemoveAt(last);
            return true;
        }
        if (mainCount == 0) return false;
        var t = tables[0];
        var key = (uint)hash.Bits(Starts[0], Widths[0]);
        var bucket = key >> t.ResidualBits;
        var residual = (byte)(key & t.ResidualMask);
        for (var k = t.Offsets[bucket]; k < t.Offsets[bucket + 1]; k++)
        {
            var slot = t.Slots[k];
            if (t.Residuals[k] != residual || ids[slot] != id || IsDeleted(slot) || HashAt(slot) != hash) continue;
            deleted[slot >> 6] |= 1UL << (int)(slot & 63);
            deletedCount++;
            return true;
        }
        return false;
    }

    /// <summary>Folds live adds and removes into the bulk arrays.</summary>
    public void Merge()
    {
        if (deltaHashes.Count == 0 && deletedCount == 0) return;
        var n = mainCount - deletedCount + deltaHashes.Count;
        var all = new Pdq256[n];
        var allIds = new int[n];
        var j = 0;
        for (uint s = 0; s < mainCount; s++)
        {
            if (IsDeleted(s)) continue;
            all[j] = HashAt(s);
            allIds[j++] = ids[s];
        }
        for (var i = 0; i < deltaHashes.Count; i++)
        {
            all[j] = deltaHashes[i];
            allIds[j++] = deltaIds[i];
        }
        deltaHashes.Clear();
        deltaIds.Clear();
        BuildMain(all, allIds);
    }

    /// <summary>Appends every entry within <paramref name="radius"/> of the query (exact; order unspecified).</summary>
    public void Search(in Pdq256 query, int radius, List<PdqMatch> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentOutOfRangeException.ThrowIfNegative(radius);
        if (deltaHashes.Count > MergeThreshold) Merge();
        SearchDelta(query, radius, (id, d) => results.Add(new PdqMatch(id, d)));
        if (mainCount == 0) return;
        if (radius > MaxIndexedRadius)
        {
            for (uint s = 0; s < mainCount; s++)
            {
                var d = Pdq256.Distance(query, HashAt(s));
                if (d <= radius && !IsDeleted(s)) results.Add(new PdqMatch(ids[s], d));
            }
            return;
        }
        Span<int> thresholds = stackalloc int[Substrings];
        Thresholds(radius, thresholds);
        var probes = GenerateProbes(query, thresholds);
        var candidates = ResolveProbes(query, probes);
        fixed (uint* cs = candSlot)
        fixed (byte* ct = candTable)
        {
            for (var c = 0; c < candidates; c++)
            {
                if (c + Prefetch < candidates) Fetch(hashes + cs[c + Prefetch] * 4);
                var slot = cs[c];
                var h = hashes + slot * 4;
                var d = BitOperations.PopCount(h[0] ^ query.A) + BitOperations.PopCount(h[1] ^ query.B)
                        + BitOperations.PopCount(h[2] ^ query.C) + BitOperations.PopCount(h[3] ^ query.D);
                if (d > radius || IsDeleted(slot) || FoundEarlier(query, slot, ct[c], thresholds)) continue;
                results.Add(new PdqMatch(ids[slot], d));
            }
        }
    }

    /// <summary>
    /// Searches many queries together: the probes of all queries into one substring table are sorted by bucket, so the
    /// offset table, the residuals and the slots are walked in address order instead of at random. Same answers as
    /// <see cref="Search"/>, tagged with the query's position.
    /// </summary>
    public void SearchBatch(ReadOnlySpan<Pdq256> queries, int radius, List<PdqBatchMatch> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentOutOfRangeException.ThrowIfNegative(radius);
        if (deltaHashes.Count > MergeThreshold) Merge();
        if (mainCount == 0 || radius > MaxIndexedRadius || queries.Length < 16)
        {
            var single = new List<PdqMatch>();
            for (var q = 0; q < queries.Length; q++)
            {
                single.Clear();
                Search(queries[q], radius, single);
                foreach (var m in single) results.Add(new PdqBatchMatch(q, m.Id, m.Distance));
            }
            return;
        }
        for (var q = 0; q < queries.Length; q++)
        {
            var qi = q;
            SearchDelta(queries[q], radius, (id, d) => results.Add(new PdqBatchMatch(qi, id, d)));
        }
        Span<int> thresholds = stackalloc int[Substrings];
        Thresholds(radius, thresholds);
        const int chunk = 4096; // queries per pass: probe records stay in L2-sized runs per table
        for (var from = 0; from < queries.Length; from += chunk)
            SearchChunk(queries.Slice(from, Math.Min(chunk, queries.Length - from)), from, radius, thresholds, results);
    }

    private void SearchChunk(ReadOnlySpan<Pdq256> queries, int queryBase, int radius, ReadOnlySpan<int> thresholds, List<PdqBatchMatch> results)
    {
        var batch = new BatchScratch();
        for (var ti = 0; ti < Substrings; ti++)
        {
            var t = thresholds[ti];
            if (t < 0) continue;
            var table = tables[ti];
            var masks = NeighbourMasks.Get(table.PrefixBits, Math.Min(t, table.PrefixBits));
            // One probe record per (query, mask): bucket in the high 32 bits, query number and residual budget below.
            var count = queries.Length * masks.Masks.Length;
            var records = batch.Records(count);
            var n = 0;
            for (var q = 0; q < queries.Length; q++)
            {
                var key = (uint)queries[q].Bits(Starts[ti], Widths[ti]);
                var prefix = key >> table.ResidualBits;
                for (var m = 0; m < masks.Masks.Length; m++)
                    records[n++] = ((ulong)(prefix ^ masks.Masks[m]) << 32) | ((ulong)q << 8) | (uint)(t - masks.Weights[m]);
            }
            RadixSortByBucket(records.AsSpan(0, count), batch, table.PrefixBits);
            fixed (uint* offsets = table.Offsets)
            fixed (uint* slots = table.Slots)
            fixed (byte* residuals = table.Residuals)
            fixed (ulong* rec = records)
            {
                var candCount = 0;
                var cands = batch.Candidates(count);
                for (var k = 0; k < count; k++)
                {
                    if (k + Prefetch < count) Fetch(offsets + (rec[k + Prefetch] >> 32));
                    var r = rec[k];
                    var bucket = (uint)(r >> 32);
                    var q = (int)((uint)r >> 8);
                    var budget = (int)(r & 0xff);
                    var qres = (byte)(queries[q].Bits(Starts[ti], Widths[ti]) & table.ResidualMask);
                    var end = offsets[bucket + 1];
                    for (var p = offsets[bucket]; p < end; p++)
                    {
                        if (BitOperations.PopCount((uint)(residuals[p] ^ qres)) > budget) continue;
                        if (candCount == cands.Length) cands = batch.GrowCandidates();
                        cands[candCount++] = ((ulong)slots[p] << 32) | (uint)q;
                    }
                }
                fixed (ulong* cp = cands)
                {
                    for (var c = 0; c < candCount; c++)
                    {
                        if (c + Prefetch < candCount) Fetch(hashes + (cp[c + Prefetch] >> 32) * 4);
                        var slot = (uint)(cp[c] >> 32);
                        var q = (int)(uint)cp[c];
                        var h = hashes + slot * 4;
                        ref readonly var query = ref queries[q];
                        var d = BitOperations.PopCount(h[0] ^ query.A) + BitOperations.PopCount(h[1] ^ query.B)
                                + BitOperations.PopCount(h[2] ^ query.C) + BitOperations.PopCount(h[3] ^ query.D);
                        if (d > radius || IsDeleted(slot) || FoundEarlier(query, slot, ti, thresholds)) continue;
                        results.Add(new PdqBatchMatch(queryBase + q, ids[slot], d));
                    }
                }
            }
        }
    }

    private static void RadixSortByBucket(Span<ulong> records, BatchScratch batch, int bucketBits)
    {
        // LSD radix sort on the bucket (bits 32..32+bucketBits), 11 bits per pass.
        var temp = batch.Temp(records.Length).AsSpan(0, records.Length);
        Span<int> counts = stackalloc int[2049];
        var src = records;
        var dst = temp;
        var passes = 0;
        for (var shift = 32; shift < 32 + bucketBits; shift += 11, passes++)
        {
            counts.Clear();
            foreach (var r in src) counts[(int)((r >> shift) & 2047) + 1]++;
            for (var i = 1; i < counts.Length; i++) counts[i] += counts[i - 1];
            foreach (var r in src) dst[counts[(int)((r >> shift) & 2047)]++] = r;
            var swap = src;
            src = dst;
            dst = swap;
        }
        if (passes % 2 == 1) src.CopyTo(records);
    }

    private sealed class BatchScratch
    {
        private ulong[] records = [];
        private ulong[] temp = [];
        private ulong[] candidates = [];

        public ulong[] Records(int n) => records.Length >= n ? records : records = new ulong[n];
        public ulong[] Temp(int n) => temp.Length >= n ? temp : temp = new ulong[n];
        public ulong[] Candidates(int n) => candidates.Length >= n ? candidates : candidates = new ulong[n];

        public ulong[] GrowCandidates()
        {
            Array.Resize(ref candidates, candidates.Length * 2);
            return candidates;
        }
    }

    /// <summary>Brute force over every live entry: the reference the index must equal.</summary>
    public void SearchBruteForce(in Pdq256 query, int radius, List<PdqMatch> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        SearchDelta(query, radius, (id, d) => results.Add(new PdqMatch(id, d)));
        for (uint s = 0; s < mainCount; s++)
        {
            var h = hashes + s * 4;
            var d = BitOperations.PopCount(h[0] ^ query.A) + BitOperations.PopCount(h[1] ^ query.B)
                    + BitOperations.PopCount(h[2] ^ query.C) + BitOperations.PopCount(h[3] ^ query.D);
            if (d <= radius && !IsDeleted(s)) results.Add(new PdqMatch(ids[s], d));
        }
    }

    /// <summary>Per-substring thresholds t_i (−1 = not probed) with Σ (t_i + 1) = r + 1, wider substrings first.</summary>
    public static void Thresholds(int radius, Span<int> thresholds)
    {
        var each = (radius + 1) / Substrings;
        var extra = (radius + 1) % Substrings;
        // Widths are sorted widest first, so the extra unit goes to the substrings with the fewest candidates per probe.
        for (var i = 0; i < Substrings; i++) thresholds[i] = each + (i < extra ? 1 : 0) - 1;
    }

    private void SearchDelta(in Pdq256 query, int radius, Action<int, int> found)
    {
        for (var i = 0; i < deltaHashes.Count; i++)
        {
            var d = Pdq256.Distance(query, deltaHashes[i]);
            if (d <= radius) found(deltaIds[i], d);
        }
    }

    private int GenerateProbes(in Pdq256 query, ReadOnlySpan<int> thresholds)
    {
        var n = 0;
        for (var ti = 0; ti < Substrings; ti++)
        {
            var t = thresholds[ti];
            if (t < 0) continue;
            var table = tables[ti];
            var masks = NeighbourMasks.Get(table.PrefixBits, Math.Min(t, table.PrefixBits));
            var prefix = (uint)query.Bits(Starts[ti], Widths[ti]) >> table.ResidualBits;
            EnsureProbeCapacity(n + masks.Masks.Length);
            for (var m = 0; m < masks.Masks.Length; m++)
            {
                probeBucket[n] = prefix ^ masks.Masks[m];
                probeTable[n] = (byte)ti;
                probeBudget[n++] = (byte)(t - masks.Weights[m]);
            }
        }
        return n;
    }

    /// <summary>Reads the offsets of every probe, scans its bucket's residuals and collects candidate slots.</summary>
    private int ResolveProbes(in Pdq256 query, int probes)
    {
        Span<byte> qres = stackalloc byte[Substrings];
        for (var ti = 0; ti < Substrings; ti++) qres[ti] = (byte)(query.Bits(Starts[ti], Widths[ti]) & tables[ti].ResidualMask);
        for (var k = 0; k < probes; k++)
        {
            if (k + Prefetch < probes) Fetch(Unsafe.AsPointer(ref tables[probeTable[k + Prefetch]].Offsets[probeBucket[k + Prefetch]]));
            var offsets = tables[probeTable[k]].Offsets;
            var b = probeBucket[k];
            probeStart[k] = offsets[b];
            probeEnd[k] = offsets[b + 1];
            var table = tables[probeTable[k]];
            if (probeEnd[k] > probeStart[k])
            {
                Fetch(Unsafe.AsPointer(ref table.Residuals[probeStart[k]]));
                Fetch(Unsafe.AsPointer(ref table.Slots[probeStart[k]]));
            }
        }
        var n = 0;
        for (var k = 0; k < probes; k++)
        {
            var ti = probeTable[k];
            var table = tables[ti];
            var budget = probeBudget[k];
            var q = qres[ti];
            for (var p = probeStart[k]; p < probeEnd[k]; p++)
            {
                if (BitOperations.PopCount((uint)(table.Residuals[p] ^ q)) > budget) continue;
                if (n == candSlot.Length)
                {
                    Array.Resize(ref candSlot, n * 2);
                    Array.Resize(ref candTable, n * 2);
                }
                var slot = table.Slots[p];
                candSlot[n] = slot;
                candTable[n++] = ti;
                Fetch(hashes + slot * 4);
            }
        }
        return n;
    }

    private void EnsureProbeCapacity(int n)
    {
        if (n <= probeBucket.Length) return;
        var size = Math.Max(n, probeBucket.Length * 2);
        Array.Resize(ref probeBucket, size);
        Array.Resize(ref probeTable, size);
        Array.Resize(ref probeBudget, size);
        probeStart = new uint[size];
        probeEnd = new uint[size];
    }

    /// <summary>True if a substring probed before <paramref name="table"/> also reaches the entry (it was reported there).</summary>
    private bool FoundEarlier(in Pdq256 query, uint slot, int table, ReadOnlySpan<int> thresholds)
    {
        if (table == 0) return false;
        var diff = query ^ HashAt(slot);
        for (var i = 0; i < table; i++)
            if (thresholds[i] >= 0 && BitOperations.PopCount(diff.Bits(Starts[i], Widths[i])) <= thresholds[i]) return true;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fetch(void* address)
    {
        if (Sse.IsSupported) Sse.Prefetch0(address);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsDeleted(uint slot) => deletedCount != 0 && (deleted[slot >> 6] & (1UL << (int)(slot & 63))) != 0;

    private Pdq256 HashAt(uint slot)
    {
        var h = hashes + slot * 4;
        return new Pdq256(h[0], h[1], h[2], h[3]);
    }

    private void BuildMain(ReadOnlySpan<Pdq256> entries, ReadOnlySpan<int> entryIds)
    {
        var n = entries.Length;
        // Pinned and over-allocated by one cache line so every hash sits inside one 64-byte line.
        var array = GC.AllocateUninitializedArray<ulong>(n * 4 + 8, pinned: true);
        var basePtr = (ulong*)Unsafe.AsPointer(ref array[0]);
        var skip = (int)((64 - ((nuint)basePtr & 63)) & 63) / 8;
        var ptr = basePtr + skip;
        for (var i = 0; i < n; i++)
        {
            ptr[i * 4] = entries[i].A;
            ptr[i * 4 + 1] = entries[i].B;
            ptr[i * 4 + 2] = entries[i].C;
            ptr[i * 4 + 3] = entries[i].D;
        }
        var newTables = new Table[Substrings];
        var log2 = n <= 1 ? 0 : BitOperations.Log2((uint)n);
        var keys = new uint[n];
        for (var ti = 0; ti < Substrings; ti++)
        {
            var width = Widths[ti];
            var prefixBits = Math.Clamp(log2 - prefixSlack, Math.Max(1, width - 8), width);
            var residualBits = width - prefixBits;
            var buckets = 1 << prefixBits;
            var offsets = GC.AllocateArray<uint>(buckets + 1, pinned: true);
            for (var i = 0; i < n; i++)
            {
                keys[i] = (uint)entries[i].Bits(Starts[ti], width);
                offsets[(keys[i] >> residualBits) + 1]++;
            }
            for (var b = 1; b <= buckets; b++) offsets[b] += offsets[b - 1];
            var cursor = offsets.AsSpan(0, buckets).ToArray();
            var slots = GC.AllocateUninitializedArray<uint>(n, pinned: true);
            var residuals = GC.AllocateUninitializedArray<byte>(n, pinned: true);
            var mask = (1u << residualBits) - 1;
            for (var i = 0; i < n; i++)
            {
                var pos = cursor[keys[i] >> residualBits]++;
                slots[pos] = (uint)i;
                residuals[pos] = (byte)(keys[i] & mask);
            }
            newTables[ti] = new Table(prefixBits, residualBits, offsets, slots, residuals);
        }
        hashArray = array;
        hashes = ptr;
        ids = entryIds.ToArray();
        deleted = new ulong[(n + 63) / 64];
        deletedCount = 0;
        tables = newTables;
        mainCount = n;
    }

    private static int[] StartsOf(int[] widths)
    {
        var starts = new int[widths.Length];
        for (var i = 1; i < widths.Length; i++) starts[i] = starts[i - 1] + widths[i - 1];
        return starts;
    }

    private sealed class Table(int prefixBits, int residualBits, uint[] offsets, uint[] slots, byte[] residuals)
    {
        public int PrefixBits { get; } = prefixBits;
        public int ResidualBits { get; } = residualBits;
        public uint ResidualMask { get; } = (1u << residualBits) - 1;
        public uint[] Offsets { get; } = offsets;
        public uint[] Slots { get; } = slots;
        public byte[] Residuals { get; } = residuals;
    }
}

/// <summary>Every mask of at most t set bits among b bits, lightest first, cached per (b, t).</summary>
internal sealed class NeighbourMasks
{
    private static readonly Dictionary<(int, int), NeighbourMasks> Cache = [];

    private NeighbourMasks(uint[] masks, byte[] weights)
    {
        Masks = masks;
        Weights = weights;
    }

    public uint[] Masks { get; }
    public byte[] Weights { get; }

    public static NeighbourMasks Get(int bits, int maxWeight)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue((bits, maxWeight), out var cached)) return cached;
            var masks = new List<uint>();
            var weights = new List<byte>();
            for (var w = 0; w <= maxWeight; w++) Combine(0, w, 0u);
            var made = new NeighbourMasks([.. masks], [.. weights]);
            Cache[(bits, maxWeight)] = made;
            return made;

            void Combine(int from, int left, uint mask)
            {
                if (left == 0)
                {
                    masks.Add(mask);
                    weights.Add((byte)BitOperations.PopCount(mask));
                    return;
                }
                for (var i = from; i <= bits - left; i++) Combine(i + 1, left - 1, mask | (1u << i));
            }
        }
    }
}
