using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Routing;
using Pipeline.TestSupport;

namespace Pipeline.Takedown.Tests;

/// <summary>Routing's police hold is a timer of its state store (routing.held.v1): a held takedown the police did not
/// answer is released once at PoliceReleaseTimeout, also when the routing stage restarted while it waited, and never
/// again after another restart; a hold whose assessment an analyst reverses while it waits is never released.</summary>
public sealed class RoutingHoldTimerTests
{
    private static readonly DateTime T0 = TakedownFlow.T0;

    [Fact]
    public async Task An_unanswered_hold_is_released_once_at_its_timeout_across_restarts()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var clock = new FakeTimeProvider(new DateTimeOffset(T0));
        using var watch = new TopicWatcher(h.Runtime.BootstrapServers, h.Runtime.SchemaRegistryUrl, Topics.PoliceReferrals, Topics.TakedownRequested, Topics.RoutingHeld);
        var settings = new Dictionary<string, string?>
        {
            ["Routing:HomeCountry"] = "NL",
            ["Routing:HomeHotline"] = "nl-hotline",
            ["Routing:PoliceFirst"] = "true",
            ["Routing:PoliceReleaseTimeout"] = "04:00:00",
        };
        Task<Microsoft.AspNetCore.Builder.WebApplication> Start() => h.StartHostAsync(settings, b => b.AddRouting(), clock);

        var routing = await Start();
        await watch.Assigned;
        var classified = New(TakedownFlow.Requested("hold-host", "abuse@hold-host.example"));
        await h.Publisher.PublishAsync(Topics.ReportsClassified, classified.caseKey, classified);
        await watch.WaitUntilAsync(() => watch.Events<PoliceReferral>(Topics.PoliceReferrals).Count == 1
                && watch.Events<TakedownRequested>(Topics.RoutingHeld, t => t.policeHold).Count == 1, TakedownFlow.Wait,
            () => "the police referral and the held takedown");
        Assert.Empty(watch.Events<TakedownRequested>(Topics.TakedownRequested));

        // Restart before the timeout: the hold is restored from routing.held.v1 with its timer, not released early.
        await h.StopHostAsync(routing);
        clock.Advance(TimeSpan.FromHours(3));
        routing = await Start();
        await Eventually(() => HeldOf(routing, classified.caseKey) is { policeHold: true }, "the hold restored after the restart");
        Assert.Empty(watch.Events<TakedownRequested>(Topics.TakedownRequested));

        // The timeout passes: released once, marked released in the state topic with it.
        clock.Advance(TimeSpan.FromHours(1));
        await watch.WaitUntilAsync(() => watch.Events<TakedownRequested>(Topics.TakedownRequested).Count >= 1
                && watch.Events<TakedownRequested>(Topics.RoutingHeld, t => !t.policeHold).Count >= 1, TakedownFlow.Wait,
            () => "the held takedown released at its timeout");
        var released = Assert.Single(watch.Events<TakedownRequested>(Topics.TakedownRequested));
        Assert.False(released.policeHold);
        Assert.Equal(classified.caseKey, released.caseKey);

        // Another restart, much later: the released entry is not due again.
        await h.StopHostAsync(routing);
        clock.Advance(TimeSpan.FromDays(2));
        routing = await Start();
        await Eventually(() => HeldOf(routing, classified.caseKey) is { policeHold: false }, "the released entry restored after the second restart");
        await h.StopHostAsync(routing); // a graceful stop writes what it started; then the topic is read to its end
        await watch.ReadToEndAsync(TakedownFlow.Wait, Topics.TakedownRequested);
        Assert.Single(watch.Events<TakedownRequested>(Topics.TakedownRequested));
    }

    [Fact]
    public async Task A_hold_whose_assessment_is_reversed_while_it_waits_never_sends_its_takedown_and_leaves_one_review_record()
    {
        await using var h = await DeliveryHarness.StartAsync();
        var clock = new FakeTimeProvider(new DateTimeOffset(T0));
        var deadLetters = Topics.DeadLetter(Pipeline.Routing.RoutingService.Stage);
        using var watch = new TopicWatcher(h.Runtime.BootstrapServers, h.Runtime.SchemaRegistryUrl,
            Topics.PoliceReferrals, Topics.TakedownRequested, Topics.RoutingHeld, Topics.ReportsReview, deadLetters);
        var settings = new Dictionary<string, string?>
        {
            ["Routing:HomeCountry"] = "NL",
            ["Routing:HomeHotline"] = "nl-hotline",
            ["Routing:PoliceFirst"] = "true",
            ["Routing:PoliceReleaseTimeout"] = "04:00:00",
        };
        var routing = await h.StartHostAsync(settings, b => b.AddRouting(), clock);
        await watch.Assigned;

        // Two cases held for the police; the second is the control whose release at the timeout shows the timers ran.
        var reversed = New(TakedownFlow.Requested("rev-hold", "abuse@rev-hold.example"));
        var control = New(TakedownFlow.Requested("ctl-hold", "abuse@ctl-hold.example"));
        await h.Publisher.PublishAsync(Topics.ReportsClassified, reversed.caseKey, reversed);
        await h.Publisher.PublishAsync(Topics.ReportsClassified, control.caseKey, control);
        await watch.WaitUntilAsync(() => watch.Events<TakedownRequested>(Topics.RoutingHeld, t => t.policeHold).Count == 2, TakedownFlow.Wait,
            () => "both takedowns held for the police");

        // One hour in, an analyst reverses the first case to NOT_ILLEGAL (classification re-sends it); the reversal is replayed.
        clock.Advance(TimeSpan.FromHours(1));
        var reversal = NotIllegal(reversed, clock.GetUtcNow().UtcDateTime);
        await h.Publisher.PublishAsync(Topics.ReportsClassified, reversal.caseKey, reversal);
        await Eventually(() => HeldOf(routing, reversed.caseKey) is { policeHold: false }, "the hold marked done by the reversal");
        await h.Publisher.PublishAsync(Topics.ReportsClassified, reversal.caseKey, reversal);
        var dropped = HeldOf(routing, reversed.caseKey)!;
        Assert.EndsWith(RoutingProcessor.ReversedWhileHeld, dropped.rule, StringComparison.Ordinal);

        // The timeout passes: the control goes out, the dropped hold does not.
        clock.Advance(TimeSpan.FromHours(3));
        await watch.WaitUntilAsync(() => watch.Events<TakedownRequested>(Topics.TakedownRequested).Count >= 1, TakedownFlow.Wait,
            () => "the control released at its timeout");

        // The police release the reversed case after all: known, nothing is sent and nothing is dead-lettered.
        await h.Publisher.PublishAsync(Topics.PoliceReleases, reversed.caseKey, new PoliceRelease
        {
            eventId = EventIds.Derive("police-release", reversed.caseKey), caseKey = reversed.caseKey,
            referralId = RoutingProcessor.ReferralId(reversed.caseKey, reversed.report.reportId), releasedBy = "unit-7",
            releasedAt = clock.GetUtcNow().UtcDateTime, preserveEvidence = false, note = null,
        });
        await h.WaitUntilDeliveryGroupCaughtUpAsync(Pipeline.Routing.RoutingService.Stage, Topics.PoliceReleases);
        await h.WaitUntilDeliveryGroupCaughtUpAsync(Pipeline.Routing.RoutingService.Stage, Topics.ReportsClassified);
        await h.StopHostAsync(routing); // a graceful stop writes what it started; then the topics are read to their end
        await watch.ReadToEndAsync(TakedownFlow.Wait, Topics.TakedownRequested, Topics.ReportsReview, deadLetters);

        var sent = Assert.Single(watch.Events<TakedownRequested>(Topics.TakedownRequested));
        Assert.Equal(control.caseKey, sent.caseKey);
        Assert.Empty(watch.Events<TakedownRequested>(Topics.TakedownRequested, t => t.caseKey == reversed.caseKey));
        Assert.Empty(watch.Deliveries(deadLetters));
        var review = Assert.Single(watch.Events<ReviewRequested>(Topics.ReportsReview).DistinctBy(r => r.eventId));
        Assert.Equal((reversed.caseKey, Verdict.NOT_ILLEGAL, "routing:assessment-reversed→police-hold-dropped"), (review.caseKey, review.verdict, review.rule));
        Assert.Contains("dropped unsent", review.reason, StringComparison.Ordinal);
        Assert.Contains(RoutingProcessor.ReferralId(reversed.caseKey, reversed.report.reportId), review.reason, StringComparison.Ordinal);
    }

    /// <summary>The case as classification re-sends it when an analyst reverses the assessment to NOT_ILLEGAL.</summary>
    private static ReportClassified NotIllegal(ReportClassified c, DateTime at) => new()
    {
        eventId = EventIds.Derive("classified", c.caseKey, "reassessed"), caseKey = c.caseKey, report = c.report, caseInfo = c.caseInfo,
        hosting = c.hosting, verdict = Verdict.NOT_ILLEGAL, matches = [],
        assessment = new Assessment
        {
            classification = Pipeline.Contracts.Classification.NOT_ILLEGAL, ageGroup = AgeGroup.NOT_DETERMINED, gender = Gender.NOT_DETERMINED,
            isVirtual = false, userGenerated = false, analyst = "analyst-2", assessedAt = at,
        },
        classifiedAt = at,
    };

    private static TakedownRequested? HeldOf(Microsoft.AspNetCore.Builder.WebApplication app, string caseKey)
    {
        var state = (RoutingState)app.Services.GetService(typeof(RoutingState))!;
        return state.Held.TryFind(caseKey, out var held, out _) ? held : null;
    }

    private static Task Eventually(Func<bool> condition, string what) => Polling.Until(condition, TakedownFlow.Wait, () => what);

    /// <summary>A new (unknown) report hosted at home, assessed illegal: police first.</summary>
    private static ReportClassified New(TakedownRequested r) => new()
    {
        eventId = EventIds.Derive("classified", r.caseKey),
        caseKey = r.caseKey,
        report = r.report,
        caseInfo = r.caseInfo,
        hosting = r.hosting,
        verdict = Verdict.NEW,
        matches = [],
        assessment = new Assessment
        {
            classification = Pipeline.Contracts.Classification.BASELINE, ageGroup = AgeGroup.PREPUBESCENT, gender = Gender.NOT_DETERMINED,
            isVirtual = false, userGenerated = false, analyst = "analyst-7", assessedAt = T0.AddMinutes(-5),
        },
        classifiedAt = T0.AddMinutes(-1),
    };
}
