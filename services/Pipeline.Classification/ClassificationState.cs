using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Classification;

/// <summary>
/// The classification stage's state: the hash bank (rebuilt from hashes.known), reports waiting for an analyst
/// (classification.waiting.v1) and which cases were classified on which bank entry (classification.matches.v1).
/// Both state topics are co-partitioned with reports.located and reports.assessed (same partition number, same case key).
/// </summary>
public sealed class ClassificationState(IOptions<KafkaOptions> kafka, IOptions<RetentionOptions> retention, AvroSerdes serdes, ILogger<ClassificationState> log)
{
    private volatile bool bankLoaded;

    public HashBank Bank { get; } = new();

    public PartitionedState<WaitingReport> Waiting { get; } = new PartitionedState<WaitingReport>(Topics.ClassificationWaiting, kafka.Value, serdes, log)
        .ExpiresAt(w => retention.Value.Expiry(RetentionRules.Finished(w)));

    /// <summary>Cases classified on each bank entry. An entry's timer is due (at once) while its bank entry is gone: a
    /// retraction to report (<see cref="ClassificationProcessor"/>).</summary>
    public PartitionedState<CaseMatch> Matches { get; } = new PartitionedState<CaseMatch>(Topics.ClassificationMatches, kafka.Value, serdes, log)
        .ExpiresAt(m => retention.Value.Expiry(RetentionRules.Finished(m)));

    /// <summary>True once the bank holds everything that was in hashes.known at start: before that, an entry that is
    /// merely not loaded yet must not count as retracted.</summary>
    public bool BankLoaded
    {
        get => bankLoaded;
        set => bankLoaded = value;
    }

    /// <summary>When a match must be reported as retracted: at once, once the bank is loaded and no longer holds its
    /// entry; otherwise never.</summary>
    public DateTime? RetractionDue(CaseMatch match) => BankLoaded && !Bank.Contains(match.bankKey) ? DateTime.MinValue : null;

    public static string WaitingKey(string caseKey, string reportId) => caseKey + " " + reportId;

    public static string MatchKey(string bankKey, string caseKey) => bankKey + " " + caseKey;
}
