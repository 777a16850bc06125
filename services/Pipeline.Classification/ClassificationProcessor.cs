using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Classification;

/// <summary>Matches the report's hashes against the banks and records the verdict. Waits at start until the bank
/// holds everything that was in hashes.known, then follows it live.</summary>
public sealed class ClassificationProcessor(IOptions<KafkaOptions> kafka, IOptions<ClassificationOptions> options, AvroSerdes serdes, TimeProvider time, ILogger<ClassificationProcessor> log)
    : IProcessor<ReportLocated>, IWarmUp, IDisposable
{
    private CompactedTopicReader<KnownHash>? reader;

    public HashBank Bank { get; } = new();

    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        reader = new CompactedTopicReader<KnownHash>(kafka.Value, serdes, Topics.HashesKnown, (key, value, _) => Bank.Apply(key, value), log);
        reader.Start();
        await reader.CaughtUp.WaitAsync(cancellationToken);
        Bank.Compact();
        log.LogInformation("Hash bank loaded: {Count} entries ({Pdq} PDQ, {Invalid} invalid records skipped)", Bank.Count, Bank.PdqCount, Bank.Invalid);
    }

    public ValueTask ProcessAsync(Incoming<ReportLocated> message, IOutput output, CancellationToken cancellationToken)
    {
        var located = message.Value;
        var matches = Bank.Match(located.report.hashes, options.Value);
        var assessment = located.report.assessment;
        var classified = new ReportClassified
        {
            eventId = EventIds.Derive("classified", located.eventId),
            caseKey = located.caseKey,
            report = located.report,
            caseInfo = located.caseInfo,
            hosting = located.hosting,
            verdict = Classifier.Decide(matches, assessment),
            matches = matches,
            assessment = assessment,
            classifiedAt = time.GetUtcNow().UtcDateTime,
        };
        output.Send(Topics.ReportsClassified, classified.caseKey, classified);
        return ValueTask.CompletedTask;
    }

    public void Dispose() => reader?.Dispose();
}
