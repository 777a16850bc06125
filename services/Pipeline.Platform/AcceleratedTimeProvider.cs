using System.Diagnostics;

namespace Pipeline.Platform;

/// <summary>
/// A clock that runs <see cref="Speed"/> times faster than real time from <see cref="Start"/>, timers included, so a
/// day of SLA clock passes in seconds (the demo). Every stage reads time from TimeProvider, so all of them agree.
/// </summary>
public sealed class AcceleratedTimeProvider(DateTimeOffset start, double speed) : TimeProvider
{
    private readonly long origin = Stopwatch.GetTimestamp();

    public DateTimeOffset Start => start;

    public double Speed => speed;

    public override DateTimeOffset GetUtcNow() =>
        start + TimeSpan.FromTicks((long)(Stopwatch.GetElapsedTime(origin).Ticks * speed));

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        System.CreateTimer(callback, state, Scale(dueTime), Scale(period));

    /// <summary>The real time that <paramref name="simulated"/> takes on this clock.</summary>
    public TimeSpan Scale(TimeSpan simulated) =>
        simulated == Timeout.InfiniteTimeSpan ? simulated : TimeSpan.FromTicks(Math.Max(0, (long)(simulated.Ticks / speed)));
}
