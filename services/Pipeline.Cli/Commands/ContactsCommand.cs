using System.Globalization;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Geolocation;
using Pipeline.Platform;
using Pipeline.Takedown;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline contacts list | approve | set | seed`: the abuse contact directory on the compacted topic
/// contacts.directory.v1 (one ContactDirectoryEntry per contact id, channel:address). Every write is a whole new
/// version of the entry (read, changed, written), so the topic's latest record is the entry.</summary>
public static class ContactsCommand
{
    public sealed record ListSettings(bool Json, HashesCommand.Connection Kafka);

    public sealed record ApproveSettings(string? Id, string? By, HashesCommand.Connection Kafka);

    /// <summary>Changes to an entry; null: unchanged. Lists are comma-separated ("" clears).</summary>
    public sealed record SetSettings(string? Id, string? By, string? Hoster, string? Aliases, string? Domains, double? GroupingHours, string? Template,
        string? Language, bool? Police, bool? Approved, string? Days, string? Opens, string? Closes, string? TimeZone, string? Holidays, bool ClearWindow,
        HashesCommand.Connection Kafka);

    public sealed record SeedSettings(string? Config, string? By, HashesCommand.Connection Kafka);

    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static string By(string? by) =>
        string.IsNullOrWhiteSpace(by) ? throw new ArgumentException("--by is missing. Fix: name who does this, e.g. --by analyst-7.") : by.Trim();

    private static string Id(string? id)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new ArgumentException("The contact id is missing. Fix: give channel:address, e.g. email:abuse@hoster.example (see pipeline contacts list).");
        return ContactDirectory.Parse(id.Trim()) is { } parsed
            ? ContactDirectory.IdOf(parsed.Channel, parsed.Address)
            : throw new ArgumentException($"'{id}' is not a contact id. Fix: channel:address, e.g. email:abuse@hoster.example or webhook:https://hoster.example/abuse.");
    }

    /// <summary>The directory as it is now: every entry of the topic, read to its end.</summary>
    public static async Task<Dictionary<string, ContactDirectoryEntry>> ReadAsync(KafkaOptions kafka, AvroSerdes serdes, CancellationToken ct)
    {
        var entries = new Dictionary<string, ContactDirectoryEntry>(StringComparer.Ordinal);
        using var reader = new CompactedTopicReader<ContactDirectoryEntry>(kafka, serdes, Topics.ContactsDirectory, (key, value, _) =>
        {
            lock (entries) { if (value is null) entries.Remove(key); else entries[key] = value; }
        }, NullLogger.Instance);
        reader.Start();
        await reader.CaughtUp.WaitAsync(TimeSpan.FromMinutes(5), ct);
        lock (entries) return new Dictionary<string, ContactDirectoryEntry>(entries, StringComparer.Ordinal);
    }

    private static async Task<int> WithDirectoryAsync(HashesCommand.Connection connection,
        Func<Dictionary<string, ContactDirectoryEntry>, EventPublisher?, Task<int>> action, bool writes, CancellationToken ct)
    {
        var kafka = HashesCommand.Kafka(connection);
        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = kafka.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        var entries = await ReadAsync(kafka, serdes, ct);
        if (!writes) return await action(entries, null);
        using var publisher = new EventPublisher(Options.Create(kafka), serdes, "pipeline-contacts");
        return await action(entries, publisher);
    }

    public static Task<int> ListAsync(ListSettings settings, CancellationToken ct) => WithDirectoryAsync(settings.Kafka, (entries, _) =>
    {
        if (settings.Json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(entries.Values.OrderBy(e => e.contactId, StringComparer.Ordinal).Select(e => new
            {
                e.contactId, e.hosterId, channel = e.channel.ToString(), e.address, e.approved, e.approvedBy, e.approvedAt, e.police, e.aliases, e.domains,
                e.groupingHours, e.template, e.language, source = e.source.ToString(), sendWindow = e.sendWindow is { } w
                    ? new { w.days, w.opens, w.closes, w.timeZone, w.holidays } : null,
                e.updatedAt, e.updatedBy,
            }), Indented));
            return Task.FromResult(0);
        }
        foreach (var e in entries.Values.OrderBy(e => e.contactId, StringComparer.Ordinal))
        {
            var approval = e.approved ? $"approved by {e.approvedBy} at {e.approvedAt:yyyy-MM-dd HH:mm}" : "NOT APPROVED";
            var window = e.sendWindow is { } w ? $"{string.Join(',', w.days)} {w.opens}-{w.closes} {w.timeZone}" + (w.holidays.Count > 0 ? $" (+{w.holidays.Count} holidays)" : "") : "default";
            Console.WriteLine($"{e.contactId}  hoster={e.hosterId ?? "-"}  {approval}  police={(e.police ? "yes" : "no")}  source={e.source.ToString().ToLowerInvariant()}");
            Console.WriteLine($"    aliases={Join(e.aliases)}  domains={Join(e.domains)}  grouping={(e.groupingHours is { } g ? g.ToString(CultureInfo.InvariantCulture) + "h" : "default")}  template={e.template ?? "-"}  language={e.language ?? "-"}  window={window}");
            Console.WriteLine($"    updated {e.updatedAt:yyyy-MM-dd HH:mm} by {e.updatedBy}");
        }
        Console.WriteLine($"{entries.Count} contact(s), {entries.Values.Count(e => !e.approved)} not approved");
        return Task.FromResult(0);
    }, writes: false, ct);

    private static string Join(IList<string> items) => items.Count == 0 ? "-" : string.Join(',', items);

    /// <summary>Approves a contact (creating its entry if the directory has none, e.g. for an RDAP-found address): the
    /// takedown stage then issues the notices held for it.</summary>
    public static Task<int> ApproveAsync(ApproveSettings settings, CancellationToken ct)
    {
        var id = Id(settings.Id);
        var by = By(settings.By);
        return WithDirectoryAsync(settings.Kafka, async (entries, publisher) =>
        {
            var now = DateTime.UtcNow;
            var entry = entries.TryGetValue(id, out var known) ? Copy(known) : New(id, ContactSource.CLI);
            if (entry.approved) Console.WriteLine($"{id} was approved already (by {entry.approvedBy}); approval renewed.");
            ContactEntries.Approve(entry, by, now);
            await WriteAsync(publisher!, entry, by, now, ct);
            Console.WriteLine($"approved {id} by {by}; notices held for it are issued by the takedown stage");
            return 0;
        }, writes: true, ct);
    }

    public static Task<int> SetAsync(SetSettings s, CancellationToken ct)
    {
        var id = Id(s.Id);
        var by = By(s.By);
        if (s.GroupingHours is < 0 or > 24 * 7) throw new ArgumentException($"--grouping-hours {s.GroupingHours} must lie between 0 and 168. Fix: e.g. --grouping-hours 1.");
        if (NoticeStyle.TemplateError(s.Template, "--template") is { } template) throw new ArgumentException(template);
        return WithDirectoryAsync(s.Kafka, async (entries, publisher) =>
        {
            var now = DateTime.UtcNow;
            var e = entries.TryGetValue(id, out var known) ? Copy(known) : New(id, ContactSource.CLI);
            if (s.Hoster is not null) e.hosterId = s.Hoster.Length == 0 ? null : s.Hoster;
            if (s.Aliases is not null) e.aliases = List(s.Aliases);
            if (s.Domains is not null) e.domains = List(s.Domains).Select(d => d.ToLowerInvariant()).ToList();
            if (s.GroupingHours is { } g) e.groupingHours = g == 0 ? null : g;
            if (s.Template is not null) e.template = s.Template.Length == 0 ? null : s.Template.Trim().ToLowerInvariant();
            if (s.Language is not null) e.language = s.Language.Length == 0 ? null : s.Language;
            if (s.Police is { } police) e.police = police;
            if (s.Approved is { } approved)
            {
                e.approved = approved;
                e.approvedBy = approved ? by : null;
                e.approvedAt = approved ? now : null;
            }
            if (s.ClearWindow) e.sendWindow = null;
            else if (s.Days is not null || s.Opens is not null || s.Closes is not null || s.TimeZone is not null || s.Holidays is not null)
            {
                var w = e.sendWindow ?? new SendWindowSettings().ToRecord();
                var window = new SendWindow
                {
                    days = s.Days is null ? w.days : List(s.Days), opens = s.Opens ?? w.opens, closes = s.Closes ?? w.closes,
                    timeZone = s.TimeZone ?? w.timeZone, holidays = s.Holidays is null ? w.holidays : List(s.Holidays),
                };
                var (_, problems) = ParsedWindow.Parse(window, "--window");
                if (problems.Count > 0) throw new ArgumentException(string.Join(" ", problems.Select(p => p.Replace("--window:Days", "--days", StringComparison.Ordinal)
                    .Replace("--window:Opens", "--opens", StringComparison.Ordinal).Replace("--window:Closes", "--closes", StringComparison.Ordinal)
                    .Replace("--window:TimeZone", "--time-zone", StringComparison.Ordinal).Replace("--window:Holidays", "--holidays", StringComparison.Ordinal)
                    .Replace("Takedown:SendWindow:Enabled to false", "--clear-window", StringComparison.Ordinal))));
                e.sendWindow = window;
            }
            await WriteAsync(publisher!, e, by, now, ct);
            Console.WriteLine($"updated {id} (approved: {e.approved}, police: {e.police})");
            return 0;
        }, writes: true, ct);
    }

    /// <summary>Writes an entry for every abuse address of the configured hosting directory (Geolocation:Networks in a
    /// JSON file such as the geolocation service's appsettings.json): configured contacts are approved. Entries that
    /// exist are left as they are (the directory is the truth once seeded).</summary>
    public static Task<int> SeedAsync(SeedSettings s, CancellationToken ct)
    {
        var file = s.Config ?? throw new ArgumentException("--config is missing. Fix: --config services/Pipeline.Geolocation/appsettings.json (a file with Geolocation:Networks).");
        if (!File.Exists(file)) throw new ArgumentException($"--config '{file}' does not exist.");
        var by = s.By ?? "seed:config";
        var geo = new GeolocationOptions();
        new ConfigurationBuilder().AddJsonFile(Path.GetFullPath(file)).Build().GetSection(GeolocationOptions.Section).Bind(geo);
        return WithDirectoryAsync(s.Kafka, async (entries, publisher) =>
        {
            var now = DateTime.UtcNow;
            var (written, kept) = (0, 0);
            foreach (var e in Seed(geo, by, now))
            {
                if (entries.ContainsKey(e.contactId)) { kept++; continue; }
                await WriteAsync(publisher!, e, by, now, ct);
                entries[e.contactId] = e;
                written++;
            }
            Console.WriteLine($"seeded {written} contact(s) from {file}; {kept} already in the directory (left as they are)");
            return 0;
        }, writes: true, ct);
    }

    /// <summary>The directory entries of the configured networks: one per abuse address, approved, with the hoster id.</summary>
    public static IEnumerable<ContactDirectoryEntry> Seed(GeolocationOptions geo, string by, DateTime now) =>
        geo.Networks.Where(n => !string.IsNullOrWhiteSpace(n.AbuseAddress))
            .Select(n => (Network: n, Channel: Enum.TryParse<NoticeChannel>(n.AbuseChannel, ignoreCase: true, out var c) ? c : NoticeChannel.EMAIL))
            .GroupBy(x => ContactDirectory.IdOf(x.Channel, x.Network.AbuseAddress!), StringComparer.Ordinal)
            .Select(g =>
            {
                var e = New(g.Key, ContactSource.CONFIG);
                e.hosterId = string.IsNullOrWhiteSpace(g.First().Network.HosterId) ? null : g.First().Network.HosterId;
                e.approved = true;
                e.approvedBy = by;
                e.approvedAt = now;
                e.updatedAt = now;
                e.updatedBy = by;
                return e;
            });

    private static List<string> List(string csv) => [.. csv.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    public static ContactDirectoryEntry New(string id, ContactSource source) => ContactEntries.New(id, source, DateTime.UtcNow);

    private static ContactDirectoryEntry Copy(ContactDirectoryEntry source) => ContactEntries.Copy(source);

    private static Task WriteAsync(EventPublisher publisher, ContactDirectoryEntry e, string by, DateTime now, CancellationToken ct) =>
        ContactEntries.WriteAsync(publisher, e, by, now, ct);
}
