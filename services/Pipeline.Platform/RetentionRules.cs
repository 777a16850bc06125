using Avro.Specific;
using Pipeline.Contracts;

namespace Pipeline.Platform;

/// <summary>
/// When a state entry's case is finished, per state topic: the owning stages expire their entries
/// <see cref="RetentionOptions.ClosedCaseAfter"/> after it (<see cref="PartitionedState{T}.ExpiresAt"/>), and
/// <c>pipeline retention run</c> reads the same rules. Null: not finished (an open case, a hold still waiting, a delivery
/// still retrying), kept. <c>recheck.schedule.v2</c> deletes its own entries when the watch after removal ends (<c>Recheck:WatchFor</c>); only its MOVED marks expire here.
/// </summary>
public static class RetentionRules
{
    public static DateTime? Finished(CaseState s) => s.status switch
    {
        CaseStatus.CLOSED_REMOVED => s.closedAt ?? s.updatedAt,
        CaseStatus.ALIAS => s.updatedAt,
        _ => null,
    };

    /// <summary>A released hold is kept only to recognise replays.</summary>
    public static DateTime? Finished(TakedownRequested held) => held.policeHold ? null : held.requestedAt;

    /// <summary>The takedown stage's current route of a case (takedown.routes.v1): needed while a notice of the route
    /// may still leave (reminders and escalations run for days), so it counts from its request.</summary>
    public static DateTime? Routed(TakedownRequested route) => route.requestedAt;

    /// <summary>A released waiting report is kept only to recognise replays.</summary>
    public static DateTime? Finished(WaitingReport w) => w.classified?.classifiedAt;

    /// <summary>A retraction later than the period is no longer reported on the case.</summary>
    public static DateTime? Finished(CaseMatch m) => m.matchedAt;

    /// <summary>A final delivery status, kept so that a replayed notice is not sent again.</summary>
    public static DateTime? Finished(NoticeDelivery d) => d.status == DeliveryStatus.RETRYING ? null : d.at;

    /// <summary>A decided notice (sla), kept to recognise replays.</summary>
    public static DateTime? Finished(TakedownNotice n) => n.timeline.removalObservedAt;

    /// <summary>A removal that came before its notice (sla).</summary>
    public static DateTime? Finished(ContentStatusObserved o) => o.observedAt;

    /// <summary>A released held notice is kept only to recognise replays.</summary>
    public static DateTime? Finished(HeldNotice h) => h.releasedAt;

    /// <summary>A MOVED mark of recheck (its notice recorded MOVED before recheck read it), kept to recognise the notice;
    /// checked and watched entries are deleted by recheck itself.</summary>
    public static DateTime? Finished(RecheckEntry e) => e.movedAt;

    /// <summary>The state topics whose entries expire, with the rule for their records.</summary>
    public static IReadOnlyDictionary<string, Func<ISpecificRecord, DateTime?>> StateTopics { get; } = new Dictionary<string, Func<ISpecificRecord, DateTime?>>
    {
        [Topics.IntakeCases] = r => Finished((CaseState)r),
        [Topics.RoutingHeld] = r => Finished((TakedownRequested)r),
        [Topics.ClassificationWaiting] = r => Finished((WaitingReport)r),
        [Topics.ClassificationMatches] = r => Finished((CaseMatch)r),
        [Topics.TakedownDeliveryState] = r => Finished((NoticeDelivery)r),
        [Topics.TakedownBatches] = r => Finished((NoticeDelivery)r),
        [Topics.SlaOpen] = r => Finished((TakedownNotice)r),
        [Topics.TakedownReminders] = r => Finished((TakedownNotice)r), // a stopped reminder timer (it also goes 7 days after the first notice)
        [Topics.TakedownHeld] = r => Finished((HeldNotice)r),
        [Topics.TakedownRoutes] = r => Routed((TakedownRequested)r),
        [Topics.SlaPending] = r => Finished((ContentStatusObserved)r),
        [Topics.RecheckSchedule] = r => Finished((RecheckEntry)r),
    };
}
