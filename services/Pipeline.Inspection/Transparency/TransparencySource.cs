using Avro.Specific;
using Pipeline.Contracts;
using Pipeline.Inspection.Trace;
using Pipeline.Platform;

namespace Pipeline.Inspection.Transparency;

/// <summary>Where the transparency figures come from: the event topics (as long as they keep their events) or the audit
/// log (5 years). Read by `pipeline report`, the demo's closing report and the operator console's figures page.</summary>
public static class TransparencySource
{
    /// <summary>The topics the figures come from.</summary>
    public static IReadOnlyList<string> SourceTopics { get; } =
    [
        Topics.ReportsSubmitted, Topics.ReportsRejected, Topics.ReportsAccepted, Topics.ReportsGrouped,
        Topics.ReportsClassified, Topics.ReportsAssessed, Topics.PoliceReferrals, Topics.ExchangeOutbound,
        Topics.TakedownRequested, Topics.NoticesIssued, Topics.NoticeOutcomes, Topics.SlaEvents, Topics.DeadLetter("intake"),
    ];

    /// <summary>Reads every event of <see cref="SourceTopics"/> once from the beginning (no consumer group, nothing committed).</summary>
    public static TransparencyHistory Read(KafkaOptions kafka, AvroSerdes serdes, CancellationToken ct) =>
        TransparencyHistory.Of(TopicHistory.Read<object>(kafka, serdes, SourceTopics, r => WithoutBulk(r.Value), ct));

    /// <summary>Reads the audit log once from the beginning and rebuilds the events its decisions record.</summary>
    public static TransparencyHistory ReadAudit(KafkaOptions kafka, AvroSerdes serdes, CancellationToken ct) =>
        AuditHistory.Of(TopicHistory.Read(kafka, serdes, [Topics.AuditLog], r => r.Value as AuditRecord, ct));

    /// <summary>The event without the bulk no figure reads (a notice's X-ARF and text, the bytes of a rejection or dead
    /// letter), so a year of events fits in memory.</summary>
    private static object WithoutBulk(ISpecificRecord value)
    {
        switch (value)
        {
            case TakedownNotice n:
                n.xarf = n.text = "";
                break;
            case ReportRejected r:
                r.originalPayload = [];
                break;
            case DeadLetter d:
                d.key = d.value = null;
                break;
        }
        return value;
    }
}
