using BenchmarkDotNet.Running;
using Pipeline.Classification.Pdq;

// `dotnet run -c Release --project tests/Pipeline.Benchmarks` runs the BenchmarkDotNet suite (PIPELINE_BENCH_ENTRIES
// sets the bank size, default 10,000,000); `-- figures [entries]` prints the one-pass figures table instead.
if (args.Length > 0 && args[0] == "figures")
{
    var entries = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10_000_000;
    foreach (var shape in new[] { "uniform", "clustered" })
    {
        var bank = shape == "uniform" ? PdqWorkload.Uniform(entries, 1) : PdqWorkload.Clustered(entries, 2);
        var f = PdqMatchBench.Run(shape, bank, PdqWorkload.Queries(bank, 20_000, 3), 10, PdqIndex.DefaultRadius, Console.Out);
        Console.WriteLine(f);
    }
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Pipeline.Benchmarks.PdqMatchBenchmarks).Assembly).Run(args);
