using Polly;
using Polly.Retry;

namespace Pipeline.Platform;

/// <summary>
/// The one capped exponential backoff of the pipeline: the delay before retry n (n = 1 is the delay before the second
/// attempt) is <c>Initial × 2^(n−1)</c>, never more than <c>Max</c>, without jitter (tests and the accelerated clock
/// can predict it). Retry loops that can be handed to a library run through Polly with <see cref="Pipeline{T}"/>; loops
/// that must stay hand-written (the processor host's, which also reports health between attempts) or that schedule
/// a retry on the stage clock across restarts (takedown's delivery) take the delay from <see cref="Delay"/>.
/// Polly's own exponential formula is the same; <see cref="Delay"/> is used as its delay generator so that there is
/// exactly one definition.
/// </summary>
public sealed record Backoff(TimeSpan Initial, TimeSpan Max)
{
    /// <summary>2^30 × Initial is past any sensible cap; the bound keeps the arithmetic from overflowing.</summary>
    private const int MaxDoublings = 30;

    public static Backoff FromMilliseconds(int initialMs, int maxMs) => new(TimeSpan.FromMilliseconds(initialMs), TimeSpan.FromMilliseconds(maxMs));

    /// <summary>The delay before retry <paramref name="retry"/> (1-based: 1 is the wait after the first failed attempt).</summary>
    public TimeSpan Delay(int retry)
    {
        if (retry < 1 || Initial <= TimeSpan.Zero) return TimeSpan.Zero;
        var doublings = Math.Min(retry - 1, MaxDoublings);
        var ticks = Math.Min((double)Max.Ticks, Initial.Ticks * Math.Pow(2, doublings));
        return TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>The Polly retry strategy of <see cref="Pipeline{T}"/>: at most <paramref name="maxRetries"/> retries (attempts − 1)
    /// of outcomes <paramref name="shouldRetry"/> accepts. Waits are cancellable and run on the pipeline's
    /// <see cref="TimeProvider"/>.</summary>
    private RetryStrategyOptions<T> Retry<T>(int maxRetries, Func<Outcome<T>, bool> shouldRetry, Func<OnRetryArguments<T>, ValueTask>? onRetry = null) => new()
    {
        MaxRetryAttempts = maxRetries,
        ShouldHandle = args => ValueTask.FromResult(shouldRetry(args.Outcome)),
        DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(Delay(args.AttemptNumber + 1)), // Polly's AttemptNumber is 0-based
        OnRetry = onRetry,
        UseJitter = false,
    };

    /// <summary>A retry pipeline of this backoff for actions of any result type: up to <paramref name="maxRetries"/>
    /// retries of the exceptions <paramref name="shouldRetry"/> accepts, cancellable, on <paramref name="time"/>.</summary>
    public ResiliencePipeline Pipeline(int maxRetries, Func<Exception, bool> shouldRetry, TimeProvider time, Func<OnRetryArguments<object>, ValueTask>? onRetry = null) =>
        new ResiliencePipelineBuilder { TimeProvider = time }.AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = maxRetries,
            ShouldHandle = new PredicateBuilder().Handle(shouldRetry),
            DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(Delay(args.AttemptNumber + 1)),
            OnRetry = onRetry,
            UseJitter = false,
        }).Build();

    /// <summary>A retry pipeline of this backoff on <paramref name="time"/>.</summary>
    public ResiliencePipeline<T> Pipeline<T>(int maxRetries, Func<Outcome<T>, bool> shouldRetry, TimeProvider time, Func<OnRetryArguments<T>, ValueTask>? onRetry = null) =>
        maxRetries < 1 // Polly's retry takes at least one retry: no retries is no strategy
            ? ResiliencePipeline<T>.Empty
            : new ResiliencePipelineBuilder<T> { TimeProvider = time }.AddRetry(Retry(maxRetries, shouldRetry, onRetry)).Build();
}
