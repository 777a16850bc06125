using Pipeline.Cli.Demo;
using Pipeline.TestSupport;

namespace Pipeline.Operations.Tests;

/// <summary>`bench pipeline`'s CPU by kind of thread: read from /proc, grouped by thread name.</summary>
public sealed class ThreadCpuTests
{
    [Theory]
    [InlineData("rdk:mock", "embedded broker")]
    [InlineData("rdk:broker2", "librdkafka clients")]
    [InlineData("rdk:main", "librdkafka clients")]
    [InlineData(".NET Server GC", "garbage collector")]
    [InlineData(".NET BGC", "garbage collector")]
    [InlineData(".NET Long Runni", "delivery reports (producer poll threads)")]
    [InlineData(".NET TP Worker", "thread pool")]
    [InlineData("stage-audit", "stage-audit")]
    [InlineData("reader-hashes.k", "compacted-topic readers")]
    [InlineData("end-offsets-aud", "end-offset probes")]
    [InlineData("bench-feed", "bench feed and observer")]
    [InlineData("Kestrel Timer", "other")]
    public void A_thread_is_grouped_by_its_name(string name, string group) => Assert.Equal(group, ThreadCpu.Group(name));

    [Fact]
    public async Task A_busy_named_thread_shows_its_cpu_under_its_group()
    {
        if (!OperatingSystem.IsLinux()) return; // /proc only; elsewhere the snapshot is empty by design
        var start = ThreadCpu.Now();
        using var stop = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            // Busy until told to stop (at most 10 s): its CPU is counted in ticks of 10 ms.
            var until = Environment.TickCount64 + 10_000;
            var x = 0.0;
            while (!stop.IsSet && Environment.TickCount64 < until) x += Math.Sqrt(x + 1);
            GC.KeepAlive(x);
        }) { Name = "stage-cputest" };
        thread.Start();
        double Spent() => ThreadCpu.Now().Since(start).FirstOrDefault(g => g.Group == "stage-cputest").Seconds;
        try
        {
            await Polling.Until(() => Spent() >= 0.2, TimeSpan.FromSeconds(10), () => $"the busy thread's CPU read {Spent()} s");
            Assert.DoesNotContain(ThreadCpu.Now().Since(start), g => g.Seconds < 0);
        }
        finally
        {
            stop.Set();
            thread.Join();
        }
    }
}
