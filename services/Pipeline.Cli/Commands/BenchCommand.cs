using System.Diagnostics;
using System.Globalization;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pipeline.Classification;
using Pipeline.Classification.Pdq;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline bench match`: the PDQ index against brute force on the same synthetic banks, one core.</summary>
public static class BenchCommand
{
    public sealed record Settings(int Entries, int Queries, int Brute, int Radius, int LoadEntries, string Shape);

    public static async Task<int> RunAsync(Settings settings, CancellationToken ct)
    {
        var (entries, queries, brute, radius, loadEntries, shape) = (settings.Entries, settings.Queries, settings.Brute, settings.Radius, settings.LoadEntries, settings.Shape);
        if (entries < 1) throw new ArgumentException("--entries must be at least 1. Fix: e.g. --entries 1000000.");
        if (queries < 1) throw new ArgumentException("--queries must be at least 1. Fix: e.g. --queries 20000.");
        if (radius is < 0 or > 256) throw new ArgumentException("--radius must be 0..256. Fix: --radius 31 (the PDQ default).");
        if (shape is not ("uniform" or "clustered" or "both")) throw new ArgumentException("--shape must be uniform, clustered or both.");

        Console.WriteLine($"pipeline bench match: {entries:N0} entries, {queries:N0} queries (half random, half near-duplicates of an entry), radius {radius}, one thread. Synthetic hashes only.");
        var results = new List<PdqBenchFigures>();
        foreach (var s in shape == "both" ? new[] { "uniform", "clustered" } : [shape])
        {
            ct.ThrowIfCancellationRequested();
            var bank = s == "uniform" ? PdqWorkload.Uniform(entries, 1) : PdqWorkload.Clustered(entries, 2);
            var q = PdqWorkload.Queries(bank, queries, 3);
            results.Add(PdqMatchBench.Run(s, bank, q, brute, radius, Console.Out));
            bank = null;
            GC.Collect();
        }
        Print(results);
        if (loadEntries > 0) await LoadFromTopicAsync(loadEntries, ct);
        return results.All(r => r.SampleAgrees) ? 0 : 1;
    }

    /// <summary>KnownHash records through the embedded Kafka cluster into a HashBank, the way classification loads
    /// its bank. The reader follows the topic while it is produced (the embedded cluster keeps only ~5 MiB per
    /// partition), so the rate is end to end: serialise, produce, consume, deserialise, apply.</summary>
    private static async Task LoadFromTopicAsync(int count, CancellationToken ct)
    {
        await using var runtime = await EmbeddedRuntime.StartAsync(3, ct);
        var kafka = new KafkaOptions { BootstrapServers = runtime.BootstrapServers, SchemaRegistryUrl = runtime.SchemaRegistryUrl };
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        var bank = new HashBank();
        using var reader = new CompactedTopicReader<KnownHash>(kafka, serdes, Topics.HashesKnown, (key, value, _) => bank.Apply(key, value), NullLogger.Instance);
        reader.Start();
        await reader.CaughtUp.WaitAsync(ct);
        var hashes = PdqWorkload.Uniform(count, 9);
        using var publisher = new EventPublisher(Options.Create(kafka), serdes, "bench-load");
        var at = new DateTime(2026, 11, 2, 8, 0, 0, DateTimeKind.Utc);
        var sw = Stopwatch.StartNew();
        var pending = new List<Task>();
        for (var i = 0; i < count; i++)
        {
            var entry = new KnownHash { eventId = "bench-" + i, algorithm = HashAlgorithm.PDQ, value = hashes[i].ToString(), bank = "bench", category = "A", addedBy = "bench", addedAt = at, reference = null };
            pending.Add(publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(entry), entry, ct: ct));
            if (pending.Count >= 20_000) { await Task.WhenAll(pending); pending.Clear(); }
        }
        await Task.WhenAll(pending);
        var produced = sw.Elapsed.TotalSeconds;
        while (bank.Count < count && sw.Elapsed < TimeSpan.FromMinutes(10)) await Task.Delay(20, ct);
        var loaded = sw.Elapsed.TotalSeconds;
        bank.Compact();
        var total = sw.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bank load from {Topics.HashesKnown} (embedded Kafka, 3 brokers): {bank.Count:N0}/{count:N0} PDQ entries; produced in {produced:F1} s, in the bank after {loaded:F1} s = {bank.Count / loaded:N0} entries/s end to end; index merge {total - loaded:F2} s"));
    }

    private static void Print(IEnumerable<PdqBenchFigures> results)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine($"{"bank",-10} {"entries",12} {"build/s",12} {"B/entry",8} {"index batch q/s",16} {"index single q/s",17} {"brute q/s*",11} {"speed-up",9} {"matches",9} {"exact",6}");
        foreach (var r in results)
            Console.WriteLine(string.Create(c,
                $"{r.Shape,-10} {r.Entries,12:N0} {r.Entries / r.BuildSeconds,12:N0} {r.BytesPerEntry,8:F1} {r.BatchQueriesPerSecond,16:N0} {r.SingleQueriesPerSecond,17:N0} {r.BruteForceQueriesPerSecond,11:N1} {r.BatchQueriesPerSecond / r.BruteForceQueriesPerSecond,8:N0}x {r.Matches,9:N0} {(r.SampleAgrees ? "yes" : "NO"),6}"));
        Console.WriteLine("* brute force timed on the first --brute queries only (a linear scan costs the same for every query, so its rate is the per-query rate at this size); 'exact' = index (single and batch) returned the brute-force set on that sample.");
    }
}
