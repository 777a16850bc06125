using System.Text.Json;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Options;
using Pipeline.Cli.Commands;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;

namespace Pipeline.Sla.Tests;

/// <summary>`pipeline sla hosters` against the embedded Kafka cluster and registry: the history goes onto the real
/// topics, the command reads it back from the beginning and ranks it.</summary>
public class SlaHostersCommandTests
{
    [Fact]
    public async Task Reads_notices_outcomes_and_sla_events_from_kafka_and_ranks_hosters_worst_first()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync(brokers: 1);
        var start = DateTime.UtcNow.AddDays(-5);
        start = start.AddTicks(-(start.Ticks % TimeSpan.TicksPerSecond)); // whole seconds: Avro carries milliseconds
        var h = new History();
        for (var i = 0; i < 4; i++) h.Case("hoster-fast", $"http://fast.example/{i}", start, TimeSpan.FromMinutes(30 * (i + 1)));
        h.Case("hoster-slow", "http://slow.example/1", start, TimeSpan.FromHours(30));
        h.Breached(h.Case("hoster-slow", "http://slow.example/2", start, null));
        h.Case("hoster-slow", "http://slow.example/3", start, TimeSpan.FromHours(2));
        h.Case("hoster-old", "http://old.example/1", start.AddDays(-60), TimeSpan.FromHours(1)); // outside --since 30d

        var kafka = new KafkaOptions { BootstrapServers = runtime.BootstrapServers, SchemaRegistryUrl = runtime.SchemaRegistryUrl };
        using (var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl }))
        using (var publisher = new EventPublisher(Options.Create(kafka), new AvroSerdes(registry, autoRegisterSchemas: false), "sla-test"))
        {
            foreach (var n in h.Notices) await publisher.PublishAsync(Topics.NoticesIssued, n.caseKey, n);
            foreach (var n in h.Notices) await publisher.PublishAsync(Topics.NoticesIssued, n.caseKey, n); // a replay
            foreach (var o in h.Outcomes) await publisher.PublishAsync(Topics.NoticeOutcomes, o.caseKey, o);
            foreach (var e in h.Events) await publisher.PublishAsync(Topics.SlaEvents, e.caseKey, e);
        }

        var output = new StringWriter();
        var code = await SlaCommand.HostersAsync(new SlaCommand.HostersSettings(runtime.BootstrapServers, runtime.SchemaRegistryUrl, Since: "30d", RepeatBreaches: 3, Top: null, Json: true), output, CancellationToken.None);
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output.ToString());
        var hosters = doc.RootElement.GetProperty("hosters").EnumerateArray().ToList();
        Assert.Equal(["hoster-slow", "hoster-fast"], hosters.Select(x => x.GetProperty("hoster").GetString()));

        var slow = hosters[0];
        Assert.Equal(3, slow.GetProperty("notices").GetInt32());
        Assert.Equal(2, slow.GetProperty("removed").GetInt32());
        Assert.Equal(1, slow.GetProperty("removedWithinNorm").GetInt32());
        Assert.Equal(1.0 / 3, slow.GetProperty("shareWithinNorm").GetDouble(), 9);
        Assert.Equal(2 * 3600, slow.GetProperty("medianTimeToRemovalSeconds").GetDouble());
        Assert.Equal(30 * 3600, slow.GetProperty("p90TimeToRemovalSeconds").GetDouble());
        Assert.Equal(1, slow.GetProperty("openNow").GetInt32());
        Assert.Equal(1, slow.GetProperty("overdueNow").GetInt32());
        Assert.Equal(2, slow.GetProperty("breaches").GetInt32());
        Assert.False(slow.GetProperty("repeatOffender").GetBoolean());

        var fast = hosters[1];
        Assert.Equal(4, fast.GetProperty("notices").GetInt32());
        Assert.Equal(1.0, fast.GetProperty("shareWithinNorm").GetDouble());
        Assert.Equal(60 * 60, fast.GetProperty("medianTimeToRemovalSeconds").GetDouble()); // 30, 60, 90, 120 min: 2nd
        Assert.Equal(120 * 60, fast.GetProperty("p90TimeToRemovalSeconds").GetDouble());

        var table = new StringWriter();
        await SlaCommand.HostersAsync(new SlaCommand.HostersSettings(runtime.BootstrapServers, runtime.SchemaRegistryUrl, Since: "90d", RepeatBreaches: 3, Top: null, Json: false), table, CancellationToken.None);
        var lines = table.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length); // title, header, three hosters (hoster-old is inside 90 days)
        Assert.StartsWith("  1  hoster-slow (hoster-slow B.V.)", lines[2], StringComparison.Ordinal);
        Assert.Contains(" 1d06h00m ", lines[2], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("30d", 30 * 24 * 60)]
    [InlineData("12h", 12 * 60)]
    [InlineData("90m", 90)]
    [InlineData("7.00:00:00", 7 * 24 * 60)]
    public void Since_accepts_days_hours_minutes_and_timespans(string text, int minutes) =>
        Assert.Equal(TimeSpan.FromMinutes(minutes), SlaCommand.Window(text));

    [Theory]
    [InlineData("30")]
    [InlineData("-3d")]
    [InlineData("soon")]
    public void A_bad_window_names_the_fix(string text) =>
        Assert.Contains("Fix: e.g. --since 30d", Assert.Throws<ArgumentException>(() => SlaCommand.Window(text)).Message, StringComparison.Ordinal);
}
