using System.Diagnostics;

namespace Pipeline.TestSupport;

/// <summary>
/// The one way tests wait for something to happen: a condition, polled, with a generous deadline, and a description of
/// what was awaited when it gives up. Never a fixed sleep standing in for "long enough" (a loaded machine makes it too
/// short), and never a timing assertion (speed is measured by the benches).
/// </summary>
public static class Polling
{
    /// <summary>How often a condition is looked at.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    public static Task Until(Func<bool> condition, TimeSpan timeout, Func<string> describe, TimeSpan? interval = null) =>
        Until(() => Task.FromResult(condition()), timeout, describe, interval);

    /// <summary>Waits until <paramref name="condition"/> holds; throws <see cref="TimeoutException"/> naming
    /// <paramref name="describe"/>'s text after <paramref name="timeout"/>. <paramref name="interval"/> spaces slow
    /// conditions (an HTTP request, a query).</summary>
    public static async Task Until(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe, TimeSpan? interval = null)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > timeout) throw new TimeoutException($"Not true after {timeout.TotalSeconds:0.#} s: {describe()}");
            await Task.Delay(interval ?? Interval);
        }
    }
}
