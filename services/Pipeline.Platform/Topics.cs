namespace Pipeline.Platform;

/// <summary>Topic names. The definitions (partitions, retention, value schema) live in infra/kafka/topics.json.</summary>
public static class Topics
{
    public const string ReportsSubmitted = "reports.submitted.v1";
    public const string ReportsAccepted = "reports.accepted.v1";
    public const string ReportsRejected = "reports.rejected.v1";
    public const string ReportsLocated = "reports.located.v1";
    public const string ReportsClassified = "reports.classified.v1";
    /// <summary>Cases routed again because their host moved before a notice left (ReportClassified with the new hosting).</summary>
    public const string ReportsRelocated = "reports.relocated.v1";
    public const string ReportsAssessed = "reports.assessed.v1";
    public const string ReportsReview = "reports.review.v1";
    public const string HashesKnown = "hashes.known.v1";
    public const string TakedownRequested = "takedown.requested.v1";
    public const string PoliceReferrals = "referrals.police.v1";
    public const string PoliceReleases = "referrals.police.releases.v1";
    public const string RoutingHeld = "routing.held.v1";
    public const string ExchangeOutbound = "exchange.outbound.v1";

    /// <summary>The topic on this hotline's cluster where partner <paramref name="partner"/> delivers forwarded
    /// reports (write access for that partner only).</summary>
    public static string ExchangeInbound(string partner) => $"exchange.inbound.{partner}.v1";
    public const string NoticesIssued = "notices.issued.v1";
    public const string ContentStatus = "content.status.v1";
    public const string NoticeOutcomes = "notices.outcomes.v1";
    public const string SlaEvents = "sla.events.v1";
    public const string RecheckSchedule = "recheck.schedule.v2";
    public const string SlaOpen = "sla.open.v1";
    public const string SlaPending = "sla.pending.v1";
    public const string ReportsGrouped = "reports.grouped.v1";
    public const string IntakeGrouping = "intake.grouping.v1";
    public const string IntakeCases = "intake.cases.v1";
    public const string ClassificationWaiting = "classification.waiting.v1";
    public const string ClassificationMatches = "classification.matches.v1";
    public const string HashesRetractions = "hashes.retractions.v1";
    public const string NoticeDeliveries = "notices.deliveries.v1";
    public const string TakedownDeliveryState = "takedown.delivery-state.v1";
    public const string TakedownReminders = "takedown.reminders.v1";
    public const string TakedownBatching = "takedown.batching.v1";
    public const string TakedownBatches = "takedown.batches.v1";

    /// <summary>The contact directory: one <c>ContactDirectoryEntry</c> per contact id (channel:address), compacted.</summary>
    public const string ContactsDirectory = "contacts.directory.v1";

    /// <summary>Notices the takedown stage holds (contact not approved, police consent, send window), by notice id.</summary>
    public const string TakedownHeld = "takedown.held.v1";

    /// <summary>The takedown stage's current route per case: the request its notices come from, with its route generation.</summary>
    public const string TakedownRoutes = "takedown.routes.v1";

    /// <summary>The audit log: one <c>AuditRecord</c> per decision, kept for years, free of reporter identity.</summary>
    public const string AuditLog = "audit.log.v1";

    /// <summary>The operator console's users added by an admin: one <c>ConsoleUser</c> per user name, compacted.</summary>
    public const string ConsoleUsers = "console.users.v1";

    /// <summary>The operator console's assessment locks: one <c>AssessmentLock</c> per waiting report, compacted.</summary>
    public const string ConsoleLocks = "console.locks.v1";

    /// <summary>The dead-letter topic of a stage: <c>deadletter.&lt;stage&gt;.v1</c>.</summary>
    public static string DeadLetter(string stage) => $"deadletter.{stage}.v1";
}
