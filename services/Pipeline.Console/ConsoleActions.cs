using System.Globalization;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Routing;
using Pipeline.Takedown;

namespace Pipeline.Operator;

/// <summary>What a person can do in the console, each written as the record the pipeline already reads, then audited.</summary>
public sealed class ConsoleActions(ConsoleTopics topics, EventPublisher publisher, ConsoleAudit audit, TimeProvider time, IOptions<ConsoleOptions> options)
{
    private static readonly TimeSpan ReadBack = TimeSpan.FromSeconds(30);

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    private static string Ticks(DateTime t) => t.Ticks.ToString(CultureInfo.InvariantCulture);

    /// <summary>Takes (or renews) the lock on a waiting report. Mine: false and the holder when another analyst holds it.</summary>
    public async Task<(bool Mine, AssessmentLock? Holder)> LockAsync(string caseKey, string reportId, string user, CancellationToken ct)
    {
        var key = AssessmentLocks.KeyOf(caseKey, reportId);
        var now = Now;
        if (AssessmentLocks.Holder(topics.LockOf(key), now) is { } held && held.lockedBy != user) return (false, held);
        var wanted = new AssessmentLock
        {
            eventId = EventIds.Derive("assessment-lock", key, user, Ticks(now)),
            caseKey = caseKey, reportId = reportId, lockedBy = user, lockedAt = now, expiresAt = now.AddMinutes(options.Value.LockMinutes),
        };
        var applied = topics.LockApplied(wanted.eventId);
        await publisher.PublishAsync(Topics.ConsoleLocks, key, wanted, ct: ct);
        // Every replica applies the topic in the same order: the lock as it stands after this record is the answer.
        var holder = await applied.WaitAsync(ReadBack, ct);
        var mine = holder?.eventId == wanted.eventId;
        await audit.WriteAsync(mine ? "console.report-locked" : "console.report-lock-refused", user, Topics.ConsoleLocks, wanted.eventId, caseKey, [reportId],
            new Dictionary<string, string?> { ["holder"] = holder?.lockedBy, ["expiresAt"] = holder?.expiresAt.ToString("o", CultureInfo.InvariantCulture) }, ct: ct);
        return (mine, holder);
    }

    /// <summary>Releases the lock if <paramref name="user"/> holds it.</summary>
    public async Task<bool> UnlockAsync(string caseKey, string reportId, string user, CancellationToken ct)
    {
        var key = AssessmentLocks.KeyOf(caseKey, reportId);
        if (topics.LockOf(key) is not { } held || held.lockedBy != user) return false;
        await publisher.TombstoneAsync(Topics.ConsoleLocks, key, ct: ct);
        await audit.WriteAsync("console.report-unlocked", user, Topics.ConsoleLocks, held.eventId, caseKey, [reportId], ct: ct);
        return true;
    }

    public sealed record Verdict(Contracts.Classification Classification, SeverityCategory Category, AgeGroup AgeGroup, Gender Gender, bool IsVirtual, bool UserGenerated, string? Note);

    /// <summary>Problems with a verdict as entered, for the form.</summary>
    public static List<string> Problems(Verdict v)
    {
        var problems = new List<string>();
        var illegal = v.Classification is Contracts.Classification.BASELINE or Contracts.Classification.NATIONAL;
        if (illegal && v.Category == SeverityCategory.NOT_DETERMINED)
            problems.Add("An illegal verdict needs its category (A1, A2, B1 or B2): it is the X-ARF classification of the notice.");
        if (!illegal && v.Category != SeverityCategory.NOT_DETERMINED)
            problems.Add($"A category belongs to an illegal verdict only; {v.Classification} takes none.");
        if (v.Note is { Length: > 2000 }) problems.Add("The note is longer than 2,000 characters.");
        return problems;
    }

    /// <summary>Sends the analyst's verdict as ReportAssessed on reports.assessed.v1 (the topic classification reads) and
    /// releases the lock. Null when the report is locked by someone else (then the holder).</summary>
    public async Task<(ReportAssessed? Sent, AssessmentLock? Holder)> AssessAsync(WaitingReport waiting, Verdict v, string user, CancellationToken ct)
    {
        var (mine, holder) = await LockAsync(waiting.caseKey, waiting.reportId, user, ct);
        if (!mine) return (null, holder);
        var now = Now;
        var assessed = new ReportAssessed
        {
            eventId = EventIds.Derive("console-assessed", waiting.caseKey, waiting.reportId, user, Ticks(now)),
            caseKey = waiting.caseKey, reportId = waiting.reportId,
            assessment = new Assessment
            {
                classification = v.Classification, ageGroup = v.AgeGroup, gender = v.Gender, isVirtual = v.IsVirtual, userGenerated = v.UserGenerated,
                analyst = user, assessedAt = now, category = v.Category,
            },
            note = string.IsNullOrWhiteSpace(v.Note) ? null : v.Note.Trim(),
        };
        await publisher.PublishAsync(Topics.ReportsAssessed, assessed.caseKey, assessed, ct: ct);
        var key = AssessmentLocks.KeyOf(waiting.caseKey, waiting.reportId);
        topics.AssessedHere(key, assessed.eventId);
        await publisher.TombstoneAsync(Topics.ConsoleLocks, key, ct: ct);
        await audit.WriteAsync("console.assessment-sent", user, Topics.ReportsAssessed, assessed.eventId, waiting.caseKey, [waiting.reportId],
            new Dictionary<string, string?> { ["classification"] = v.Classification.ToString(), ["category"] = v.Category.ToString() }, ct: ct);
        return (assessed, null);
    }

    /// <summary>Approves a contact (creating its entry when the directory has none, e.g. an address found by RDAP): the
    /// takedown stage then issues the notices held for it.</summary>
    public async Task<ContactDirectoryEntry> ApproveContactAsync(string contactId, string user, CancellationToken ct)
    {
        var now = Now;
        var entry = topics.Contacts.Entries.FirstOrDefault(e => e.contactId == contactId) is { } known
            ? ContactEntries.Copy(known) : ContactEntries.New(contactId, ContactSource.CONSOLE, now);
        ContactEntries.Approve(entry, user, now);
        await ContactEntries.WriteAsync(publisher, entry, user, now, ct);
        await audit.WriteAsync("console.contact-approved", user, Topics.ContactsDirectory, entry.eventId,
            details: new Dictionary<string, string?> { ["channel"] = entry.channel.ToString(), ["hosterId"] = entry.hosterId }, ct: ct);
        return entry;
    }

    /// <summary>Writes a changed directory entry (made from the current one with <see cref="ContactEntries.Copy"/>).</summary>
    public async Task SaveContactAsync(ContactDirectoryEntry entry, string user, CancellationToken ct)
    {
        var now = Now;
        await ContactEntries.WriteAsync(publisher, entry, user, now, ct);
        await audit.WriteAsync("console.contact-changed", user, Topics.ContactsDirectory, entry.eventId,
            details: new Dictionary<string, string?> { ["channel"] = entry.channel.ToString(), ["hosterId"] = entry.hosterId, ["approved"] = entry.approved ? "true" : "false" }, ct: ct);
    }

    /// <summary>Releases a takedown held for the police, as the PoliceRelease routing consumes; the reason goes in its note.</summary>
    public async Task<PoliceRelease> ReleaseHoldAsync(TakedownRequested held, string reason, bool preserveEvidence, string user, CancellationToken ct)
    {
        var now = Now;
        var release = new PoliceRelease
        {
            eventId = EventIds.Derive("console-police-release", held.caseKey, user, Ticks(now)),
            caseKey = held.caseKey, referralId = RoutingProcessor.ReferralId(held.caseKey, held.report.reportId),
            releasedBy = user, releasedAt = now, preserveEvidence = preserveEvidence, note = reason,
        };
        await publisher.PublishAsync(Topics.PoliceReleases, release.caseKey, release, ct: ct);
        await audit.WriteAsync("console.police-release-sent", user, Topics.PoliceReleases, release.eventId, held.caseKey, [held.report.reportId],
            new Dictionary<string, string?> { ["referralId"] = release.referralId, ["preserveEvidence"] = preserveEvidence ? "true" : "false" }, ct: ct);
        return release;
    }
}
