using Polly;

namespace Pipeline.Platform.Tests;

/// <summary>The one backoff every retry of the pipeline uses (Pipeline.Platform.Backoff, Polly underneath).</summary>
public sealed class BackoffTests
{
    [Fact]
    public void Delays_double_from_the_initial_delay_and_stop_at_the_cap()
    {
        var backoff = Backoff.FromMilliseconds(200, 5_000);
        Assert.Equal([200, 400, 800, 1_600, 3_200, 5_000, 5_000], Enumerable.Range(1, 7).Select(n => backoff.Delay(n).TotalMilliseconds));
        Assert.Equal(TimeSpan.FromMilliseconds(5_000), backoff.Delay(int.MaxValue)); // no overflow however many retries
        Assert.Equal(TimeSpan.Zero, Backoff.FromMilliseconds(0, 100).Delay(3));
    }

    [Fact]
    public void The_processing_options_and_the_former_formula_agree()
    {
        var options = new ProcessingOptions { InitialBackoffMs = 150, MaxBackoffMs = 4_000 };
        for (var attempt = 1; attempt <= 40; attempt++)
            Assert.Equal(Math.Min(options.MaxBackoffMs, options.InitialBackoffMs * (1L << Math.Min(attempt - 1, 20))), (long)options.RetryBackoff().Delay(attempt).TotalMilliseconds);
    }

    [Fact]
    public async Task A_Polly_pipeline_of_the_backoff_retries_with_those_delays_and_stops_when_cancelled()
    {
        var backoff = Backoff.FromMilliseconds(10, 40);
        var waits = new List<TimeSpan>();
        var pipeline = backoff.Pipeline<int>(4, o => o.Result < 0, TimeProvider.System, args => { waits.Add(args.RetryDelay); return ValueTask.CompletedTask; });
        var calls = 0;
        var result = await pipeline.ExecuteAsync(_ => ValueTask.FromResult(++calls < 5 ? -1 : 7), CancellationToken.None);
        Assert.Equal(7, result);
        Assert.Equal([10, 20, 40, 40], waits.Select(w => w.TotalMilliseconds));

        using var cts = new CancellationTokenSource();
        var slow = Backoff.FromMilliseconds(60_000, 60_000).Pipeline<int>(3, _ => true, TimeProvider.System);
        var running = slow.ExecuteAsync(_ => ValueTask.FromResult(-1), cts.Token).AsTask();
        cts.CancelAfter(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task No_retries_runs_the_action_once()
    {
        var calls = 0;
        var result = await Backoff.FromMilliseconds(1, 1).Pipeline<int>(0, _ => true, TimeProvider.System).ExecuteAsync(_ => ValueTask.FromResult(++calls), CancellationToken.None);
        Assert.Equal(1, result);
        Assert.Equal(1, calls);
    }
}
