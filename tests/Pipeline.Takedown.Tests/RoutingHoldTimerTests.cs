using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Routing;
using Pipeline.TestSupport;

namespace Pipeline.Takedown.Tests;

/// <summary>Routing's police hold is a timer of its state store (routing.held.v1): a held takedown the police did not
/// answer is released once at PoliceReleaseTimeout, also when the routing stage restarted while it waited, and never
/// again after another restart.</summary>
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
