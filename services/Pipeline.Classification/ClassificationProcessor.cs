using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Classification;

/// <summary>
/// Matches each located report against the hash banks and decides: known (any bank match), new or not illegal (the
/// analyst's verdict). A report with neither waits here (classification.waiting.v1) with a review request to an
/// analyst, and is classified only when a ReportAssessed releases it. Every bank match is remembered per case
/// (classification.matches.v1) so that a later retraction of the entry can be reported on the case
/// (<see cref="RetractionWatch"/>). Waits at start until the bank holds everything that was in hashes.known, then
/// follows it live.
/// </summary>
public sealed class ClassificationProcessor(IOptions<KafkaOptions> kafka, IOptions<ClassificationOptions> options, AvroSerdes serdes, ClassificationState state, TimeProvider time, ILogger<ClassificationProcessor> log)
    : IProcessor<ReportLocated>, IProcessor<ReportAssessed>, IWarmUp, IPartitionAware, IDisposable
{
    public const string NeedsAssessmentRule = "needs-assessment→review";
    public const string DoubtfulRule = "doubtful→second-review";

    private static readonly Counter Decisions = Metrics.CreateCounter("pipeline_classification_decisions_total",
        "Classification decisions: known, new, not_illegal, waiting (sent for review), doubtful (sent for a second review), repeated (a replay or repeated verdict re-sent the same event), reclassified.",
        new CounterConfiguration { LabelNames = ["decision"] });

    private CompactedTopicReader<KnownHash>? reader;

    public HashBank Bank => state.Bank;

    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        reader = new CompactedTopicReader<KnownHash>(kafka.Value, serdes, Topics.HashesKnown, (key, value, _) =>
        {
            var previous = Bank.Apply(key, value);
            if (value is null && previous is not null && state.BankLoaded) state.RequestSweep(); // a retraction, live
        }, log);
        reader.Start();
        await reader.CaughtUp.WaitAsync(cancellationToken);
        Bank.Compact();
        state.BankLoaded = true;
        state.RequestSweep();
        log.LogInformation("Hash bank loaded: {Count} entries ({Pdq} PDQ, {Invalid} invalid records skipped)", Bank.Count, Bank.PdqCount, Bank.Invalid);
    }

    public ValueTask ProcessAsync(Incoming<ReportLocated> message, IOutput output, CancellationToken cancellationToken)
    {
        var located = message.Value;
        var matches = Bank.Match(located.report.hashes, options.Value);
        var assessment = located.report.assessment;
        var verdict = Classifier.Decide(matches, assessment);
        if (verdict == Verdict.NEEDS_ASSESSMENT)
        {
            Wait(message.Partition, located, output);
            return ValueTask.CompletedTask;
        }
        var classified = Classified(located, matches, assessment, verdict, EventIds.Derive("classified", located.eventId));
        output.Send(Topics.ReportsClassified, classified.caseKey, classified);
        RememberMatches(message.Partition, classified, output);
        Decisions.WithLabels(Label(verdict)).Inc();
        return ValueTask.CompletedTask;
    }

    /// <summary>An analyst's verdict: releases the waiting report (or, if DOUBTFUL, asks for a second review).</summary>
    public ValueTask ProcessAsync(Incoming<ReportAssessed> message, IOutput output, CancellationToken cancellationToken)
    {
        var assessed = message.Value;
        var key = ClassificationState.WaitingKey(assessed.caseKey, assessed.reportId);
        if (!state.Waiting.TryGet(message.Partition, key, out var waiting))
            throw new UnknownReportException(UnknownReason(message.Partition, assessed));

        if (waiting.classified is { } released)
        {
            // Already released. The same verdict again (a replay, a second click, a second analyst agreeing) re-sends the
            // same event, which downstream recognises by its eventId; a verdict that changes the outcome reclassifies.
            var verdict = Classifier.Decide([.. released.matches], assessed.assessment);
            if (assessed.eventId == waiting.assessedEventId || verdict == released.verdict || verdict == Verdict.NEEDS_ASSESSMENT)
            {
                output.Send(Topics.ReportsClassified, released.caseKey, released);
                Decisions.WithLabels("repeated").Inc();
                return ValueTask.CompletedTask;
            }
            var reclassified = Classified(waiting.located, [.. released.matches], assessed.assessment, verdict, EventIds.Derive("classified", waiting.located.eventId, assessed.eventId));
            output.Send(Topics.ReportsClassified, reclassified.caseKey, reclassified);
            state.Waiting.Put(output, message.Partition, key, With(waiting, assessed, reclassified));
            Decisions.WithLabels("reclassified").Inc();
            return ValueTask.CompletedTask;
        }

        // A bank entry added while the report waited counts: the report has not been classified yet.
        var matches = Bank.Match(waiting.located.report.hashes, options.Value);
        var decided = Classifier.Decide(matches, assessed.assessment);
        if (decided == Verdict.NEEDS_ASSESSMENT)
        {
            var a = assessed.assessment;
            output.Send(Topics.ReportsReview, waiting.caseKey, Review(waiting.located, EventIds.Derive("review", "doubtful", assessed.eventId), DoubtfulRule,
                $"analyst {a.analyst} assessed report {assessed.reportId} as {a.classification} at {a.assessedAt:u}: a second assessment is needed before it is classified",
                a.assessedAt));
            state.Waiting.Put(output, message.Partition, key, With(waiting, assessed, classified: null));
            Decisions.WithLabels("doubtful").Inc();
            return ValueTask.CompletedTask;
        }
        var classified = Classified(waiting.located, matches, assessed.assessment, decided, EventIds.Derive("classified", waiting.located.eventId, assessed.eventId));
        output.Send(Topics.ReportsClassified, classified.caseKey, classified);
        state.Waiting.Put(output, message.Partition, key, With(waiting, assessed, classified));
        RememberMatches(message.Partition, classified, output);
        Decisions.WithLabels(Label(decided)).Inc();
        return ValueTask.CompletedTask;
    }

    public void OnAssigned(IReadOnlyCollection<TopicPartition> partitions) => state.Assign(partitions);

    public void OnRevoked(IReadOnlyCollection<TopicPartition> partitions) => state.Revoke(partitions);

    private void Wait(int partition, ReportLocated located, IOutput output)
    {
        var key = ClassificationState.WaitingKey(located.caseKey, located.report.reportId);
        if (state.Waiting.TryGet(partition, key, out var existing))
        {
            // The same report again (a replay after a crash): the same answer as the first time, nothing new.
            if (existing.classified is { } released) output.Send(Topics.ReportsClassified, released.caseKey, released);
            else output.Send(Topics.ReportsReview, existing.caseKey, NeedsAssessmentReview(existing.located, existing.waitingSince));
            Decisions.WithLabels("repeated").Inc();
            return;
        }
        var now = Now;
        var review = NeedsAssessmentReview(located, now);
        output.Send(Topics.ReportsReview, located.caseKey, review);
        state.Waiting.Put(output, partition, key, new WaitingReport
        {
            eventId = EventIds.Derive("waiting", located.eventId),
            caseKey = located.caseKey,
            reportId = located.report.reportId,
            located = located,
            waitingSince = now,
            reviewEventId = review.eventId,
            assessment = located.report.assessment,
            assessedEventId = null,
            classified = null,
        });
        Decisions.WithLabels("waiting").Inc();
    }

    private static ReviewRequested NeedsAssessmentReview(ReportLocated located, DateTime at) =>
        Review(located, EventIds.Derive("review", "needs-assessment", located.eventId), NeedsAssessmentRule,
            located.report.assessment is { } a
                ? $"no bank knows the material and analyst {a.analyst} assessed it {a.classification}: classification holds the report until a verdict arrives on {Topics.ReportsAssessed}"
                : $"no bank knows the material and no analyst has assessed it: classification holds the report until a verdict arrives on {Topics.ReportsAssessed}",
            at);

    private static ReviewRequested Review(ReportLocated located, string eventId, string rule, string reason, DateTime at) => new()
    {
        eventId = eventId, caseKey = located.caseKey, report = located.report, caseInfo = located.caseInfo, hosting = located.hosting,
        verdict = Verdict.NEEDS_ASSESSMENT, reason = reason, rule = rule, requestedAt = at,
    };

    private static WaitingReport With(WaitingReport w, ReportAssessed assessed, ReportClassified? classified) => new()
    {
        eventId = EventIds.Derive("waiting", w.located.eventId, assessed.eventId),
        caseKey = w.caseKey, reportId = w.reportId, located = w.located, waitingSince = w.waitingSince, reviewEventId = w.reviewEventId,
        assessment = assessed.assessment, assessedEventId = assessed.eventId, classified = classified,
    };

    private ReportClassified Classified(ReportLocated located, List<HashMatch> matches, Assessment? assessment, Verdict verdict, string eventId) => new()
    {
        eventId = eventId,
        caseKey = located.caseKey,
        report = located.report,
        caseInfo = located.caseInfo,
        hosting = located.hosting,
        verdict = verdict,
        matches = matches,
        assessment = assessment,
        classifiedAt = Now,
    };

    /// <summary>Records, per bank entry, that this case was classified on it; if the entry was retracted meanwhile the
    /// sweep reports it at once.</summary>
    private void RememberMatches(int partition, ReportClassified classified, IOutput output)
    {
        var retracted = false;
        foreach (var m in classified.matches)
        {
            var bankKey = HashBank.KeyOf(m.bank, m.algorithm, m.value);
            state.Matches.Put(output, partition, ClassificationState.MatchKey(bankKey, classified.caseKey), new CaseMatch
            {
                eventId = EventIds.Derive("case-match", classified.eventId, bankKey),
                caseKey = classified.caseKey, reportId = classified.report.reportId, classifiedEventId = classified.eventId,
                bankKey = bankKey, match = m, matchedAt = classified.classifiedAt,
            });
            retracted |= !Bank.Contains(bankKey);
        }
        if (retracted) state.RequestSweep();
    }

    private string UnknownReason(int partition, ReportAssessed assessed)
    {
        var others = state.Waiting.EntriesOf(partition).Where(e => e.Value.caseKey == assessed.caseKey).Select(e => e.Value.reportId).Order(StringComparer.Ordinal).ToList();
        return $"verdict {assessed.eventId} by {assessed.assessment.analyst} is for report {assessed.reportId} of case {assessed.caseKey}, but no such report waits for an analyst here"
            + (others.Count > 0 ? $" (this case has report(s) {string.Join(", ", others)} waiting: check the report id)" : " (it was never located, was classified on a bank match or its own assessment, or the case key is wrong)")
            + ". Fix: correct the verdict and publish it again, or replay this dead letter once the report has reached classification.";
    }

    private static string Label(Verdict verdict) => verdict.ToString().ToLowerInvariant();

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    public void Dispose() => reader?.Dispose();
}

/// <summary>An analyst's verdict names a report that does not wait for one: never retried, dead-lettered with the reason.</summary>
public sealed class UnknownReportException(string message) : Exception(message);
