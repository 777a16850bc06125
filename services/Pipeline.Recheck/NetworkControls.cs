using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Prometheus;

namespace Pipeline.Recheck;

/// <summary>
/// Tells "gone" from "we could not look". A check that found its URL gone, or got no answer, is believed only when a
/// round of control checks — <see cref="RecheckOptions.Controls"/>, endpoints that are always online, probed through
/// the same client, resolver and network path as the checks — begun after that check started found at least
/// <see cref="RecheckOptions.MinControlsOnline"/> of them online. Otherwise the hotline's own network (or DNS) was
/// failing and the check is recorded NETWORK_DOWN: it counts as no miss, resets nothing, and is repeated soon.
/// <para>Checks waiting for a verdict share one round: a round answers every check that started before it began, the
/// next round starts when the last one has ended and <see cref="RecheckOptions.ControlSpacing"/> has passed since its
/// start. So a burst of misses costs one round, and the controls see at most one round per spacing. While the last
/// round failed, every check asks for one, so the network's recovery is seen with the first check after it.</para>
/// </summary>
public sealed class NetworkControls(IContentProbe probe, IOptions<RecheckOptions> options, TimeProvider pacing)
{
    private static readonly Counter Rounds = Metrics.CreateCounter(
        "pipeline_recheck_control_rounds_total", "Rounds of control checks (known-online endpoints) run before a miss or an unanswered check was believed, by result (passed, failed).",
        new CounterConfiguration { LabelNames = ["result"] });
    private static readonly Gauge NetworkUp = Up(Metrics.CreateGauge(
        "pipeline_recheck_network_up", "1 when the last round of control checks passed (or none has run yet), 0 when it failed: the hotline's own network or DNS was failing and no check of that round counted as a miss."));
    private static readonly Gauge ControlsOnline = Metrics.CreateGauge(
        "pipeline_recheck_controls_online", "Control endpoints that answered online in the last round.");

    private readonly RecheckOptions settings = options.Value;
    private readonly Lock gate = new();
    private Round? latest;
    private Round? next;

    private static Gauge Up(Gauge gauge)
    {
        gauge.Set(1);
        return gauge;
    }

    /// <summary>What a round of control checks found.</summary>
    public sealed record Verdict(bool Passed, int Online, int Total, string Detail);

    private sealed class Round
    {
        public long StartedAt = long.MaxValue;
        public Task<Verdict> Result = null!;
    }

    /// <summary>Whether the last round failed (the network counts as down until a round passes).</summary>
    public bool Down { get; private set; }

    /// <summary>A real-time stamp to pass to <see cref="VerifyAsync"/>: take it before the check starts.</summary>
    public long Stamp() => pacing.GetTimestamp();

    /// <summary>The verdict of a round that began after <paramref name="checkStartedAt"/> (a <see cref="Stamp"/>).</summary>
    public Task<Verdict> VerifyAsync(long checkStartedAt, CancellationToken ct)
    {
        Task<Verdict> result;
        lock (gate)
        {
            if (latest is { } last && last.StartedAt >= checkStartedAt) result = last.Result;
            else
            {
                if (next is null)
                {
                    next = new Round();
                    next.Result = RunAsync(next, latest);
                }
                result = next.Result;
            }
        }
        return result.WaitAsync(ct);
    }

    /// <summary>The verdict a check's result leads to: a miss or an unanswered check of a failed round is NETWORK_DOWN.</summary>
    public static ProbeResult Apply(ProbeResult result, Verdict verdict) =>
        verdict.Passed || !result.NeedsControls ? result
            : new ProbeResult(ContentStatus.NETWORK_DOWN, result.HttpStatus)
            {
                Detail = $"not counted: the check saw {result.Status}{(result.Detail is null ? "" : " (" + result.Detail + ")")}, and {verdict.Detail}",
            };

    private async Task<Verdict> RunAsync(Round round, Round? previous)
    {
        await Task.Yield(); // the caller holds the lock
        if (previous is not null)
        {
            await previous.Result.ConfigureAwait(false);
            var wait = settings.ControlSpacing - pacing.GetElapsedTime(previous.StartedAt);
            if (wait > TimeSpan.Zero) await Task.Delay(wait, pacing).ConfigureAwait(false);
        }
        lock (gate)
        {
            round.StartedAt = pacing.GetTimestamp();
            latest = round;
            next = null;
        }
        var answers = await Task.WhenAll(settings.Controls.Select(ProbeOneAsync)).ConfigureAwait(false);
        var online = answers.Count(a => a.Status == ContentStatus.ONLINE);
        var passed = online >= settings.MinControlsOnline;
        var failures = answers.Zip(settings.Controls).Where(a => a.First.Status != ContentStatus.ONLINE)
            .Select(a => $"{a.Second}: {a.First.Status}{(a.First.Detail is null ? "" : " (" + a.First.Detail + ")")}");
        var verdict = new Verdict(passed, online, answers.Length,
            $"{online} of {answers.Length} control checks answered online (at least {settings.MinControlsOnline} needed){(passed ? "" : "; " + string.Join("; ", failures))}");
        Down = !passed;
        Rounds.WithLabels(passed ? "passed" : "failed").Inc();
        NetworkUp.Set(passed ? 1 : 0);
        ControlsOnline.Set(online);
        return verdict;
    }

    private async Task<ProbeResult> ProbeOneAsync(string url)
    {
        using var timeout = new CancellationTokenSource(settings.ProbeTimeout);
        try
        {
            return await probe.ProbeAsync(url, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return HttpContentProbe.TimedOut;
        }
        catch (Exception e)
        {
            return new ProbeResult(ContentStatus.UNREACHABLE, null) { Detail = e.Message };
        }
    }
}
