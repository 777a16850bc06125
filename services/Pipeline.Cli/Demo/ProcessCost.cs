using System.Diagnostics;

namespace Pipeline.Cli.Demo;

/// <summary>The process's CPU time, allocation and garbage collections so far; subtracted over the measured window.</summary>
public readonly record struct ProcessCost(double CpuSeconds, long AllocatedBytes, int Gen0, int Gen1, int Gen2, double PauseSeconds)
{
    public static ProcessCost Now() => new(Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds, GC.GetTotalAllocatedBytes(),
        GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration().TotalSeconds);

    public static ProcessCost operator -(ProcessCost a, ProcessCost b) =>
        new(a.CpuSeconds - b.CpuSeconds, a.AllocatedBytes - b.AllocatedBytes, a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.PauseSeconds - b.PauseSeconds);
}
