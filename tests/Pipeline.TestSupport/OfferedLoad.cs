using System.Threading.RateLimiting;

namespace Pipeline.TestSupport;

/// <summary>
/// An offered load: a feed calls <see cref="NextAsync"/> before each item and goes on when the rate allows it (a token
/// bucket from System.Threading.RateLimiting, refilled on its own timer). This is how tests pace what they send (reports
/// at about 1,000 a second, an attacker's next byte, a steady trickle); it is never a wait for something to happen,
/// which is <see cref="Polling"/>'s job.
/// </summary>
public sealed class OfferedLoad : IDisposable
{
    private readonly TokenBucketRateLimiter limiter;

    private OfferedLoad(int perPeriod, TimeSpan period, int burst) => limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
    {
        TokenLimit = burst,
        TokensPerPeriod = perPeriod,
        ReplenishmentPeriod = period,
        AutoReplenishment = true,
        QueueLimit = int.MaxValue,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
    });

    /// <summary>About <paramref name="perSecond"/> items a second, refilled every 10 ms (at most 10 ms of them at once).</summary>
    public static OfferedLoad PerSecond(double perSecond)
    {
        if (perSecond <= 0) throw new ArgumentOutOfRangeException(nameof(perSecond), perSecond, "An offered rate must be above 0 a second.");
        if (perSecond < 100) return Every(TimeSpan.FromSeconds(1 / perSecond));
        var perTick = (int)Math.Round(perSecond / 100);
        return new OfferedLoad(perTick, TimeSpan.FromMilliseconds(10), perTick);
    }

    /// <summary>One item every <paramref name="interval"/>; the first at once.</summary>
    public static OfferedLoad Every(TimeSpan interval) => new(1, interval, 1);

    /// <summary>Returns when the next item may go.</summary>
    public async ValueTask NextAsync(CancellationToken cancellationToken = default)
    {
        using var lease = await limiter.AcquireAsync(1, cancellationToken);
        if (!lease.IsAcquired) throw new InvalidOperationException("The offered load's limiter refused a lease; its queue has no limit, so this is a bug.");
    }

    public void Dispose() => limiter.Dispose();
}
