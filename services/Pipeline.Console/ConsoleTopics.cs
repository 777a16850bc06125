using System.Collections.Concurrent;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Takedown;

namespace Pipeline.Operator;

/// <summary>
/// What the console shows, a topic view the platform follows live (<see cref="ITopicView"/>: no consumer group, nothing
/// committed, every replica reads everything; /health/ready once read, not live once a reader died): reports waiting for an assessment (classification.waiting.v1), review requests
/// (reports.review.v1), the analysts' locks (console.locks.v1), takedowns held for the police (routing.held.v1), notices
/// held by the takedown stage (takedown.held.v1), the contact directory and the console's users.
/// </summary>
public sealed class ConsoleTopics(ContactDirectory contacts) : ITopicView
{
    private readonly ConcurrentDictionary<string, WaitingReport> waiting = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ReviewRequested> reviews = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AssessmentLock> locks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TakedownRequested> policeHolds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, HeldNotice> heldNotices = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConsoleUser> users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<AssessmentLock?>> lockWaits = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> assessedHere = new(StringComparer.Ordinal);
    private readonly Lock lockGate = new();

    public ContactDirectory Contacts { get; } = contacts;

    /// <summary>Its name on /health (ready once every topic below has been read to where it ended at start).</summary>
    public string Name => "console";

    public void Follow(TopicFollows follows) => follows
        .Topic<WaitingReport>(Topics.ClassificationWaiting, (k, v) => Put(waiting, k, v))
        .Topic<ReviewRequested>(Topics.ReportsReview, (_, v) => { if (v is not null) reviews[v.eventId] = v; })
        .Topic<AssessmentLock>(Topics.ConsoleLocks, ApplyLock)
        .Topic<TakedownRequested>(Topics.RoutingHeld, (k, v) => Put(policeHolds, k, v))
        .Topic<HeldNotice>(Topics.TakedownHeld, (k, v) => Put(heldNotices, k, v))
        .Topic<ConsoleUser>(Topics.ConsoleUsers, (k, v) => Put(users, k, v))
        .Topic<ContactDirectoryEntry>(Topics.ContactsDirectory, Contacts.Apply);

    private static void Put<T>(ConcurrentDictionary<string, T> map, string key, T? value) where T : class
    {
        if (value is null) map.TryRemove(key, out _);
        else map[key] = value;
    }

    private void ApplyLock(string key, AssessmentLock? incoming)
    {
        AssessmentLock? now;
        lock (lockGate)
        {
            locks.TryGetValue(key, out var current);
            now = AssessmentLocks.Apply(current, incoming);
            if (now is null) locks.TryRemove(key, out _);
            else locks[key] = now;
        }
        if (incoming is not null && lockWaits.TryRemove(incoming.eventId, out var wait)) wait.TrySetResult(now);
    }

    /// <summary>Completes with the lock as it stands once the record with <paramref name="eventId"/> has been applied.</summary>
    public Task<AssessmentLock?> LockApplied(string eventId) =>
        lockWaits.GetOrAdd(eventId, _ => new TaskCompletionSource<AssessmentLock?>(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public AssessmentLock? LockOf(string key) => locks.TryGetValue(key, out var l) ? l : null;

    /// <summary>Reports that wait for an analyst: not released by classification, and not just assessed from this console
    /// (until classification has answered that assessment; a DOUBTFUL answer brings it back for a second assessment).</summary>
    public IReadOnlyList<WaitingReport> Waiting =>
        [.. waiting.Values.Where(w => w.classified is null
                && !(assessedHere.TryGetValue(AssessmentLocks.KeyOf(w.caseKey, w.reportId), out var sent) && w.assessedEventId != sent))
            .OrderBy(w => w.waitingSince)];

    public WaitingReport? WaitingOf(string key) => waiting.TryGetValue(key, out var w) ? w : null;

    public void AssessedHere(string key, string eventId) => assessedHere[key] = eventId;

    public ReviewRequested? ReviewOf(string eventId) => reviews.TryGetValue(eventId, out var r) ? r : null;

    /// <summary>Review requests, newest first, without those that only ask for an assessment (shown as waiting reports).</summary>
    public IReadOnlyList<ReviewRequested> Reviews =>
        [.. reviews.Values.Where(r => r.rule is not (Pipeline.Classification.ClassificationProcessor.NeedsAssessmentRule or Pipeline.Classification.ClassificationProcessor.DoubtfulRule))
            .OrderByDescending(r => r.requestedAt)];

    /// <summary>Takedowns routing holds for the police (not yet released).</summary>
    public IReadOnlyList<TakedownRequested> PoliceHolds => [.. policeHolds.Values.Where(h => h.policeHold).OrderBy(h => h.requestedAt)];

    public TakedownRequested? PoliceHoldOf(string caseKey) => policeHolds.TryGetValue(caseKey, out var h) ? h : null;

    /// <summary>Notices the takedown stage holds (not yet released).</summary>
    public IReadOnlyList<HeldNotice> HeldNotices => [.. heldNotices.Values.Where(h => h.releasedAt is null).OrderBy(h => h.heldAt)];

    public IReadOnlyDictionary<string, ConsoleUser> TopicUsers => users;
}
