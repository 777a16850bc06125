using Pipeline.Contracts;

namespace Pipeline.Operator;

/// <summary>
/// Who holds a waiting report. Every console replica applies console.locks.v1 in the topic's order with
/// <see cref="Apply"/>, which depends only on the records (never on a replica's clock), so all replicas agree on the
/// holder: when two analysts lock the same report at once, the first record wins on every replica and the second
/// analyst is told who holds it.
/// </summary>
public static class AssessmentLocks
{
    public static string KeyOf(string caseKey, string reportId) => caseKey + " " + reportId;

    /// <summary>The lock after <paramref name="incoming"/> (null: a release). A lock replaces another only when that
    /// one belongs to the same analyst (a renewal) or had expired when the new one was taken.</summary>
    public static AssessmentLock? Apply(AssessmentLock? current, AssessmentLock? incoming) =>
        incoming is null ? null
        : current is null || current.lockedBy == incoming.lockedBy || incoming.lockedAt >= current.expiresAt ? incoming
        : current;

    /// <summary>The holder at <paramref name="now"/>, or null when nobody holds it.</summary>
    public static AssessmentLock? Holder(AssessmentLock? current, DateTime now) => current is not null && current.expiresAt > now ? current : null;
}
