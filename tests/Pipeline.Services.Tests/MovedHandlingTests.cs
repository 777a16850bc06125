using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Recheck;
using Pipeline.Sla;

namespace Pipeline.Services.Tests;

/// <summary>What sla and recheck do with a MOVED delivery (the host moved before a notice left): the notice is closed
/// unmeasured and no longer checked, also when sla reads the MOVED record before the notice itself.</summary>
public class MovedHandlingTests
{
    private static readonly DateTime Issued = Fixtures.T0;
    private static readonly Microsoft.Extensions.Options.IOptions<KafkaOptions> Kafka = Microsoft.Extensions.Options.Options.Create(new KafkaOptions());

    private static NoticeDelivery Moved(TakedownNotice notice) => new()
    {
        eventId = EventIds.Derive("notice-delivery", notice.noticeId, "1"), noticeId = notice.noticeId, caseKey = notice.caseKey, hosterId = notice.hosterId,
        channel = NoticeChannel.EMAIL, address = "abuse@hoster-a.example", attempt = 1, status = DeliveryStatus.MOVED, detail = "moved",
        at = Issued.AddMinutes(3), notice = notice,
        movedTo = Fixtures.Hosting("DE"),
    };

    private static Incoming<T> In<T>(T value, string topic, string key) where T : class, Avro.Specific.ISpecificRecord => new(key, value, topic, 1, 9, Issued, null);

    private static (SlaProcessor Processor, SlaState State) Sla()
    {
        var state = new SlaState(Kafka, Microsoft.Extensions.Options.Options.Create(new RetentionOptions()), null!, NullLogger<SlaState>.Instance);
        var processor = new SlaProcessor(state, new ScorecardHistory(), Microsoft.Extensions.Options.Options.Create(new SlaOptions()), Kafka, null!,
            new FakeTimeProvider(new DateTimeOffset(Issued.AddMinutes(5))), NullLogger<SlaProcessor>.Instance);
        return (processor, state);
    }

    [Fact]
    public async Task Sla_closes_the_open_notice_of_a_moved_route_unmeasured()
    {
        var notice = Fixtures.Notice(Issued);
        var (sla, state) = Sla();
        state.Open.Apply(1, notice.caseKey, notice);
        var output = new RoutingProcessorTests.RecordingOutput();
        await sla.ProcessAsync(In(Moved(notice), Topics.NoticeDeliveries, notice.caseKey), output, CancellationToken.None);
        var deleted = Assert.Single(output.Sent);
        Assert.Equal((Topics.SlaOpen, notice.caseKey, (Avro.Specific.ISpecificRecord?)null), (deleted.Topic, deleted.Key, deleted.Value));
        Assert.DoesNotContain(output.Sent, s => s.Topic is Topics.SlaEvents or Topics.NoticeOutcomes); // no breach, no outcome
    }

    [Fact]
    public async Task Sla_closes_a_notice_ahead_when_its_MOVED_record_comes_first_and_takes_the_notice_for_a_replay()
    {
        var notice = Fixtures.Notice(Issued);
        var (sla, _) = Sla();
        var output = new RoutingProcessorTests.RecordingOutput();
        await sla.ProcessAsync(In(Moved(notice), Topics.NoticeDeliveries, notice.caseKey), output, CancellationToken.None);
        var closed = Assert.IsType<TakedownNotice>(Assert.Single(output.Sent).Value);
        Assert.Equal(notice.noticeId, closed.noticeId);
        Assert.NotNull(closed.timeline.removalObservedAt); // decided: no deadline timer
        // Its state as the host commits it: the notice read afterwards is taken for a replay and opens nothing.
        var (later, laterState) = Sla();
        laterState.Open.Apply(1, notice.caseKey, closed);
        var after = new RoutingProcessorTests.RecordingOutput();
        await later.ProcessAsync(In(notice, Topics.NoticesIssued, notice.caseKey), after, CancellationToken.None);
        Assert.Empty(after.Sent);
    }

    [Fact]
    public async Task Recheck_stops_checking_the_notice_of_a_moved_route()
    {
        var options = new RecheckOptions { HomeHotline = "nl-hotline" };
        var schedule = new RecheckSchedule(options);
        var notice = Fixtures.Notice(Issued);
        var store = new RecheckStateStore(Kafka, Microsoft.Extensions.Options.Options.Create(new RetentionOptions()), null!, NullLogger<RecheckStateStore>.Instance);
        store.State.Apply(1, notice.caseKey, schedule.Schedule(null, notice, Issued)!);
        var time = new FakeTimeProvider(new DateTimeOffset(Issued.AddMinutes(5)));
        IContentProbe probe = new NeverProbe();
        var recheck = new RecheckProcessor(schedule, store, probe, new HostPoliteness(options, time),
            new NetworkControls(probe, Microsoft.Extensions.Options.Options.Create(options), time), Microsoft.Extensions.Options.Options.Create(options), time,
            NullLogger<RecheckProcessor>.Instance);
        var output = new RoutingProcessorTests.RecordingOutput();

        var reminder = Fixtures.Notice(Issued.AddDays(1));
        reminder.noticeId = "reminder-of-" + notice.noticeId;
        reminder.originalNoticeId = notice.noticeId;
        await recheck.ProcessAsync(In(Moved(reminder), Topics.NoticeDeliveries, notice.caseKey), output, CancellationToken.None);
        var deleted = Assert.Single(output.Sent);
        Assert.Equal((Topics.RecheckSchedule, notice.caseKey), (deleted.Topic, deleted.Key));
        Assert.Null(deleted.Value);
    }

    private sealed class NeverProbe : IContentProbe
    {
        public Task<ProbeResult> ProbeAsync(string url, CancellationToken cancellationToken) => throw new InvalidOperationException("no probe in this test");
    }
}
