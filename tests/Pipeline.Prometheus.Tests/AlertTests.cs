using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Pipeline.IntegrationTests.Infrastructure;
using Pipeline.Loopback;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.TestSupport;
using Prometheus;
using Xunit.Abstractions;

namespace Pipeline.Prometheus.Tests;

/// <summary>
/// A real Prometheus (Debian's package) scrapes a running pipeline — intake, routing and sla as their own processes on the
/// embedded cluster, and this process, which runs the embedded cluster and serves its broker health — and evaluates
/// the repository's alert rules. The test breaks things the way production breaks and reads Prometheus's own
/// /api/v1/alerts: the right alert fires, with the right labels, and clears once the fault is gone.
/// </summary>
public sealed class AlertTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Fire = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Clear = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task Alerts_fire_for_stopped_stages_bad_input_an_overdue_notice_a_registry_outage_and_a_broker_down_and_clear_when_fixed()
    {
        var total = Stopwatch.StartNew();
        await using var runtime = await EmbeddedRuntime.StartAsync(3, TimeSpan.FromSeconds(1));
        await using var gate = await RegistryGate.StartAsync(runtime.SchemaRegistryUrl);
        await using var exporter = await MetricsOfThisProcessAsync();
        await using var web = await HosterWeb.StartAsync();
        var config = TestWorld.WriteConfig(web);
        // Port 0 at first start: each service binds a free port itself (a port picked here could be taken by another
        // process before the service binds it); a restart then reuses the port it got, so it is the same target.
        var ports = new Dictionary<string, int> { ["intake"] = 0, ["routing"] = 0, ["sla"] = 0 };
        var services = new Dictionary<string, ServiceProcess>();
        async Task<ServiceProcess> StartAsync(string job)
        {
            if (services.Remove(job, out var previous)) await previous.DisposeAsync(); // killed or exited already
            return services[job] = Launch(job);
        }
        ServiceProcess Launch(string job) => ServiceProcess.Start("Pipeline." + CultureInfo.InvariantCulture.TextInfo.ToTitleCase(job), new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{ports[job]}",
            ["Kafka__BootstrapServers"] = runtime.BootstrapServers,
            ["Kafka__SchemaRegistryUrl"] = gate.Url,
            ["Kafka__SessionTimeoutMs"] = "3000",
            ["Kafka__StatisticsIntervalMs"] = "1000",
            ["Processing__MaxBackoffMs"] = "500",
            ["Audit__TokenKey"] = EmbeddedRuntime.DevelopmentTokenKey,
        }, config);
        try
        {
            foreach (var job in ports.Keys) await StartAsync(job);
            await Task.WhenAll(services.Values.Select(s => s.WaitReadyAsync(TimeSpan.FromSeconds(60))));
            foreach (var (job, service) in services) ports[job] = new Uri(service.BaseUrl!).Port;
            var targets = ports.ToDictionary(p => p.Key, p => $"127.0.0.1:{p.Value}");
            targets["embedded"] = exporter.Urls.First()["http://".Length..];
            await using var prometheus = await PrometheusServer.StartAsync(targets, TimeSpan.FromSeconds(20));
            using var clients = PipelineClients.For(runtime, "prometheus-test");
            using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = runtime.BootstrapServers, LingerMs = 0 }).Build();

            // Healthy: every target scraped, the rules loaded, nothing firing.
            await prometheus.UntilAsync("all four targets up", async () => (await prometheus.QueryAsync("up")).Count(u => u.Value == 1) == 4, Fire);
            await prometheus.UntilAsync("intake's broker health and input end offsets exported", async () =>
                (await prometheus.QueryAsync("pipeline_embedded_broker_up")).Count(b => b.Value == 1) == 3
                && (await prometheus.QueryAsync($"pipeline_processor_input_end_offset{{stage=\"intake\",topic=\"{Topics.ReportsSubmitted}\"}}")).Count == 1, Fire);
            Assert.DoesNotContain(await prometheus.AlertsAsync(), a => a.Firing);
            Assert.Equal(3, (await prometheus.QueryAsync("process_start_time_seconds{job=~\"intake|routing|sla\"}")).Count); // PipelineServiceRestarting's input

            // Fault 1: routing's process is gone, a flood of bytes that are not Avro reaches intake, and a hoster lets a
            // notice's deadline pass (issued an hour ago with a minute to act; the SLA clock is the wall clock here).
            services["routing"].Kill();
            var notice = Services.Tests.Fixtures.Notice(DateTime.UtcNow.AddHours(-1), $"http://www.hoster-a.example/{Guid.NewGuid():N}.jpg", TimeSpan.FromMinutes(1));
            await clients.Publisher.PublishAsync(Topics.NoticesIssued, notice.caseKey, notice);
            for (var i = 0; i < 25; i++)
                producer.Produce(Topics.ReportsSubmitted, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes($"junk-{i}"), Value = Encoding.UTF8.GetBytes($"{{\"not\":\"avro\",\"n\":{i}}}") });
            producer.Flush(TimeSpan.FromSeconds(10));
            await FiringAsync(prometheus, "PipelineServiceDown", ("job", "routing"));
            await FiringAsync(prometheus, "PipelineDeadLettersGrowing", ("stage", "intake"), ("reason", "undeserialisable"));
            await FiringAsync(prometheus, "SlaNoticesOverdue");
            await FiringAsync(prometheus, "SlaDeadlineBreached");
            Assert.DoesNotContain(await prometheus.AlertsAsync(), a => a.Name == "PipelineServiceDown" && !a.Has("job", "routing"));
            await prometheus.UntilAsync("all 25 dead letters counted", async () =>
                (await prometheus.QueryAsync("sum(pipeline_processor_deadlettered_total{stage=\"intake\",reason=\"undeserialisable\"})")).Any(r => r.Value == 25), Fire);

            // Fixed: routing is back on its address; the dead letters stopped coming; the material was removed.
            await clients.Publisher.PublishAsync(Topics.ContentStatus, notice.caseKey, Services.Tests.Fixtures.Removal(notice, DateTime.UtcNow, DateTime.UtcNow.AddMinutes(-1)));
            await (await StartAsync("routing")).WaitReadyAsync(TimeSpan.FromSeconds(60));
            await ClearedAsync(prometheus, "PipelineServiceDown");
            await ClearedAsync(prometheus, "PipelineDeadLettersGrowing");
            await ClearedAsync(prometheus, "SlaNoticesOverdue");
            await ClearedAsync(prometheus, "SlaDeadlineBreached");

            // Fault 2: the Schema Registry answers 503 while intake meets a message whose schema it has not cached (an id
            // the registry does not know), and reports keep arriving behind it: intake waits instead of dead-lettering.
            gate.Close();
            byte[] unknownSchema = [0, 0x00, 0x01, 0x86, 0x9F, 2, 4, 6]; // magic byte 0, schema id 99999, some Avro bytes
            var partitions = TopicCatalog.Get(Topics.ReportsSubmitted).Partitions;
            for (var p = 0; p < partitions; p++) // whichever partition intake reads first, it stops there
                producer.Produce(new TopicPartition(Topics.ReportsSubmitted, p), new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes("unknown-schema"), Value = unknownSchema });
            producer.Flush(TimeSpan.FromSeconds(10));
            var arriving = partitions;
            using (var stop = new CancellationTokenSource())
            {
                var trickle = Task.Run(async () =>
                {
                    using var offered = OfferedLoad.Every(TimeSpan.FromMilliseconds(300)); // a steady trickle of input
                    while (!stop.IsCancellationRequested)
                    {
                        await offered.NextAsync(CancellationToken.None);
                        producer.Produce(Topics.ReportsSubmitted, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes("waiting"), Value = Encoding.UTF8.GetBytes("{}") });
                        Interlocked.Increment(ref arriving);
                    }
                });
                await FiringAsync(prometheus, "SchemaRegistryUnreachable", ("job", "intake"));
                await FiringAsync(prometheus, "PipelineStageStalled", ("stage", "intake"), ("topic", Topics.ReportsSubmitted));
                // The audit stage (in the sla service) reads reports.submitted.v1 too, and waits on the same message.
                await FiringAsync(prometheus, "PipelineStageStalled", ("stage", "audit"), ("topic", Topics.ReportsSubmitted));
                Assert.DoesNotContain(await prometheus.AlertsAsync(), a => a.Name == "PipelineStageStalled" && !a.Has("stage", "intake") && !a.Has("stage", "audit"));
                await stop.CancelAsync();
                await trickle;
            }
            producer.Flush(TimeSpan.FromSeconds(10));

            // Fixed: the registry answers again; intake learns the id is unknown (a dead letter, not a wait) and catches up.
            gate.Open();
            await ClearedAsync(prometheus, "SchemaRegistryUnreachable");
            await ClearedAsync(prometheus, "PipelineStageStalled");
            var expected = 25 + arriving;
            await prometheus.UntilAsync($"intake finished all {expected} messages", async () =>
                (await prometheus.QueryAsync($"sum(pipeline_processor_consumed_total{{stage=\"intake\",topic=\"{Topics.ReportsSubmitted}\"}})")).Any(r => r.Value == expected), Fire);

            // Fault 3: routing cannot serialise an output (its dead-letter schema is not registered): the stage stops, and
            // with it the process (the host stops when a stage fails).
            gate.Hide(Topics.DeadLetter("routing"));
            producer.Produce(Topics.ReportsClassified, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes("stops-routing"), Value = Encoding.UTF8.GetBytes("not avro") });
            producer.Flush(TimeSpan.FromSeconds(10));
            await prometheus.UntilAsync("routing's process exited after its stage failed", () => Task.FromResult(services["routing"].HasExited), Fire);
            Assert.Contains("could not be serialised", services["routing"].Log, StringComparison.Ordinal);
            await FiringAsync(prometheus, "PipelineServiceDown", ("job", "routing"));

            // Fixed: the schema is registered (visible) again and routing restarted: it re-reads the message it stopped on
            // (its offset was not committed) and dead-letters it this time.
            gate.Hide(null);
            await (await StartAsync("routing")).WaitReadyAsync(TimeSpan.FromSeconds(60));
            await ClearedAsync(prometheus, "PipelineServiceDown");
            await prometheus.UntilAsync("routing dead-lettered the message it had stopped on", async () =>
                (await prometheus.QueryAsync("sum(pipeline_processor_deadlettered_total{stage=\"routing\"})")).Any(r => r.Value == 1), Fire);

            // Fault 4 (last: clients reconnect to a broker that was down at their own pace): a broker of the embedded
            // cluster stops answering.
            runtime.Cluster.SetBrokerDown(2);
            await FiringAsync(prometheus, "EmbeddedClusterUnhealthy", ("job", "embedded"), ("broker", "2"));
            Assert.DoesNotContain(await prometheus.AlertsAsync(), a => a.Name == "EmbeddedClusterUnhealthy" && !a.Has("broker", "2"));
            runtime.Cluster.SetBrokerUp(2);
            await ClearedAsync(prometheus, "EmbeddedClusterUnhealthy");
            output.WriteLine($"{total.Elapsed.TotalSeconds,6:0.0} s  done (a timing, not an assertion)");
        }
        catch
        {
            foreach (var (job, service) in services)
                output.WriteLine($"── {job} ──\n{string.Join('\n', service.Log.Split('\n').Where(l => !l.Contains("not Confluent-framed", StringComparison.Ordinal)).TakeLast(60))}");
            throw;
        }
        finally
        {
            await Task.WhenAll(services.Values.Select(s => s.DisposeAsync().AsTask()));
            File.Delete(config);
        }
    }

    private readonly Stopwatch clock = Stopwatch.StartNew();

    private async Task FiringAsync(PrometheusServer prometheus, string alert, params (string Label, string Value)[] labels)
    {
        await prometheus.UntilAsync($"{alert} {{{string.Join(", ", labels.Select(l => $"{l.Label}={l.Value}"))}}} firing", async () =>
            (await prometheus.AlertsAsync()).Any(a => a.Name == alert && a.Firing && labels.All(l => a.Has(l.Label, l.Value))), Fire);
        output.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.0} s  {alert} firing");
    }

    private async Task ClearedAsync(PrometheusServer prometheus, string alert)
    {
        await prometheus.UntilAsync($"{alert} cleared (neither pending nor firing)", async () =>
            (await prometheus.AlertsAsync()).All(a => a.Name != alert), Clear);
        output.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.0} s  {alert} cleared");
    }

    /// <summary>/metrics of this test process: the embedded runtime's broker health lives here, as in `pipeline demo`.</summary>
    private static async Task<WebApplication> MetricsOfThisProcessAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapMetrics("/metrics");
        await app.StartAsync();
        return app;
    }
}
