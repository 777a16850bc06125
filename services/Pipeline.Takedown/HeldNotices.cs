using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;
using Prometheus;

namespace Pipeline.Takedown;

/// <summary>
/// Notices the takedown stage holds before issuing them, per notice id in the compacted topic takedown.held.v1
/// (co-partitioned with takedown.requested.v1): a contact that is not approved (RDAP-found, <c>approved=false</c> on the
/// abuse contact, or a directory entry not approved), a contact whose notices need police consent, or a recipient
/// whose send window is closed. Timers: a SEND_WINDOW hold is due at its <c>sendAt</c>; an APPROVAL or POLICE_CONSENT
/// hold is due as soon as the directory clears its contact (the directory reader reschedules the holds when an entry
/// changes). A released hold is kept (releasedAt set) to recognise replays, and expires with the case retention.
/// </summary>
public sealed class HeldNotices(IOptions<KafkaOptions> kafka, IOptions<RetentionOptions> retention, AvroSerdes serdes, ILogger<HeldNotices> log)
{
    public PartitionedState<HeldNotice> State { get; } = new PartitionedState<HeldNotice>(Topics.TakedownHeld, kafka.Value, serdes, log)
        .ExpiresAt(h => retention.Value.Expiry(RetentionRules.Finished(h)));

    public static readonly Gauge Waiting = Metrics.CreateGauge(
        "pipeline_takedown_held_notices", "Notices held before issue, by what they wait for (approval, police_consent, send_window).",
        new GaugeConfiguration { LabelNames = ["held_for"] });

    public static readonly Gauge OldestApproval = Metrics.CreateGauge(
        "pipeline_takedown_held_oldest_approval_timestamp_seconds", "Unix time (stage clock) at which the oldest notice still waiting for its contact's approval was held; 0 when none waits.");
}

/// <summary>What the directory and the send window say about a notice to one contact, now.</summary>
public sealed record Clearance(HeldFor? BlockedBy, string? Reason, DateTime SendAt, string? Window);

/// <summary>The rules: approval and police consent from the directory (an entry for the address or one of its aliases
/// decides; without one, the abuse contact's own <c>approved</c> flag), and the send window (the entry's, else
/// Takedown:SendWindow when enabled).</summary>
public sealed class ContactRules(ContactDirectory directory, IOptions<TakedownOptions> options)
{
    private readonly ParsedWindow? defaultWindow = options.Value.SendWindow.Enabled
        ? ParsedWindow.Parse(options.Value.SendWindow.ToRecord(), "Takedown:SendWindow").Window : null;

    public ContactDirectory Directory => directory;

    public Clearance Check(NoticeRecipient recipient, bool contactApproved, DateTime now)
    {
        var entry = directory.Find(recipient.channel, recipient.address);
        var window = WindowOf(entry);
        var sendAt = window?.NextOpen(now) ?? now;
        var describe = window?.Describe();
        if (entry is not null && !entry.approved)
            return new(HeldFor.APPROVAL, $"contact not approved: {recipient.address} (directory entry {entry.contactId}, source {entry.source.ToString().ToLowerInvariant()})", sendAt, describe);
        if (entry is null && !contactApproved)
            return new(HeldFor.APPROVAL, $"contact not approved: {recipient.address} found via {recipient.foundVia}", sendAt, describe);
        if (entry is { police: true })
            return new(HeldFor.POLICE_CONSENT, $"police consent required: notices for {recipient.address} need the police's consent (directory entry {entry.contactId})", sendAt, describe);
        if (sendAt > now)
            return new(HeldFor.SEND_WINDOW, $"send window closed: {recipient.address} receives notices {describe}; next opens {sendAt:yyyy-MM-dd HH:mm} UTC", sendAt, describe);
        return new(null, null, now, describe);
    }

    /// <summary>The window that applies to an entry's notices: its own, else the default (null: always open).</summary>
    public ParsedWindow? WindowOf(ContactDirectoryEntry? entry) =>
        entry?.sendWindow is { } own && ParsedWindow.Parse(own, $"contacts.directory.v1 {entry.contactId} sendWindow") is { Window: { } parsed } ? parsed : defaultWindow;

    /// <summary>The window line of the notice text, or null when no window applies.</summary>
    public string? WindowLine(NoticeRecipient recipient)
    {
        var entry = directory.Find(recipient.channel, recipient.address);
        return WindowOf(entry)?.Line(NoticeStyle.Of(entry).Texts);
    }

    /// <summary>True when a held notice waiting for approval or consent may go on (the directory cleared its contact).</summary>
    public bool Cleared(HeldNotice h) => h.heldFor switch
    {
        HeldFor.APPROVAL => directory.Find(h.contactId) is { approved: true },
        HeldFor.POLICE_CONSENT => directory.Find(h.contactId) is { police: false },
        _ => true,
    };

    public static HeldNotice Hold(TakedownNotice notice, Clearance c, DateTime now, TakedownRequested? request = null) => new()
    {
        request = request,
        eventId = EventIds.Derive("notice-held", notice.noticeId, c.BlockedBy!.Value.ToString()),
        caseKey = notice.caseKey, noticeId = notice.noticeId, heldFor = c.BlockedBy!.Value, reason = c.Reason!,
        contactId = ContactDirectory.IdOf(notice.recipient.channel, notice.recipient.address),
        heldAt = now, sendAt = c.BlockedBy == HeldFor.SEND_WINDOW ? c.SendAt : null, releasedAt = null, releasedBy = null, notice = notice,
    };

    public static HeldNotice Released(HeldNotice h, DateTime now, string by) => new()
    {
        eventId = EventIds.Derive("notice-released", h.noticeId, h.heldFor.ToString()),
        caseKey = h.caseKey, noticeId = h.noticeId, heldFor = h.heldFor, reason = h.reason, contactId = h.contactId,
        heldAt = h.heldAt, sendAt = h.sendAt, releasedAt = now, releasedBy = by, notice = h.notice, request = null,
    };

    /// <summary>The notice with the window line added to its text (once).</summary>
    /// <summary>The language and template of notices to a contact, from its directory entry (or its alias's).</summary>
    public NoticeStyle StyleOf(NoticeChannel channel, string address) => NoticeStyle.Of(directory.Find(channel, address));

    public TakedownNotice WithWindowLine(TakedownNotice n)
    {
        if (WindowLine(n.recipient) is not { } line || n.text.Contains(line, StringComparison.Ordinal)) return n;
        var copy = NoticeComposer.Copy(n, n.timeline.noticeSentAt, n.timeline.removalObservedAt);
        copy.text = n.text.TrimEnd('\n') + "\n" + line + "\n";
        return copy;
    }

    public static string Describe(DateTime at) => at.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
}
