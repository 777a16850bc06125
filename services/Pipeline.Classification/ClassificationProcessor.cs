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
/// (classification.matches.v1) so that a later retraction of the entry can be reported on the case. Waits at start
/// until the bank holds everything that was in hashes.known, then follows it live.
/// <para>Retractions: a match's timer is due while its bank entry is gone (<see cref="ClassificationState.RetractionDue"/>).
/// A retraction read from hashes.known re-queues the timers of the matches on that entry; a restore queues those already
/// retracted (retractions while nobody held the partition); a match made on an entry retracted meanwhile is due as it is
/// written. When it fires, HashRetracted goes to hashes.retractions.v1 (one per case, keyed by case key, so the notice or
/// referral it caused can be withdrawn) and the match is deleted, together; after a crash in between, the same retraction
/// (same eventId) is sent again. A newly added entry reports nothing: it does not rewrite history.</para>
/// </summary>
public sealed class ClassificationProcessor : IProcessor<ReportLocated>, IProcessor<ReportAssessed>, IWarmUp, IStateful, IBackgroundDependent, IDisposable
{
    private static readonly Counter Retractions = Metrics.CreateCounter("pipeline_classification_retractions_total",
        "Retracted bank entries reported on a case that was classified on them.");
    private readonly IOptions<KafkaOptions> kafka;
    private readonly IOptions<ClassificationOptions> options;
    private readonly AvroSerdes serdes;
    private readonly ClassificationState state;
    private readonly TimeProvider time;
    private readonly ILogger log;

    public ClassificationProcessor(IOptions<KafkaOptions> kafka, IOptions<ClassificationOptions> options, AvroSerdes serdes, ClassificationState state, TimeProvider time, ILogger<ClassificationProcessor> log)
    {
        this.kafka = kafka;
        this.options = options;
        this.serdes = serdes;
        this.state = state;
        this.time = time;
        this.log = log;
        state.Matches.OnDue(state.RetractionDue, ReportRetraction);
    }

    public IEnumerable<IStateStore> Stores => [state.Waiting, state.Matches];

    public const string NeedsAssessmentRule = "needs-assessment→review";
    public const string DoubtfulRule = "doubtful→second-review";

    private static readonly Counter Decisions = Metrics.CreateCounter("pipeline_classification_decisions_total",
        "Classification decisions: known, new, not_illegal, waiting (sent for review), doubtful (sent for a second review), repeated (a replay or repeated verdict re-sent the same event), reclassified.",
        new CounterConfiguration { LabelNames = ["decision"] });

    private CompactedTopicReader<KnownHash>? reader;

    public HashBank Bank => state.Bank;

    /// <summary>The hash bank's reader: if it dies, the bank goes stale, so the stage stops being ready.</summary>
    public IEnumerable<BackgroundWork> BackgroundWork => reader is null ? [] : [reader.AsBackgroundWork()];

    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        reader = new CompactedTopicReader<KnownHash>(kafka.Value, serdes, Topics.HashesKnown, (key, value, _) =>
        {
            var previous = Bank.Apply(key, value);
            if (value is null && previous is not null && state.BankLoaded) state.Matches.Reschedule(m => m.bankKey == key); // a retraction, live
        }, log);
        reader.Start();
        await reader.CaughtUp.WaitAsync(cancellationToken);
        Bank.Compact();
        state.BankLoaded = true;
        state.Matches.Reschedule(_ => true); // partitions restored before the bank was loaded
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

    /// <summary>A match's bank entry is gone: report the retraction on its case and forget the match.</summary>
    private void ReportRetraction(TimerFired<CaseMatch> timer, IOutput output)
    {
        var match = timer.Value;
        var remaining = state.Matches.EntriesOf(timer.Partition)
            .Count(e => e.Key != timer.Key && e.Value.caseKey == match.caseKey && Bank.Contains(e.Value.bankKey));
        var m = match.match;
        output.Send(Topics.HashesRetractions, match.caseKey, new HashRetracted
        {
            eventId = EventIds.Derive("hash-retracted", match.eventId),
            caseKey = match.caseKey, reportId = match.reportId, classifiedEventId = match.classifiedEventId,
            bank = m.bank, algorithm = m.algorithm, value = m.value, distance = m.distance, category = m.category,
            remainingMatches = remaining, matchedAt = match.matchedAt, retractedAt = timer.Now,
        });
        state.Matches.Delete(output, timer.Partition, timer.Key);
        output.AfterCommit(() =>
        {
            Retractions.Inc();
            log.LogWarning("Bank entry {BankKey} was retracted: reported on case {CaseKey} (report {ReportId}, {Remaining} other match(es) remain)",
                match.bankKey, match.caseKey, match.reportId, remaining);
        });
    }

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

    /// <summary>Records, per bank entry, that this case was classified on it; if the entry was retracted meanwhile, the
    /// match's timer is due as it is written and reports it at once.</summary>
    private void RememberMatches(int partition, ReportClassified classified, IOutput output)
    {
        foreach (var m in classified.matches)
        {
            var bankKey = HashBank.KeyOf(m.bank, m.algorithm, m.value);
            state.Matches.Put(output, partition, ClassificationState.MatchKey(bankKey, classified.caseKey), new CaseMatch
            {
                eventId = EventIds.Derive("case-match", classified.eventId, bankKey),
                caseKey = classified.caseKey, reportId = classified.report.reportId, classifiedEventId = classified.eventId,
                bankKey = bankKey, match = m, matchedAt = classified.classifiedAt,
            });
        }
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
