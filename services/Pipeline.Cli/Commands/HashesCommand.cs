using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pipeline.Classification;
using Pipeline.Classification.Pdq;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline hashes import | retract | generate`: hash banks on the compacted hashes.known topic.</summary>
public static class HashesCommand
{
    /// <summary>Where the bank's topic is: --bootstrap and --registry, or the Kafka__ environment variables.</summary>
    public sealed record Connection(string? Bootstrap, string? Registry);

    public sealed record ImportSettings(string? Bank, string? File, string? AddedBy, Connection Kafka);

    public sealed record RetractSettings(string? Bank, string? File, string? Algorithm, string? Value, Connection Kafka);

    public sealed record GenerateSettings(int Count, string? Out, string Algorithm, int Seed, string Category);

    private static string Bank(string? name)
    {
        var bank = name ?? throw new ArgumentException("--bank is missing. Fix: name the bank, e.g. --bank police-nl.");
        return HashList.BankProblem(bank) is { } problem ? throw new ArgumentException($"--bank: {problem}.") : bank;
    }

    private static string InputFile(string? name)
    {
        var file = name ?? throw new ArgumentException("--file is missing. Fix: --file hashes.csv (algorithm,value[,category[,reference]]) or hashes.json.");
        return File.Exists(file) ? file : throw new ArgumentException($"--file '{file}' does not exist.");
    }

    internal static KafkaOptions Kafka(Connection connection) => new()
    {
        BootstrapServers = connection.Bootstrap ?? Environment.GetEnvironmentVariable("Kafka__BootstrapServers")
            ?? throw new ArgumentException("No Kafka given. Fix: pass --bootstrap host:9092 or set Kafka__BootstrapServers."),
        SchemaRegistryUrl = connection.Registry ?? Environment.GetEnvironmentVariable("Kafka__SchemaRegistryUrl")
            ?? throw new ArgumentException("No registry given. Fix: pass --registry http://host:8081 or set Kafka__SchemaRegistryUrl."),
    };

    /// <summary>Reads the bank's current keys from the topic, so re-importing a list reports duplicates instead of re-adding.</summary>
    private static async Task<HashSet<string>> CurrentKeysAsync(KafkaOptions kafka, AvroSerdes serdes, string bank, CancellationToken ct)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        using var reader = new CompactedTopicReader<KnownHash>(kafka, serdes, Topics.HashesKnown, (key, value, _) =>
        {
            if (!key.StartsWith(bank + ":", StringComparison.Ordinal)) return;
            lock (keys) { if (value is null) keys.Remove(key); else keys.Add(key); }
        }, NullLogger.Instance);
        reader.Start();
        await reader.CaughtUp.WaitAsync(TimeSpan.FromMinutes(5), ct);
        lock (keys) return [.. keys];
    }

    public static async Task<int> ImportAsync(ImportSettings settings, CancellationToken ct)
    {
        var bank = Bank(settings.Bank);
        var file = InputFile(settings.File);
        var kafka = Kafka(settings.Kafka);
        var addedBy = settings.AddedBy ?? "import:" + Path.GetFileName(file);
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = kafka.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        Console.WriteLine($"reading bank {bank} from {Topics.HashesKnown} …");
        var existing = await CurrentKeysAsync(kafka, serdes, bank, ct);
        var list = HashList.Read(file, bank, addedBy, DateTime.UtcNow, existing);
        using var publisher = new EventPublisher(Options.Create(kafka), serdes, "pipeline-hashes-import");
        var sw = Stopwatch.StartNew();
        var done = 0;
        var pending = new List<Task>();
        foreach (var (_, entry) in list.Entries)
        {
            pending.Add(publisher.PublishAsync(Topics.HashesKnown, HashBank.KeyOf(entry), entry, ct: ct));
            if (pending.Count >= 10_000) { await Task.WhenAll(pending); pending.Clear(); }
            if (++done % 5_000 == 0 || done == list.Entries.Count) Progress(done, list.Entries.Count, sw);
        }
        await Task.WhenAll(pending);
        publisher.Flush(TimeSpan.FromSeconds(30));
        Console.WriteLine();
        Console.WriteLine($"bank {bank}: {list.Entries.Count:N0} added, {list.Duplicates.Count:N0} duplicates, {list.Invalid.Count:N0} invalid ({sw.Elapsed.TotalSeconds:F1} s)");
        foreach (var d in list.Duplicates.Take(50)) Console.WriteLine($"  duplicate  line {d.Line}: {d.Key} ({d.Where})");
        if (list.Duplicates.Count > 50) Console.WriteLine($"  … {list.Duplicates.Count - 50:N0} more duplicates");
        foreach (var i in list.Invalid.Take(200)) Console.WriteLine($"  invalid    line {i.Line}: {i.Reason}");
        if (list.Invalid.Count > 200) Console.WriteLine($"  … {list.Invalid.Count - 200:N0} more invalid lines");
        return list.Invalid.Count == 0 ? 0 : 1;
    }

    public static async Task<int> RetractAsync(RetractSettings settings, CancellationToken ct)
    {
        var bank = Bank(settings.Bank);
        var kafka = Kafka(settings.Kafka);
        List<string> keys;
        if (settings.Value is { } value)
        {
            if (!HashList.TryAlgorithm(settings.Algorithm, out var algorithm))
                throw new ArgumentException("--algorithm must be md5, sha1, sha256 or pdq when --value is given.");
            if (HashBank.Problem(algorithm, value) is { } problem) throw new ArgumentException($"--value: {problem}.");
            keys = [HashBank.KeyOf(bank, algorithm, value)];
        }
        else
        {
            var list = HashList.Read(InputFile(settings.File), bank, "retract", DateTime.UtcNow);
            foreach (var i in list.Invalid) Console.WriteLine($"  invalid    line {i.Line}: {i.Reason}");
            keys = [.. list.Entries.Select(e => HashBank.KeyOf(e.Entry))];
        }
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = kafka.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        var existing = await CurrentKeysAsync(kafka, serdes, bank, ct);
        using var publisher = new EventPublisher(Options.Create(kafka), serdes, "pipeline-hashes-retract");
        var retracted = 0;
        var unknown = 0;
        foreach (var key in keys)
        {
            if (!existing.Contains(key)) { unknown++; Console.WriteLine($"  not in bank: {key}"); continue; }
            await publisher.TombstoneAsync(Topics.HashesKnown, key, ct: ct);
            retracted++;
        }
        publisher.Flush(TimeSpan.FromSeconds(30));
        Console.WriteLine($"bank {bank}: {retracted:N0} retracted, {unknown:N0} not in the bank");
        return 0;
    }

    public static int Generate(GenerateSettings settings)
    {
        var count = settings.Count;
        var output = settings.Out ?? throw new ArgumentException("--out is missing. Fix: --out hashes.csv.");
        var algorithm = settings.Algorithm.ToLowerInvariant();
        var seed = settings.Seed;
        var category = settings.Category;
        if (count < 0) throw new ArgumentException("--count must be 0 or more.");
        if (algorithm is not ("pdq" or "sha256" or "sha1" or "md5" or "mixed")) throw new ArgumentException("--algorithm must be pdq, sha256, sha1, md5 or mixed.");
        var random = new Random(seed);
        string[] cycle = ["pdq", "sha256", "md5", "sha1"];
        using var writer = new StreamWriter(output);
        writer.WriteLine("algorithm,value,category,reference");
        var bytes = new byte[32];
        for (var i = 0; i < count; i++)
        {
            var a = algorithm == "mixed" ? cycle[i % cycle.Length] : algorithm;
            string value;
            if (a == "pdq") value = PdqWorkload.Random(random).ToString();
            else
            {
                random.NextBytes(bytes);
                value = Convert.ToHexStringLower(bytes.AsSpan(0, a switch { "md5" => 16, "sha1" => 20, _ => 32 }));
            }
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{a},{value},{category},synthetic-{seed}-{i}"));
        }
        Console.WriteLine($"wrote {count:N0} synthetic {algorithm} hashes (random bits, no imagery) to {output}");
        return 0;
    }

    private static void Progress(int done, int total, Stopwatch sw)
    {
        const int width = 30;
        var filled = total == 0 ? width : (int)((long)done * width / total);
        Console.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {done:N0}/{total:N0}  {done / Math.Max(sw.Elapsed.TotalSeconds, 0.001):N0}/s");
    }
}
