using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Platform;

namespace Pipeline.Sla;

/// <summary>
/// Exports the hoster scorecards as Prometheus gauges, computed from the <see cref="ScorecardHistory"/> that the sla
/// stage follows from the beginning of notices.issued, sla.open, notices.outcomes and sla.events (no consumer group),
/// so every replica exports the whole board: aggregate with <c>max by (hoster)</c>, never <c>sum</c>. Gauges rather
/// than counters because the top-N set changes: a hoster leaving it would make a counter of "(other)" go down.
/// <para>No loop or timer: the board is recomputed when Prometheus scrapes, once the history has caught up, at most once
/// per Sla:ScorecardRefreshInterval of the stage's clock (a scrape in between exports the last figures).</para>
/// </summary>
public sealed class HosterBoard : IDisposable
{
    public const string Other = "(other)";

    private static readonly Gauge Notices = Metrics.CreateGauge("pipeline_sla_hoster_notices",
        "Cases first noticed in the scorecard window, per hoster (top N by notices, the rest as (other)).", "hoster");
    private static readonly Gauge Removals = Metrics.CreateGauge("pipeline_sla_hoster_removals",
        "Cases noticed in the window whose removal was confirmed, by whether it met the first notice's deadline.", "hoster", "within_norm");
    private static readonly Gauge WithinNormRatio = Metrics.CreateGauge("pipeline_sla_hoster_within_norm_ratio",
        "Share of decided cases (removed, or open past the deadline) removed within the norm; absent while none is decided.", "hoster");
    private static readonly Gauge TimeToRemoval = Metrics.CreateGauge("pipeline_sla_hoster_time_to_removal_seconds",
        "Time from first notice to removal of the cases removed in the window, nearest-rank quantiles 0.5 and 0.9.", "hoster", "quantile");
    private static readonly Gauge OpenNotices = Metrics.CreateGauge("pipeline_sla_hoster_open_notices",
        "Cases noticed and not yet removed (any age).", "hoster");
    private static readonly Gauge OverdueNotices = Metrics.CreateGauge("pipeline_sla_hoster_overdue_notices",
        "Open cases past their deadline (any age).", "hoster");
    private static readonly Gauge HosterBreaches = Metrics.CreateGauge("pipeline_sla_hoster_breaches",
        "Cases noticed in the window that missed the deadline (removed late or still open after it).", "hoster");
    private static readonly Gauge Reuploads = Metrics.CreateGauge("pipeline_sla_hoster_reuploads",
        "Cases noticed in the window that were re-uploads of material removed before.", "hoster");
    private static readonly Gauge RepeatOffender = Metrics.CreateGauge("pipeline_sla_hoster_repeat_offender",
        "1 if the hoster had a re-upload or at least Sla:RepeatOffenderBreaches breaches in the window.", "hoster");
    private static readonly Gauge Hosters = Metrics.CreateGauge("pipeline_sla_scorecard_hosters",
        "Distinct hosters on the scorecard (all of them, whatever the top-N bound of the hoster label).");
    private static readonly Gauge Updated = Metrics.CreateGauge("pipeline_sla_scorecard_updated_timestamp_seconds",
        "Unix time (stage clock) the scorecard metrics were last recomputed.");

    private readonly HashSet<string> published = new(StringComparer.Ordinal);

    private readonly ScorecardHistory history;
    private readonly IOptions<SlaOptions> options;
    private readonly TimeProvider time;
    private readonly Lock refreshing = new();
    private DateTimeOffset? lastRefresh;
    private bool disposed;

    public HosterBoard(ScorecardHistory history, IOptions<SlaOptions> options, TimeProvider time)
    {
        this.history = history;
        this.options = options;
        this.time = time;
        Metrics.DefaultRegistry.AddBeforeCollectCallback(RefreshIfStale);
    }

    private void RefreshIfStale()
    {
        lock (refreshing)
        {
            // The registry keeps a callback for good: a disposed board (its host stopped) must not overwrite the gauges
            // of a board started after it in the same process.
            if (disposed || !history.CaughtUp.IsCompletedSuccessfully) return;
            var now = time.GetUtcNow();
            if (now - lastRefresh < options.Value.ScorecardRefreshInterval) return;
            lastRefresh = now;
            Refresh();
        }
    }

    public void Dispose()
    {
        lock (refreshing) disposed = true;
    }

    /// <summary>Recomputes the board and sets the gauges; hosters that left the top N lose their series.</summary>
    public IReadOnlyList<HosterRow> Refresh()
    {
        var o = options.Value;
        var now = time.GetUtcNow().UtcDateTime;
        var since = now - o.ScorecardWindow;
        history.Prune(since);
        var rows = Bounded(history.Rank(now, since, o.RepeatOffenderBreaches), o.ScorecardTopHosters,
            label => history.Rank(now, since, o.RepeatOffenderBreaches, label), out var hosterCount);
        var current = rows.Select(r => r.Hoster).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in published.Except(current).ToList()) Remove(gone);
        foreach (var r in rows)
        {
            Notices.WithLabels(r.Hoster).Set(r.Notices);
            Removals.WithLabels(r.Hoster, "true").Set(r.RemovedWithinNorm);
            Removals.WithLabels(r.Hoster, "false").Set(r.Removed - r.RemovedWithinNorm);
            if (r.ShareWithinNorm is { } share) WithinNormRatio.WithLabels(r.Hoster).Set(share);
            else WithinNormRatio.RemoveLabelled(r.Hoster);
            SetOrRemove(r.Hoster, "0.5", r.MedianTimeToRemoval);
            SetOrRemove(r.Hoster, "0.9", r.P90TimeToRemoval);
            OpenNotices.WithLabels(r.Hoster).Set(r.OpenNow);
            OverdueNotices.WithLabels(r.Hoster).Set(r.OverdueNow);
            HosterBreaches.WithLabels(r.Hoster).Set(r.Breaches);
            Reuploads.WithLabels(r.Hoster).Set(r.Reuploads);
            RepeatOffender.WithLabels(r.Hoster).Set(r.RepeatOffender ? 1 : 0);
        }
        published.Clear();
        published.UnionWith(current);
        Hosters.Set(hosterCount);
        Updated.Set(new DateTimeOffset(now).ToUnixTimeMilliseconds() / 1000.0);
        return rows;
    }

    /// <summary>The top <paramref name="top"/> hosters by notices (open ones included) keep their own row; the rest are
    /// recomputed as one "(other)" row, so its median and p90 are over their pooled cases, not an average of medians.</summary>
    public static IReadOnlyList<HosterRow> Bounded(IReadOnlyList<HosterRow> all, int top, Func<Func<string, string>, IReadOnlyList<HosterRow>> rank, out int hosterCount)
    {
        hosterCount = all.Count;
        if (all.Count <= top) return all;
        var keep = all.OrderByDescending(r => r.Notices + r.OpenNow).ThenBy(r => r.Hoster, StringComparer.Ordinal)
            .Take(top).Select(r => r.Hoster).ToHashSet(StringComparer.Ordinal);
        return rank(h => keep.Contains(h) ? h : Other);
    }

    private static void SetOrRemove(string hoster, string quantile, TimeSpan? value)
    {
        if (value is { } v) TimeToRemoval.WithLabels(hoster, quantile).Set(v.TotalSeconds);
        else TimeToRemoval.RemoveLabelled(hoster, quantile);
    }

    private static void Remove(string hoster)
    {
        foreach (var g in new[] { Notices, WithinNormRatio, OpenNotices, OverdueNotices, HosterBreaches, Reuploads, RepeatOffender }) g.RemoveLabelled(hoster);
        Removals.RemoveLabelled(hoster, "true");
        Removals.RemoveLabelled(hoster, "false");
        TimeToRemoval.RemoveLabelled(hoster, "0.5");
        TimeToRemoval.RemoveLabelled(hoster, "0.9");
    }
}
