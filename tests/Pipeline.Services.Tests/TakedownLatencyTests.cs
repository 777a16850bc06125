using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Takedown;

namespace Pipeline.Services.Tests;

/// <summary>pipeline_takedown_submission_to_notice_seconds: end to end on event time, observed when the first notice is issued.</summary>
public class TakedownLatencyTests
{
    private static TakedownProcessor Processor(DateTime now)
    {
        var options = Microsoft.Extensions.Options.Options.Create(new TakedownOptions
        {
            Deadline = TimeSpan.FromHours(24),
            SenderOrganisation = "Example Hotline",
            SenderContact = "notices@hotline.example",
            SenderDomain = "hotline.example",
            Reminders = { MaxCount = 0 }, // no timer: this test is about the latency only
            Escalation = { Enabled = false },
        });
        // An empty directory (never started): the request's own approved contact decides.
        var directory = new ContactDirectory(Kafka, Serdes, Microsoft.Extensions.Logging.Abstractions.NullLogger<ContactDirectory>.Instance);
        var held = new HeldNotices(Kafka, Microsoft.Extensions.Options.Options.Create(new RetentionOptions()), Serdes, Microsoft.Extensions.Logging.Abstractions.NullLogger<HeldNotices>.Instance);
        var routes = new RouteState(Kafka, Microsoft.Extensions.Options.Options.Create(new RetentionOptions()), Serdes, Microsoft.Extensions.Logging.Abstractions.NullLogger<RouteState>.Instance);
        return new(options, Timers, held, new ContactRules(directory, options), routes, new FakeTimeProvider(new DateTimeOffset(now)),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<TakedownProcessor>.Instance);
    }

    private static readonly Microsoft.Extensions.Options.IOptions<KafkaOptions> Kafka =
        Microsoft.Extensions.Options.Options.Create(new KafkaOptions { BootstrapServers = "127.0.0.1:9", SchemaRegistryUrl = "http://127.0.0.1:9" });

    private static readonly AvroSerdes Serdes =
        new(new Confluent.SchemaRegistry.CachedSchemaRegistryClient(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = "http://127.0.0.1:9" }), false);

    // Never used with MaxCount 0 and the ladder off; the registry address is never asked.
    private static readonly ReminderTimers Timers = new(
        Microsoft.Extensions.Options.Options.Create(new KafkaOptions { BootstrapServers = "127.0.0.1:9", SchemaRegistryUrl = "http://127.0.0.1:9" }),
        Microsoft.Extensions.Options.Options.Create(new RetentionOptions()),
        new AvroSerdes(new Confluent.SchemaRegistry.CachedSchemaRegistryClient(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = "http://127.0.0.1:9" }), false),
        Microsoft.Extensions.Logging.Abstractions.NullLogger<ReminderTimers>.Instance);

    private static async Task<RoutingProcessorTests.RecordingOutput> Process(TakedownRequested request, DateTime now)
    {
        var output = new RoutingProcessorTests.RecordingOutput();
        await Processor(now).ProcessAsync(new Incoming<TakedownRequested>(request.caseKey, request, Topics.TakedownRequested, 0, 7, now, null), output, CancellationToken.None);
        return output;
    }

    [Fact]
    public async Task A_notice_records_the_time_from_the_reports_receipt_on_the_stage_clock()
    {
        var histogram = TakedownProcessor.SubmissionToNotice;
        var (count, sum) = (histogram.Count, histogram.Sum);
        var output = await Process(Fixtures.Requested(), Fixtures.T0.AddHours(2)); // received at T0
        var notice = Assert.IsType<TakedownNotice>(Assert.Single(output.Sent, s => s.Topic == Topics.NoticesIssued).Value);
        Assert.Contains(output.Sent, s => s.Topic == Topics.TakedownRoutes); // the case's route, kept for a re-route after a move
        Assert.Equal(Fixtures.T0.AddHours(2), notice.issuedAt);
        Assert.Equal(count + 1, histogram.Count);
        Assert.Equal(sum + 7200, histogram.Sum, 3);
    }

    [Fact]
    public async Task A_request_without_an_abuse_contact_goes_to_review_and_is_not_timed_as_a_notice()
    {
        var count = TakedownProcessor.SubmissionToNotice.Count;
        var output = await Process(Fixtures.Requested(Fixtures.Hosting(withAbuseContact: false)), Fixtures.T0.AddHours(2));
        Assert.IsType<ReviewRequested>(Assert.Single(output.Sent).Value);
        Assert.Equal(count, TakedownProcessor.SubmissionToNotice.Count);
    }
}
