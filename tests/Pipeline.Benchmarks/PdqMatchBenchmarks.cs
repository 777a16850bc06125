using BenchmarkDotNet.Attributes;
using Pipeline.Classification.Pdq;

namespace Pipeline.Benchmarks;

/// <summary>
/// PDQ matching at radius 31 on the same bank: the index (batched and one query at a time) against brute force.
/// One operation = <see cref="QueryCount"/> queries; BenchmarkDotNet reports per-operation time, so queries/s =
/// QueryCount / mean. Brute force runs <see cref="BruteQueryCount"/> queries per operation (it is linear in the bank).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class PdqMatchBenchmarks
{
    public const int QueryCount = 10_000;
    public const int BruteQueryCount = 2;

    private PdqIndex index = null!;
    private Pdq256[] queries = [];
    private readonly List<PdqBatchMatch> batch = [];
    private readonly List<PdqMatch> single = [];

    [Params("uniform", "clustered")]
    public string Shape { get; set; } = "uniform";

    public static int Entries => int.TryParse(Environment.GetEnvironmentVariable("PIPELINE_BENCH_ENTRIES"), out var n) ? n : 10_000_000;

    [GlobalSetup]
    public void Setup()
    {
        var bank = Shape == "uniform" ? PdqWorkload.Uniform(Entries, 1) : PdqWorkload.Clustered(Entries, 2);
        queries = PdqWorkload.Queries(bank, QueryCount, 3);
        index = new PdqIndex();
        index.Build(bank, Enumerable.Range(0, bank.Length).ToArray());
        Console.WriteLine($"// {Shape}: {Entries:N0} entries, {(double)index.MemoryBytes / Entries:F1} bytes/entry");
    }

    [Benchmark(Description = "index, batched (10,000 queries)")]
    public int IndexBatched()
    {
        batch.Clear();
        index.SearchBatch(queries, PdqIndex.DefaultRadius, batch);
        return batch.Count;
    }

    [Benchmark(Description = "index, one at a time (10,000 queries)")]
    public int IndexSingle()
    {
        var n = 0;
        foreach (var q in queries)
        {
            single.Clear();
            index.Search(q, PdqIndex.DefaultRadius, single);
            n += single.Count;
        }
        return n;
    }

    [Benchmark(Description = "brute force (2 queries)")]
    public int BruteForce()
    {
        var n = 0;
        for (var i = 0; i < BruteQueryCount; i++)
        {
            single.Clear();
            index.SearchBruteForce(queries[i], PdqIndex.DefaultRadius, single);
            n += single.Count;
        }
        return n;
    }
}
