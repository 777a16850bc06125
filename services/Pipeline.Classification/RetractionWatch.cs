using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Classification;

/// <summary>
/// Reports a retracted bank entry on every case that was classified on it (HashRetracted on hashes.retractions.v1,
/// one per case, keyed by case key), so the notice or referral it caused can be withdrawn. Runs when the bank sees a
/// tombstone, when partitions are assigned (retractions while nobody held them) and every
/// <see cref="ClassificationOptions.RetractionSweepSeconds"/> as a safety net. The case's match record is deleted only
/// after the retraction is acknowledged; after a crash in between, the same retraction (same eventId) is sent again.
/// A newly added entry reports nothing: it does not rewrite history.
/// </summary>
public sealed class RetractionWatch(ClassificationState state, EventPublisher publisher, IOptions<ClassificationOptions> options, TimeProvider time, ILogger<RetractionWatch> log)
    : BackgroundService
{
    private static readonly Counter Retractions = Metrics.CreateCounter("pipeline_classification_retractions_total",
        "Retracted bank entries reported on a case that was classified on them.");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.RetractionSweepSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await state.SweepRequestedAsync(interval, stoppingToken);
                await SweepAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogError("Reporting retractions failed: {Error}; retrying on the next pass", e.Message);
            }
        }
    }

    /// <summary>One pass: every remembered match whose bank entry is gone is reported and forgotten.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        if (!state.BankLoaded) return 0;
        var reported = 0;
        foreach (var (key, match) in state.Matches.Entries.ToList())
        {
            if (state.Bank.Contains(match.bankKey) || !state.Matches.TryFind(key, out _, out var partition)) continue;
            var remaining = state.Matches.EntriesOf(partition)
                .Count(e => e.Key != key && e.Value.caseKey == match.caseKey && state.Bank.Contains(e.Value.bankKey));
            var m = match.match;
            await publisher.PublishAsync(Topics.HashesRetractions, match.caseKey, new HashRetracted
            {
                eventId = EventIds.Derive("hash-retracted", match.eventId),
                caseKey = match.caseKey, reportId = match.reportId, classifiedEventId = match.classifiedEventId,
                bank = m.bank, algorithm = m.algorithm, value = m.value, distance = m.distance, category = m.category,
                remainingMatches = remaining, matchedAt = match.matchedAt, retractedAt = time.GetUtcNow().UtcDateTime,
            }, ct: ct);
            await publisher.TombstoneAsync(Topics.ClassificationMatches, key, partition, ct);
            state.Matches.Apply(partition, key, null);
            Retractions.Inc();
            reported++;
            log.LogWarning("Bank entry {BankKey} was retracted: reported on case {CaseKey} (report {ReportId}, {Remaining} other match(es) remain)",
                match.bankKey, match.caseKey, match.reportId, remaining);
        }
        return reported;
    }
}
