using System.Diagnostics;

namespace Pipeline.Classification.Pdq;

/// <summary>Figures of one bank shape (uniform or clustered) measured by <see cref="PdqMatchBench"/>.</summary>
public sealed record PdqBenchFigures(
    string Shape, int Entries, double BuildSeconds, double BytesPerEntry,
    int Queries, double BatchQueriesPerSecond, double SingleQueriesPerSecond, long Matches,
    int BruteForceQueries, double BruteForceQueriesPerSecond, bool SampleAgrees);

/// <summary>
/// The index against brute force on the same data, one thread: build, bytes per entry, batched and one-at-a-time
/// queries per second, and brute force on a sample of the same queries (its rate is per query, so it extrapolates
/// directly; the sample's answers are compared with the index's).
/// </summary>
public static class PdqMatchBench
{
    public static PdqBenchFigures Run(string shape, Pdq256[] bank, Pdq256[] queries, int bruteForceQueries, int radius, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(bank);
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(log);
        var ids = Enumerable.Range(0, bank.Length).ToArray();
        var index = new PdqIndex();
        var sw = Stopwatch.StartNew();
        index.Build(bank, ids);
        var build = sw.Elapsed.TotalSeconds;
        log.WriteLine($"  [{shape}] built {bank.Length:N0} entries in {build:F2} s");

        // Warm-up on a few queries, then time.
        var batchResults = new List<PdqBatchMatch>();
        index.SearchBatch(queries.AsSpan(0, Math.Min(queries.Length, 256)), radius, batchResults);
        batchResults.Clear();
        sw.Restart();
        index.SearchBatch(queries, radius, batchResults);
        var batchSeconds = sw.Elapsed.TotalSeconds;

        var single = new List<PdqMatch>();
        var singleCount = Math.Min(queries.Length, 20_000);
        long singleMatches = 0;
        sw.Restart();
        for (var q = 0; q < singleCount; q++)
        {
            single.Clear();
            index.Search(queries[q], radius, single);
            singleMatches += single.Count;
        }
        var singleSeconds = sw.Elapsed.TotalSeconds;

        var brute = new List<PdqMatch>();
        var agrees = true;
        var sample = Math.Min(bruteForceQueries, queries.Length);
        var bruteSeconds = 0.0;
        for (var q = 0; q < sample; q++)
        {
            brute.Clear();
            sw.Restart();
            index.SearchBruteForce(queries[q], radius, brute);
            bruteSeconds += sw.Elapsed.TotalSeconds;
            single.Clear();
            index.Search(queries[q], radius, single);
            var fromBatch = batchResults.Where(m => m.Query == q).Select(m => (m.Id, m.Distance)).Order();
            agrees &= brute.Select(m => (m.Id, m.Distance)).Order().SequenceEqual(single.Select(m => (m.Id, m.Distance)).Order())
                      && brute.Select(m => (m.Id, m.Distance)).Order().SequenceEqual(fromBatch);
        }
        return new PdqBenchFigures(shape, bank.Length, build, (double)index.MemoryBytes / bank.Length,
            queries.Length, queries.Length / batchSeconds, singleCount / singleSeconds, batchResults.Count,
            sample, sample == 0 ? 0 : sample / bruteSeconds, agrees);
    }
}
