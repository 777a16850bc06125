using System.Globalization;
using System.Text;
using System.Text.Json;
using Avro.Specific;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline retention run`: what the retention rules remove, topic by topic. The state topics are read as compaction
/// leaves them (the last record of each key); an entry whose case finished more than the period ago is due. With
/// --dry-run nothing is written; without it the due entries get their tombstones here (what the owning stage's expiry
/// timer does on schedule: for a stage that is stopped or behind). Event topics are removed by the broker's
/// retention.ms; they are listed with it, and one that keeps case data longer than the period is named.
/// </summary>
public static class RetentionCommand
{
    public sealed record Settings(string? Bootstrap, string? Registry, bool DryRun, string ClosedCaseAfter, string? Now, bool Json);

    public sealed record StateTopicReport(string Topic, int Entries, int Finished, int Due, DateTime? NextExpiry);

    public sealed record EventTopicReport(string Topic, long RetentionMs, bool HoldsCaseData, bool LongerThanPeriod);

    public sealed record Report(DateTime Now, TimeSpan ClosedCaseAfter, bool DryRun, IReadOnlyList<StateTopicReport> State,
        IReadOnlyList<EventTopicReport> Events, int Deleted);

    /// <summary>Topics that never hold a case's URL, host, IP, hash or reporter: the bank itself and the anonymous audit log.</summary>
    private static readonly HashSet<string> NoCaseData = [Topics.HashesKnown, Topics.AuditLog];

    public static async Task<int> RunAsync(Settings settings, TextWriter output, CancellationToken ct)
    {
        TimeSpan period;
        try
        {
            period = SlaCommand.Window(settings.ClosedCaseAfter);
        }
        catch (ArgumentException)
        {
            throw new ArgumentException($"--closed-case-after '{settings.ClosedCaseAfter}' is not a period. Fix: e.g. --closed-case-after 180d (the services' Retention:ClosedCaseAfter).");
        }
        var now = settings.Now is null ? DateTime.UtcNow
            : DateTime.TryParse(settings.Now, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t) ? t
            : throw new ArgumentException($"--now '{settings.Now}' is not a time. Fix: e.g. --now 2027-06-01T00:00:00Z.");
        var kafka = HashesCommand.Kafka(new HashesCommand.Connection(settings.Bootstrap, settings.Registry));
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = kafka.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);

        var state = new List<StateTopicReport>();
        var due = new List<(string Topic, int Partition, string Key)>();
        foreach (var (topic, finished) in RetentionRules.StateTopics)
        {
            var entries = await ReadCompactedAsync(kafka, serdes, topic, ct);
            var expiries = entries.Select(e => (e.Partition, e.Key, Expiry: finished(e.Value) + period)).ToList();
            var expired = expiries.Where(e => e.Expiry <= now).ToList();
            due.AddRange(expired.Select(e => (topic, e.Partition, e.Key)));
            state.Add(new StateTopicReport(topic, entries.Count, expiries.Count(e => e.Expiry is not null), expired.Count,
                expiries.Where(e => e.Expiry > now).Select(e => e.Expiry).Min()));
        }
        var events = TopicCatalog.All.Where(t => t.CleanupPolicy == "delete")
            .Select(t => new EventTopicReport(t.Name, t.RetentionMs, !NoCaseData.Contains(t.Name),
                !NoCaseData.Contains(t.Name) && (t.RetentionMs < 0 || TimeSpan.FromMilliseconds(t.RetentionMs) > period)))
            .ToList();

        var deleted = 0;
        if (!settings.DryRun && due.Count > 0)
        {
            using var producer = new ProducerBuilder<byte[], byte[]?>(new ProducerConfig(KafkaClients.Config(kafka)) { Acks = Acks.All, EnableIdempotence = true }).Build();
            foreach (var (topic, partition, key) in due)
            {
                var headers = new Headers { { "pipeline.origin", Encoding.UTF8.GetBytes("retention:" + Environment.MachineName) } };
                await producer.ProduceAsync(new TopicPartition(topic, partition), new Message<byte[], byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = null, Headers = headers }, ct);
                deleted++;
            }
            producer.Flush(ct);
        }

        var report = new Report(now, period, settings.DryRun, state, events, deleted);
        await output.WriteAsync(settings.Json ? JsonSerializer.Serialize(report, JsonOptions) + Environment.NewLine : Text(report));
        return 0;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static string Text(Report r)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Retention at {r.Now:yyyy-MM-dd HH:mm}Z: finished cases kept {r.ClosedCaseAfter.TotalDays:0.##} days (Retention:ClosedCaseAfter){(r.DryRun ? "; dry run, nothing written" : "")}");
        sb.AppendLine();
        sb.AppendLine("state topics (as compaction leaves them)   entries  finished  due now  next expiry");
        foreach (var s in r.State)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {s.Topic,-40} {s.Entries,7} {s.Finished,9} {s.Due,8}  {(s.NextExpiry is { } n ? n.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + "Z" : "-")}");
        var total = r.State.Sum(s => s.Due);
        sb.AppendLine(r.DryRun
            ? $"would delete {total} entr{(total == 1 ? "y" : "ies")} (a tombstone each; the owning stages do it on schedule)"
            : $"deleted {r.Deleted} entr{(r.Deleted == 1 ? "y" : "ies")} (a tombstone each)");
        sb.AppendLine();
        sb.AppendLine("event topics: removed by the broker after retention.ms");
        foreach (var e in r.Events)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {e.Topic,-40} {(e.RetentionMs < 0 ? "forever" : TimeSpan.FromMilliseconds(e.RetentionMs).TotalDays.ToString("0.##", CultureInfo.InvariantCulture) + " days"),12}{(e.HoldsCaseData ? "" : "  (no case data)")}{(e.LongerThanPeriod ? "  LONGER THAN THE PERIOD" : "")}");
        return sb.ToString();
    }

    private sealed record Entry(int Partition, string Key, ISpecificRecord Value);

    /// <summary>The topic's entries as compaction leaves them, read as the catalog's value type of the topic.</summary>
    private static Task<List<Entry>> ReadCompactedAsync(KafkaOptions kafka, AvroSerdes serdes, string topic, CancellationToken ct) =>
        (Task<List<Entry>>)typeof(RetentionCommand).GetMethod(nameof(ReadAsync), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(SchemaRegistration.ValueType(TopicCatalog.Get(topic))).Invoke(null, [kafka, serdes, topic, ct])!;

    private static async Task<List<Entry>> ReadAsync<T>(KafkaOptions kafka, AvroSerdes serdes, string topic, CancellationToken ct) where T : class, ISpecificRecord
    {
        var latest = new Dictionary<(int, string), T>();
        using var reader = new CompactedTopicReader<T>(kafka, serdes, topic, (key, value, partition) =>
        {
            lock (latest)
            {
                if (value is null) latest.Remove((partition, key));
                else latest[(partition, key)] = value;
            }
        }, NullLogger.Instance);
        reader.Start();
        await reader.CaughtUp.WaitAsync(TimeSpan.FromMinutes(5), ct);
        lock (latest) return [.. latest.Select(e => new Entry(e.Key.Item1, e.Key.Item2, e.Value))];
    }
}
