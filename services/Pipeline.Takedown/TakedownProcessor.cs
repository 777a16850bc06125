using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

/// <summary>Issues the first takedown notice for each requested takedown. A request without an abuse contact goes to
/// the review queue: a person must find the recipient.</summary>
public sealed class TakedownProcessor(IOptions<TakedownOptions> options, TimeProvider time) : IProcessor<TakedownRequested>
{
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
        return ValueTask.CompletedTask;
    }
}
