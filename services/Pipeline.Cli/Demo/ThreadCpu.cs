using System.Globalization;

namespace Pipeline.Cli.Demo;

/// <summary>
/// CPU time of the process's threads by kind, read from <c>/proc/self/task/*/stat</c> (Linux; elsewhere empty), so a
/// bench can say where its time went in every run without a profiler: the stage threads, librdkafka's client threads,
/// the embedded broker's thread, the garbage collector, the producer's delivery-report thread and the rest. A thread
/// that ended inside the window is missing from the groups; the difference to the process's CPU shows it.
/// </summary>
public sealed class ThreadCpu
{
    /// <summary>Clock ticks per second of <c>utime</c>/<c>stime</c> (USER_HZ, 100 on Linux on every architecture .NET runs on).</summary>
    private const double TicksPerSecond = 100;

    private readonly Dictionary<int, (string Name, long Ticks)> threads;

    private ThreadCpu(Dictionary<int, (string Name, long Ticks)> threads) => this.threads = threads;

    public static ThreadCpu Now()
    {
        var threads = new Dictionary<int, (string, long)>();
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc/self/task")) return new(threads);
        foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                // pid (comm) state ppid … : comm may hold spaces and parentheses, so split at the last ')'.
                var open = stat.IndexOf('(');
                var close = stat.LastIndexOf(')');
                var fields = stat[(close + 2)..].Split(' ');
                var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                threads[int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture)] = (stat[(open + 1)..close], ticks);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
            {
                // The thread ended while we read it.
            }
        }
        return new(threads);
    }

    /// <summary>CPU seconds per group between <paramref name="start"/> and this snapshot, largest first.</summary>
    public List<(string Group, double Seconds)> Since(ThreadCpu start) =>
        [.. threads.Select(t => (Group: Group(t.Value.Name), Ticks: t.Value.Ticks - (start.threads.TryGetValue(t.Key, out var s) && s.Name == t.Value.Name ? s.Ticks : 0)))
            .GroupBy(t => t.Group)
            .Select(g => (g.Key, g.Sum(t => t.Ticks) / TicksPerSecond))
            .Where(g => g.Item2 > 0)
            .OrderByDescending(g => g.Item2)];

    /// <summary>The kind of a thread by its name (at most 15 characters on Linux).</summary>
    public static string Group(string name) => name switch
    {
        "rdk:mock" => "embedded broker",
        _ when name.StartsWith("rdk:", StringComparison.Ordinal) => "librdkafka clients",
        _ when name.StartsWith(".NET Server GC", StringComparison.Ordinal) || name.StartsWith(".NET BGC", StringComparison.Ordinal)
            || name.StartsWith(".NET SVR GC", StringComparison.Ordinal) || name.StartsWith(".NET Background", StringComparison.Ordinal) => "garbage collector",
        _ when name.StartsWith(".NET Long Runni", StringComparison.Ordinal) => "delivery reports (producer poll threads)",
        _ when name.StartsWith(".NET TP", StringComparison.Ordinal) => "thread pool",
        _ when name.StartsWith("stage-", StringComparison.Ordinal) => name,
        _ when name.StartsWith("reader-", StringComparison.Ordinal) => "compacted-topic readers",
        _ when name.StartsWith("end-offsets-", StringComparison.Ordinal) => "end-offset probes",
        "bench-feed" or "bench-observer" => "bench feed and observer",
        _ => "other",
    };
}
