namespace Pipeline.Takedown;

/// <summary>What the takedown service's timer loops (reminders, batches) share: waiting on the stage clock, and the gate
/// that serialises a loop with its stage's consume loop.</summary>
internal static class StageTimers
{
    /// <summary>A loop also looks at least this often in real time, so a clock that jumps (a test's fake clock, the
    /// demo's accelerated one) is noticed even while a delay on the stage clock is pending.</summary>
    private static readonly TimeSpan RealTimePoll = TimeSpan.FromMilliseconds(250);

    /// <summary>Waits until <paramref name="next"/> on the stage clock (at most a second of it); false when stopping.</summary>
    public static async Task<bool> WaitAsync(TimeProvider time, DateTime now, DateTime? next, CancellationToken ct)
    {
        var wait = next is null ? TimeSpan.FromSeconds(1) : next.Value - now;
        wait = TimeSpan.FromTicks(Math.Clamp(wait.Ticks, TimeSpan.FromMilliseconds(5).Ticks, TimeSpan.FromSeconds(1).Ticks));
        try
        {
            await Task.WhenAny(Task.Delay(wait, time, ct), Task.Delay(RealTimePoll, ct));
            return !ct.IsCancellationRequested;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Takes the gate; false when stopping.</summary>
    public static async Task<bool> EnterAsync(SemaphoreSlim gate, CancellationToken ct)
    {
        try
        {
            await gate.WaitAsync(ct);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Runs a rebalance callback (restore or drop state) under the gate.</summary>
    public static void WithGate(SemaphoreSlim gate, Action action)
    {
        gate.Wait();
        try
        {
            action();
        }
        finally
        {
            gate.Release();
        }
    }
}
