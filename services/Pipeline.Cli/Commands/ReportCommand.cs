using System.Globalization;
using Avro.Specific;
using Confluent.SchemaRegistry;
using Pipeline.Inspection.Trace;
using Pipeline.Inspection.Transparency;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline report`: the transparency report of a period, recomputed from the topics.</summary>
public static class ReportCommand
{
    /// <param name="Out">the file to write; null writes to standard output</param>
    /// <param name="Source">topics (every event, as long as the topics keep them) or audit (audit.log.v1, 5 years)</param>
    public sealed record Settings(string? From, string? To, string Format, string? Out, bool Anonymous, string? Bootstrap, string? Registry, string Source = "topics");

    /// <summary>The topics the figures come from.</summary>
    public static IReadOnlyList<string> SourceTopics => TransparencySource.SourceTopics;

    public static async Task<int> RunAsync(Settings settings, TextWriter output, CancellationToken ct)
    {
        var from = Date(settings.From, "--from", endOfDay: false);
        var to = Date(settings.To, "--to", endOfDay: true);
        var format = settings.Format.ToLowerInvariant();
        if (!TransparencyReportFormats.Names.Contains(format)) throw new ArgumentException($"--format '{settings.Format}' is not a report format. Fix: --format html, csv or json.");
        if (to <= from) throw new ArgumentException($"--to {settings.To} is not after --from {settings.From}. Fix: e.g. --from 2026-01-01 --to 2026-12-31.");
        var fromAudit = settings.Source.ToLowerInvariant() switch
        {
            "topics" => false,
            "audit" => true,
            _ => throw new ArgumentException($"--source '{settings.Source}' is not a source. Fix: --source topics (the events) or --source audit (the audit log, for periods past the topics' retention)."),
        };
        var kafka = HashesCommand.Kafka(new HashesCommand.Connection(settings.Bootstrap, settings.Registry));
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = kafka.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);

        var history = await Task.Run(() => fromAudit ? ReadAudit(kafka, serdes, ct) : Read(kafka, serdes, ct), ct);
        var text = TransparencyReportFormats.Write(TransparencyFigures.Compute(history, from, to, settings.Anonymous), format);
        if (settings.Out is null)
        {
            await output.WriteAsync(text);
            return 0;
        }
        var path = Path.GetFullPath(settings.Out);
        if (Path.GetDirectoryName(path) is { } dir) Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(path, text, ct);
        await output.WriteLineAsync($"transparency report ({format}, {from:yyyy-MM-dd} to {to.AddTicks(-1):yyyy-MM-dd}) written to {path}");
        return 0;
    }

    public static TransparencyHistory Read(KafkaOptions kafka, AvroSerdes serdes, CancellationToken ct) => TransparencySource.Read(kafka, serdes, ct);

    public static TransparencyHistory ReadAudit(KafkaOptions kafka, AvroSerdes serdes, CancellationToken ct) => TransparencySource.ReadAudit(kafka, serdes, ct);

    /// <summary>2026-01-01 (a whole day, UTC: as --to the day is included) or an ISO 8601 time (taken as given; UTC unless it
    /// says otherwise).</summary>
    public static DateTime Date(string? text, string option, bool endOfDay)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException($"{option} is required. Fix: e.g. --from 2026-01-01 --to 2026-12-31.");
        if (DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var day))
            return endOfDay ? day.AddDays(1) : day;
        if (DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time)) return time;
        throw new ArgumentException($"{option} '{text}' is not a date. Fix: e.g. {option} 2026-01-01 (a day, UTC) or {option} 2026-01-01T12:00:00Z.");
    }
}
