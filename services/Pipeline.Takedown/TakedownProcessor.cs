using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;
using Prometheus;

namespace Pipeline.Takedown;

/// <summary>Issues the first takedown notice for each requested takedown. A request without an abuse contact goes to
/// the review queue: a person must find the recipient.</summary>
public sealed class TakedownProcessor(IOptions<TakedownOptions> options, TimeProvider time) : IProcessor<TakedownRequested>
{
    /// <summary>End to end, on event time: the report's receivedAt to the first notice's issuedAt (the stage clock).
    /// Buckets from a second to a week: a notice held for the police may wait days.</summary>
    public static readonly Histogram SubmissionToNotice = Metrics.CreateHistogram(
        "pipeline_takedown_submission_to_notice_seconds", "Time from a report's receipt (receivedAt) to its first takedown notice (issuedAt), event time.",
        new HistogramConfiguration { Buckets = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400] });

    private readonly NoticeComposer composer = new(options.Value);

    public ValueTask ProcessAsync(Incoming<TakedownRequested> message, IOutput output, CancellationToken cancellationToken)
    {
        var request = message.Value;
        var now = time.GetUtcNow().UtcDateTime;
        if (request.hosting?.abuseContact is null)
        {
            output.Send(Topics.ReportsReview, request.caseKey, new ReviewRequested
            {
                eventId = EventIds.Derive("review", request.eventId),
                caseKey = request.caseKey, report = request.report, caseInfo = request.caseInfo, hosting = request.hosting,
                verdict = request.verdict, reason = "takedown requested but no abuse contact is known for the hoster",
                rule = "takedown:no-abuse-contact→review", requestedAt = now,
            });
            return ValueTask.CompletedTask;
        }
        var notice = composer.Compose(request, now);
        output.Send(Topics.NoticesIssued, notice.caseKey, notice);
        SubmissionToNotice.Observe(Math.Max(0, (notice.issuedAt - request.timeline.receivedAt).TotalSeconds));
        return ValueTask.CompletedTask;
    }
}
