using System.Reflection;

namespace Pipeline.Contracts;

/// <summary>Catalog of the top-level event types generated from schemas/*.avsc.</summary>
public static class Schemas
{
    /// <summary>All top-level event types (one per schemas/&lt;Name&gt;.avsc), in pipeline order.</summary>
    public static IReadOnlyList<Type> EventTypes { get; } =
    [
        typeof(ReportSubmitted),
        typeof(ReportAccepted),
        typeof(ReportRejected),
        typeof(ReportGrouped),
        typeof(CaseCommand),
        typeof(CaseState),
        typeof(ReportLocated),
        typeof(ReportClassified),
        typeof(ReportAssessed),
        typeof(WaitingReport),
        typeof(CaseMatch),
        typeof(HashRetracted),
        typeof(KnownHash),
        typeof(TakedownRequested),
        typeof(PoliceReferral),
        typeof(PoliceRelease),
        typeof(ReportForwarded),
        typeof(ReviewRequested),
        typeof(TakedownNotice),
        typeof(NoticeDelivery),
        typeof(ContactDirectoryEntry),
        typeof(HeldNotice),
        typeof(ContentStatusObserved),
        typeof(RecheckEntry),
        typeof(NoticeOutcome),
        typeof(SlaEvent),
        typeof(AuditRecord),
        typeof(ConsoleUser),
        typeof(AssessmentLock),
        typeof(DeadLetter),
    ];

    /// <summary>The Avro schema of a generated type (its static <c>_SCHEMA</c> field).</summary>
    /// <exception cref="ArgumentException">The type is not an Avro-generated type.</exception>
    public static Avro.Schema Of(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        var field = type.GetField("_SCHEMA", BindingFlags.Public | BindingFlags.Static)
            ?? throw new ArgumentException($"{type.FullName} is not an Avro-generated type (no static _SCHEMA field).", nameof(type));
        return (Avro.Schema)(field.GetValue(null)
            ?? throw new ArgumentException($"{type.FullName}._SCHEMA is null.", nameof(type)));
    }

    /// <summary>The Avro schema of a generated type.</summary>
    public static Avro.Schema Of<T>() => Of(typeof(T));
}
