using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

/// <summary>
/// The contact directory as the takedown stage sees it: the compacted topic contacts.directory.v1 (one
/// <see cref="ContactDirectoryEntry"/> per contact id, a tombstone removes it) followed by a reader, with an index from
/// every address and alias to its entry. Written by <c>pipeline contacts</c> (and later the operator console).
/// </summary>
public sealed class ContactDirectory(IOptions<KafkaOptions> kafka, AvroSerdes serdes, ILogger<ContactDirectory> log) : IDisposable
{
    private readonly ConcurrentDictionary<string, ContactDirectoryEntry> entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> byAddress = new(StringComparer.Ordinal); // contact id of address/alias → entry id
    private readonly Lock gate = new();
    private CompactedTopicReader<ContactDirectoryEntry>? reader;

    /// <summary>Called (on the reader's thread) after an entry changed: its id, old and new version.</summary>
    public event Action<ContactDirectoryEntry?, ContactDirectoryEntry?>? Changed;

    /// <summary>The id of a contact: channel:address in lower case (e.g. <c>email:abuse@hoster.example</c>).</summary>
    public static string IdOf(NoticeChannel channel, string address) =>
        $"{channel.ToString().ToLowerInvariant()}:{address.Trim().ToLowerInvariant()}";

    /// <summary>The channel and address an id names, or null if it does not name one.</summary>
    public static (NoticeChannel Channel, string Address)? Parse(string id)
    {
        var colon = id.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == id.Length - 1) return null;
        return Enum.TryParse<NoticeChannel>(id[..colon], ignoreCase: true, out var channel) ? (channel, id[(colon + 1)..]) : null;
    }

    public IReadOnlyCollection<ContactDirectoryEntry> Entries => [.. entries.Values];

    public bool Loaded { get; private set; }

    /// <summary>The entry that governs notices to <paramref name="channel"/>:<paramref name="address"/>: its own, or the
    /// entry that lists it as an alias.</summary>
    public ContactDirectoryEntry? Find(NoticeChannel channel, string address) => Find(IdOf(channel, address));

    public ContactDirectoryEntry? Find(string contactId) =>
        entries.TryGetValue(contactId, out var e) ? e
        : byAddress.TryGetValue(contactId, out var owner) && entries.TryGetValue(owner, out var o) ? o : null;

    /// <summary>Applies one record of the topic (also used by tests and the CLI).</summary>
    public void Apply(string key, ContactDirectoryEntry? value)
    {
        ContactDirectoryEntry? previous;
        lock (gate)
        {
            entries.TryGetValue(key, out previous);
            if (previous is not null)
                foreach (var alias in previous.aliases) byAddress.TryRemove(KeyOfAlias(previous, alias), out _);
            if (value is null) entries.TryRemove(key, out _);
            else
            {
                entries[key] = value;
                foreach (var alias in value.aliases) byAddress[KeyOfAlias(value, alias)] = key;
            }
        }
        Changed?.Invoke(previous, value);
    }

    /// <summary>An alias is an address on the entry's channel, or a full contact id (webhook:https://...).</summary>
    private static string KeyOfAlias(ContactDirectoryEntry e, string alias) =>
        Parse(alias) is { } id ? IdOf(id.Channel, id.Address) : IdOf(e.channel, alias);

    /// <summary>Starts following the topic (once) and waits until it is read to its end.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        lock (gate)
        {
            if (reader is null)
            {
                reader = new CompactedTopicReader<ContactDirectoryEntry>(kafka.Value, serdes, Topics.ContactsDirectory, (key, value, _) => Apply(key, value), log);
                reader.Start();
            }
        }
        await reader.CaughtUp.WaitAsync(ct);
        Loaded = true;
        log.LogInformation("Contact directory loaded: {Count} entries ({Approved} approved)", entries.Count, entries.Values.Count(e => e.approved));
    }

    public BackgroundWork? Background => reader?.AsBackgroundWork();

    public void Dispose() => reader?.Dispose();
}
