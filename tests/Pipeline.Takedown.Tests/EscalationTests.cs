using Microsoft.Extensions.DependencyInjection;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Sla;

namespace Pipeline.Takedown.Tests;

/// <summary>"At the deadline (configurable: 24 h sector norm, or an authority order's shorter one) an escalation SlaEvent
/// for the authority": takedown, delivery and sla in one host on a test clock.</summary>
public class EscalationTests
{
    private static readonly DateTime T0 = TakedownFlow.T0;

    [Fact]
    public async Task Escalation_happens_once_at_the_deadline_the_sector_norm_or_an_authority_orders_earlier_one_and_not_after_removal()
    {
        await using var f = await TakedownFlow.StartAsync(withSla: true);
        var norm = TakedownFlow.Requested("normhost", "abuse@normhost.example");
        var ordered = TakedownFlow.Requested("orderhost", "abuse@orderhost.example", orderedRemovalBy: T0.AddHours(1), orderReference: "ORDER-2026-0042");
        var lenient = TakedownFlow.Requested("lenienthost", "abuse@lenienthost.example", orderedRemovalBy: T0.AddDays(3), orderReference: "ORDER-2026-0043");
        var removed = TakedownFlow.Requested("quickhost", "abuse@quickhost.example", orderedRemovalBy: T0.AddHours(12), orderReference: "ORDER-2026-0044");
        await f.RequestAsync(norm, ordered, lenient, removed);
        await f.Until(() => new[] { norm, ordered, lenient, removed }.All(r => f.Notices(r.caseKey).Count == 1), () => "four first notices");
        Assert.Equal(T0.AddHours(24), f.First(norm).deadline);
        Assert.Null(f.First(norm).orderReference);
        Assert.Equal(T0.AddHours(1), f.First(ordered).deadline);
        Assert.Equal("ORDER-2026-0042", f.First(ordered).orderReference);
        Assert.Contains("removal order ORDER-2026-0042", f.First(ordered).text, StringComparison.Ordinal);
        Assert.Equal(T0.AddHours(24), f.First(lenient).deadline); // an order later than the norm does not extend it
        Assert.Null(f.First(lenient).orderReference);

        // The authority's order: escalated at 1 h.
        f.At(T0.AddHours(1).AddMinutes(-2));
        await f.StepUntil(() => f.SlaEvents(ordered.caseKey, SlaEventKind.ESCALATED).Count == 1, () => "the ordered notice escalated");
        var escalation = Assert.Single(f.SlaEvents(ordered.caseKey, SlaEventKind.ESCALATED));
        Assert.Equal(T0.AddHours(1), escalation.occurredAt);
        Assert.Equal(T0.AddHours(1), escalation.deadline);
        Assert.Equal(f.First(ordered).noticeId, escalation.noticeId);
        Assert.Equal("orderhost", escalation.hosterId);
        Assert.StartsWith("removal order ORDER-2026-0042 not complied with", escalation.detail, StringComparison.Ordinal);
        await f.Until(() => f.SlaEvents(ordered.caseKey, SlaEventKind.DEADLINE_BREACHED).Count == 1, () => "the breach beside the escalation");
        Assert.Equal(T0.AddHours(1), f.SlaEvents(ordered.caseKey, SlaEventKind.DEADLINE_BREACHED).Single().occurredAt);
        Assert.Empty(f.SlaEvents(norm.caseKey, SlaEventKind.ESCALATED));

        // Removed at 6 h, before its 12 h order: never escalated (checked once the 24 h escalations, later passes, are out).
        f.At(T0.AddHours(6));
        await f.RemovedAsync(f.First(removed), T0.AddHours(5.75), T0.AddHours(6));
        await f.Until(() => f.Watch.Events<NoticeOutcome>(Topics.NoticeOutcomes, o => o.caseKey == removed.caseKey).Count == 1, () => "the removal decided by sla");

        // The sector norm: escalated at 24 h.
        f.At(T0.AddHours(24).AddMinutes(-2));
        await f.StepUntil(() => f.SlaEvents(norm.caseKey, SlaEventKind.ESCALATED).Count == 1 && f.SlaEvents(lenient.caseKey, SlaEventKind.ESCALATED).Count == 1,
            () => "the 24 h notices escalated");
        Assert.Equal(T0.AddHours(24), f.SlaEvents(norm.caseKey, SlaEventKind.ESCALATED).Single().occurredAt);
        Assert.StartsWith("sector norm missed", f.SlaEvents(norm.caseKey, SlaEventKind.ESCALATED).Single().detail, StringComparison.Ordinal);
        Assert.Equal(T0.AddHours(24), f.SlaEvents(lenient.caseKey, SlaEventKind.ESCALATED).Single().occurredAt);
        Assert.Empty(f.SlaEvents(removed.caseKey, SlaEventKind.ESCALATED));
        Assert.Empty(f.SlaEvents(removed.caseKey, SlaEventKind.DEADLINE_BREACHED));

        // Once per notice, across more passes and a restart: a notice ordered after the restart is escalated in a pass
        // of the new host, which publishes nothing again for the earlier ones.
        await f.StopHostAsync();
        await f.StartHostAsync();
        var afterRestart = TakedownFlow.Requested("afterhost", "abuse@afterhost.example", orderedRemovalBy: T0.AddHours(25), orderReference: "ORDER-2026-0045");
        await f.RequestAsync(afterRestart);
        await f.Until(() => f.Notices(afterRestart.caseKey).Count == 1, () => "the notice after the restart");
        await f.StepUntil(() => f.SlaEvents(afterRestart.caseKey, SlaEventKind.ESCALATED).Count == 1, () => "the notice after the restart escalated");
        Assert.Equal(T0.AddHours(25), f.SlaEvents(afterRestart.caseKey, SlaEventKind.ESCALATED).Single().occurredAt);
        foreach (var r in new[] { norm, ordered, lenient })
        {
            var id = EventIds.Derive("sla-escalated", f.First(r).noticeId);
            Assert.Equal(1, f.TimesPublished(id));
        }
        Assert.Equal(4, f.Watch.Events<SlaEvent>(Topics.SlaEvents, e => e.kind == SlaEventKind.ESCALATED).Count);

        // The restarted stage read the history again (from the beginning of its topics) and exports the hoster scorecards
        // from it when scraped: the ordered notice's breach, published before the restart, is on the board.
        var history = f.Host!.Services.GetRequiredService<ScorecardHistory>();
        await f.Until(() => history.CaughtUp.IsCompletedSuccessfully, () => "the SLA history read again after the restart");
        using var scraped = new MemoryStream();
        await Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(scraped);
        Assert.Contains("pipeline_sla_hoster_breaches{hoster=\"orderhost\"} 1", System.Text.Encoding.UTF8.GetString(scraped.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_url_offline_before_the_deadline_but_confirmed_after_it_is_not_escalated_and_an_unconfirmed_run_is_after_the_grace()
    {
        await using var f = await TakedownFlow.StartAsync(withSla: true);
        var edge = TakedownFlow.Requested("edgehost", "abuse@edgehost.example");       // offline at 23:55, confirmed at 24:05
        var flicker = TakedownFlow.Requested("flickerhost", "abuse@flickerhost.example"); // a miss at 23:55, online again at 24:00
        var stuck = TakedownFlow.Requested("stuckhost", "abuse@stuckhost.example");       // a miss at 23:55, then nothing
        await f.RequestAsync(edge, flicker, stuck);
        await f.Until(() => new[] { edge, flicker, stuck }.All(r => f.Notices(r.caseKey).Count == 1), () => "three first notices");
        var state = f.Host!.Services.GetRequiredService<SlaState>();

        var firstMiss = T0.AddHours(24).AddMinutes(-5);
        f.At(firstMiss);
        foreach (var r in new[] { edge, flicker, stuck }) await f.CheckedAsync(f.First(r), 1, firstMiss, firstMiss);
        await f.Until(() => state.MissRuns.Count == 3, () => $"{state.MissRuns.Count} of 3 miss runs seen by sla");
        await f.CheckedAsync(f.First(flicker), 0, null, T0.AddHours(24));
        await f.Until(() => state.MissRuns.Count == 2, () => "the flickering URL's run ended by its online check");

        // Past the deadline: the URL back online is a breach at once; the two runs in progress wait.
        f.At(T0.AddHours(24).AddMinutes(-1));
        await f.StepUntil(() => f.SlaEvents(flicker.caseKey, SlaEventKind.ESCALATED).Count == 1, () => "the flickering URL escalated");
        Assert.Equal(T0.AddHours(24), f.SlaEvents(flicker.caseKey, SlaEventKind.ESCALATED).Single().occurredAt);
        Assert.Empty(f.SlaEvents(edge.caseKey, SlaEventKind.ESCALATED));
        Assert.Empty(f.SlaEvents(stuck.caseKey, SlaEventKind.ESCALATED));

        // The third miss confirms the edge URL's removal a few minutes after the deadline, offline since 23:55: within the norm, never escalated.
        Assert.True(f.Clock.GetUtcNow().UtcDateTime < T0.AddHours(24).AddMinutes(30), "still inside the grace");
        await f.RemovedAsync(f.First(edge), firstMiss, f.Clock.GetUtcNow().UtcDateTime);
        await f.Until(() => f.Watch.Events<NoticeOutcome>(Topics.NoticeOutcomes, o => o.caseKey == edge.caseKey).Count == 1, () => "the edge URL's outcome");
        var outcome = f.Watch.Events<NoticeOutcome>(Topics.NoticeOutcomes, o => o.caseKey == edge.caseKey).Single();
        Assert.True(outcome.withinNorm);
        Assert.Equal(firstMiss, outcome.removedAt);

        // The stuck run is never confirmed: after Sla:BreachGrace (30 min) past the deadline the breach and escalation
        // come, dated at the deadline.
        await f.StepUntil(() => f.SlaEvents(stuck.caseKey, SlaEventKind.ESCALATED).Count == 1, () => "the unconfirmed run escalated after the grace");
        Assert.True(f.Clock.GetUtcNow().UtcDateTime >= T0.AddHours(24).AddMinutes(30), $"escalated before the grace ended, at {f.Clock.GetUtcNow():O}");
        Assert.Equal(T0.AddHours(24), f.SlaEvents(stuck.caseKey, SlaEventKind.ESCALATED).Single().occurredAt);
        Assert.Single(f.SlaEvents(stuck.caseKey, SlaEventKind.DEADLINE_BREACHED));
        Assert.Empty(f.SlaEvents(edge.caseKey, SlaEventKind.ESCALATED));
        Assert.Empty(f.SlaEvents(edge.caseKey, SlaEventKind.DEADLINE_BREACHED));
    }
}
