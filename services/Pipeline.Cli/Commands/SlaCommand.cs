using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Platform;
using Pipeline.Sla;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline sla hosters`: the per-hoster scorecards, recomputed from the event history, worst first.</summary>
public static class SlaCommand
{
    /// <param name="Top">only the N worst hosters; null for all of them</param>
    public sealed record HostersSettings(string? Bootstrap, string? Registry, string Since, int RepeatBreaches, int? Top, bool Json);

    public static async Task<int> HostersAsync(HostersSettings settings, TextWriter output, CancellationToken ct)
    {
        var window = Window(settings.Since);
        var repeat = settings.RepeatBreaches;
        if (repeat < 1) throw new ArgumentException($"--repeat-breaches {repeat} must be at least 1. Fix: e.g. --repeat-breaches 3.");
        var top = settings.Top ?? int.MaxValue;
        if (top < 1) throw new ArgumentException($"--top {top} must be at least 1.");
        var kafka = new KafkaOptions
        {
            BootstrapServers = settings.Bootstrap ?? Environment.GetEnvironmentVariable("Kafka__BootstrapServers")
                ?? throw new ArgumentException("No Kafka given. Fix: pass --bootstrap host:9092 or set Kafka__BootstrapServers."),
            SchemaRegistryUrl = settings.Registry ?? Environment.GetEnvironmentVariable("Kafka__SchemaRegistryUrl")
                ?? throw new ArgumentException("No registry given. Fix: pass --registry http://host:8081 or set Kafka__SchemaRegistryUrl."),
        };
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = kafka.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        var history = new ScorecardHistory();
        using (var readers = ScorecardHistory.Follow(history, kafka, serdes, NullLogger.Instance))
        {
            readers.Start();
            await readers.CaughtUp.WaitAsync(TimeSpan.FromMinutes(5), ct);
        }
        var now = DateTime.UtcNow;
        var rows = history.Rank(now, now - window, repeat).Take(top).ToList();
        if (settings.Json) await output.WriteLineAsync(Json(rows, now, now - window, repeat));
        else await output.WriteAsync(Table(rows, now - window));
        return 0;
    }

    /// <summary>30d, 12h, 90m, or a TimeSpan (7.00:00:00).</summary>
    public static TimeSpan Window(string text)
    {
        var unit = text.Length > 1 ? text[^1] : ' ';
        if (unit is 'd' or 'h' or 'm' && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0)
            return unit switch { 'd' => TimeSpan.FromDays(n), 'h' => TimeSpan.FromHours(n), _ => TimeSpan.FromMinutes(n) };
        if (text.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero) return span;
        throw new ArgumentException($"--since '{text}' is not a window. Fix: e.g. --since 30d, --since 12h or --since 90m.");
    }

    public static string Table(IReadOnlyList<HosterRow> rows, DateTime since)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Hosters, worst first: cases first noticed since {since:yyyy-MM-dd HH:mm}Z (open/overdue: any age)");
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"{"#",3}  {"hoster",-36} {"notices",7} {"removed",7} {"in norm",7} {"share",6} {"median",9} {"p90",9} {"open",5} {"overdue",7} {"breach",6} {"reupl",5}  flag");
        var i = 0;
        foreach (var r in rows)
        {
            var name = r.HosterName is { } n && n != r.Hoster ? $"{r.Hoster} ({n})" : r.Hoster;
            if (name.Length > 36) name = name[..35] + "…";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"{++i,3}  {name,-36} {r.Notices,7} {r.Removed,7} {r.RemovedWithinNorm,7} {Share(r.ShareWithinNorm),6} {Duration(r.MedianTimeToRemoval),9} {Duration(r.P90TimeToRemoval),9} {r.OpenNow,5} {r.OverdueNow,7} {r.Breaches,6} {r.Reuploads,5}  {(r.RepeatOffender ? "REPEAT OFFENDER" : "")}");
        }
        if (i == 0) sb.AppendLine("     (no notices in the window)");
        return sb.ToString();
    }

    private static string Share(double? share) => share is { } s ? s.ToString("P0", CultureInfo.InvariantCulture).Replace(" ", "", StringComparison.Ordinal) : "–";

    /// <summary>1d02h, 3h05m, 12m30s: readable and exact to the minute (to the second under an hour).</summary>
    public static string Duration(TimeSpan? value)
    {
        if (value is not { } v) return "–";
        if (v.TotalDays >= 1) return $"{(int)v.TotalDays}d{v.Hours:00}h{v.Minutes:00}m";
        if (v.TotalHours >= 1) return $"{(int)v.TotalHours}h{v.Minutes:00}m";
        return $"{v.Minutes}m{v.Seconds:00}s";
    }

    public static string Json(IReadOnlyList<HosterRow> rows, DateTime now, DateTime since, int repeatBreaches) => JsonSerializer.Serialize(new
    {
        computedAt = now,
        since,
        repeatOffenderBreaches = repeatBreaches,
        hosters = rows.Select((r, i) => new
        {
            rank = i + 1,
            hoster = r.Hoster,
            hosterName = r.HosterName,
            notices = r.Notices,
            reminders = r.Reminders,
            removed = r.Removed,
            removedWithinNorm = r.RemovedWithinNorm,
            decided = r.Decided,
            shareWithinNorm = r.ShareWithinNorm,
            medianTimeToRemovalSeconds = r.MedianTimeToRemoval?.TotalSeconds,
            p90TimeToRemovalSeconds = r.P90TimeToRemoval?.TotalSeconds,
            medianTimeFromReportSeconds = r.MedianTimeFromReport?.TotalSeconds,
            openNow = r.OpenNow,
            overdueNow = r.OverdueNow,
            breaches = r.Breaches,
            reuploads = r.Reuploads,
            withdrawn = r.Withdrawn,
            repeatOffender = r.RepeatOffender,
        }),
    }, JsonOptions);

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };
}
