using System.Globalization;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

/// <summary>
/// Writing the contact directory (contacts.directory.v1): every change is a whole new version of the entry (read,
/// copied, changed, stamped, written), so the topic's latest record is the entry. Shared by `pipeline contacts` and the
/// operator console, so that both write the same records and the takedown stage issues held notices the same way.
/// </summary>
public static class ContactEntries
{
    /// <summary>A new, unapproved entry for <paramref name="id"/> (channel:address).</summary>
    public static ContactDirectoryEntry New(string id, ContactSource source, DateTime now)
    {
        var (channel, address) = ContactDirectory.Parse(id) ?? throw new ArgumentException($"'{id}' is not a contact id.");
        return new ContactDirectoryEntry
        {
            eventId = "", contactId = id, hosterId = null, address = address, channel = channel, approved = false, approvedBy = null, approvedAt = null,
            aliases = [], domains = [], groupingHours = null, template = null, language = null, police = false, sendWindow = null, source = source,
            updatedAt = now, updatedBy = "",
        };
    }

    /// <summary>A copy to change (the lists are copied too).</summary>
    public static ContactDirectoryEntry Copy(ContactDirectoryEntry source)
    {
        var copy = new ContactDirectoryEntry();
        for (var i = 0; i < ((Avro.RecordSchema)copy.Schema).Fields.Count; i++) copy.Put(i, source.Get(i));
        copy.aliases = [.. source.aliases];
        copy.domains = [.. source.domains];
        return copy;
    }

    /// <summary>Marks the entry approved by <paramref name="by"/>: the takedown stage then issues the notices held for it.</summary>
    public static void Approve(ContactDirectoryEntry entry, string by, DateTime now)
    {
        entry.approved = true;
        entry.approvedBy = by;
        entry.approvedAt = now;
    }

    /// <summary>Stamps the new version (who, when, its event id) and writes it.</summary>
    public static async Task WriteAsync(EventPublisher publisher, ContactDirectoryEntry e, string by, DateTime now, CancellationToken ct)
    {
        e.updatedAt = now;
        e.updatedBy = by;
        e.eventId = EventIds.Derive("contact", e.contactId, now.Ticks.ToString(CultureInfo.InvariantCulture));
        await publisher.PublishAsync(Topics.ContactsDirectory, e.contactId, e, ct: ct);
    }
}
