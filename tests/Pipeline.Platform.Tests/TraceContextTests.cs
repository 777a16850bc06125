using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

/// <summary>W3C trace context across stages, through real processor hosts on the embedded cluster. One class, so its tests
/// run one after another: an ActivityListener is process-wide, and the no-listener tests must see none.</summary>
public sealed class TraceContextTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private const string Incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    [Fact]
    public async Task Without_a_listener_a_traceparent_goes_through_two_chained_stages_unchanged_and_a_record_without_one_starts_a_new_trace()
    {
        await using var h = await Harness.StartAsync();
        var (traced, untraced, accepted, outputs) = await ThroughChainAsync(h, h.NewStage("chain-a"), h.NewStage("chain-b"));
        Assert.False(PipelineTracing.Source.HasListeners());
        // Nothing records spans: each stage forwards the context it read, so the chain is never broken.
        Assert.Equal(Incoming, TraceParent(Of(accepted, traced)));
        Assert.Equal(Incoming, TraceParent(Of(outputs, traced)));
        // No context in: the first stage starts a trace (sampled, so that a stage further on that exports records the
        // rest of it), and the second stage goes on with it.
        var started = TraceParent(Of(accepted, untraced));
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-01$", started);
        Assert.NotEqual(Incoming[3..35], started[3..35]);
        Assert.Equal(started, TraceParent(Of(outputs, untraced)));
    }

    [Fact]
    public async Task A_record_published_under_a_current_activity_such_as_an_http_request_s_carries_its_trace()
    {
        await using var h = await Harness.StartAsync();
        using var request = new Activity("POST /v1/reports").SetIdFormat(ActivityIdFormat.W3C).Start();
        var report = Harness.Submitted("http");
        await h.PublishAsync([report]);
        request.Stop();
        var records = await h.Reader<ReportSubmitted>(Topics.ReportsSubmitted).ReadAtLeastAsync(1, Timeout);
        Assert.Equal(request.Id, TraceParent(records.Single()));
    }

    [Fact]
    public async Task With_the_sdk_the_spans_of_one_report_across_two_stages_form_one_trace_and_each_output_carries_its_stage_s_span()
    {
        await using var h = await Harness.StartAsync();
        var stageA = h.NewStage("trace-a");
        var stageB = h.NewStage("trace-b");
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(PipelineTracing.SourceName)
            .SetSampler(new OnlyStages(stageA, stageB))
            .AddInMemoryExporter(spans)
            .Build();
        var (traced, untraced, accepted, outputs) = await ThroughChainAsync(h, stageA, stageB);
        await Harness.Eventually(() => Snapshot(spans).Count >= 4, Timeout, () => $"{Snapshot(spans).Count} spans ended");

        var ended = Snapshot(spans);
        var traceId = Incoming[3..35];
        var a = ended.Single(s => s.DisplayName == $"{stageA} process {Topics.ReportsSubmitted}" && s.TraceId.ToHexString() == traceId);
        var b = ended.Single(s => s.DisplayName == $"{stageB} process {Topics.ReportsAccepted}" && s.TraceId.ToHexString() == traceId);
        // One trace: the record's context → stage A's span → stage B's span.
        Assert.Equal(Incoming[36..52], a.ParentSpanId.ToHexString());
        Assert.Equal(a.SpanId, b.ParentSpanId);
        Assert.Equal(ActivityKind.Consumer, a.Kind);
        // Each output carries the span of the stage that wrote it: same trace, a new parent span at each hop.
        Assert.Equal($"00-{traceId}-{a.SpanId.ToHexString()}-01", TraceParent(Of(accepted, traced)));
        Assert.Equal($"00-{traceId}-{b.SpanId.ToHexString()}-01", TraceParent(Of(outputs, traced)));
        // Messaging conventions, and nothing of the report (its URL, host or hashes) in a tag.
        Assert.Equal("kafka", a.GetTagItem("messaging.system"));
        Assert.Equal(Topics.ReportsSubmitted, a.GetTagItem("messaging.destination.name"));
        Assert.Equal(stageA, a.GetTagItem("messaging.consumer.group.name"));
        Assert.NotNull(a.GetTagItem("messaging.destination.partition.id"));
        Assert.IsType<long>(a.GetTagItem("messaging.kafka.offset"));
        foreach (var span in ended)
            Assert.All(span.TagObjects, t => Assert.DoesNotContain(".example", t.Value?.ToString() ?? "", StringComparison.Ordinal));

        // Without a context the first stage's span is a root, and the second stage's span is its child.
        var rootA = ended.Single(s => s.DisplayName.StartsWith(stageA, StringComparison.Ordinal) && s.TraceId.ToHexString() == TraceParent(Of(accepted, untraced))[3..35]);
        Assert.Equal(default, rootA.ParentSpanId);
        var childB = ended.Single(s => s.DisplayName.StartsWith(stageB, StringComparison.Ordinal) && s.TraceId == rootA.TraceId);
        Assert.Equal(rootA.SpanId, childB.ParentSpanId);
    }

    [Fact]
    public async Task A_timer_s_output_continues_the_trace_of_the_record_that_wrote_its_entry_with_the_context_restored_from_the_changelog()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("trace-timer");
        var (stateTopic, firedTopic) = StateAndOutputTopics(h);

        // First life, nothing listening: the entry is written with the record's context (forwarded unchanged); its timer
        // is not armed yet.
        var first = new TimedProcessor(new PartitionedState<ReportSubmitted>(stateTopic, h.Kafka, h.Serdes, NullLogger.Instance), firedTopic, armed: false);
        var app = h.BuildHost(stage, first);
        await app.StartAsync();
        var report = Harness.Submitted("timed");
        await PublishAsync(h, report, Incoming);
        var changelog = await h.Reader<ReportSubmitted>(stateTopic, TopicCatalog.Get(Topics.ReportsSubmitted).Partitions).ReadAtLeastAsync(1, Timeout);
        Assert.Equal(Incoming, TraceParent(changelog.Single()));
        await app.StopAsync();

        // Second life, with the SDK: the entry is restored from the changelog, its timer fires, and the timer's span is a
        // child of the context the entry was written with; its output carries the timer's span.
        var spans = new List<Activity>();
        using (var tracing = Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.SourceName).SetSampler(new OnlyStages(stage)).AddInMemoryExporter(spans).Build())
        {
            var second = new TimedProcessor(new PartitionedState<ReportSubmitted>(stateTopic, h.Kafka, h.Serdes, NullLogger.Instance), firedTopic, armed: true);
            var restarted = h.BuildHost(stage, second);
            await restarted.StartAsync();
            var fired = await h.Reader<ReportAccepted>(firedTopic).ReadAtLeastAsync(1, Timeout);
            await Harness.Eventually(() => Snapshot(spans).Any(s => s.DisplayName == $"{stage} timer {stateTopic}"), Timeout, () => "no timer span ended");
            var timer = Snapshot(spans).Single(s => s.DisplayName == $"{stage} timer {stateTopic}");
            Assert.Equal(Incoming[3..35], timer.TraceId.ToHexString());
            Assert.Equal(Incoming[36..52], timer.ParentSpanId.ToHexString());
            Assert.Equal($"00-{Incoming[3..35]}-{timer.SpanId.ToHexString()}-01", TraceParent(fired.Single()));
            Assert.StartsWith("timer:", Harness.Header(fired.Single().Headers, "pipeline.origin"), StringComparison.Ordinal);
            await restarted.StopAsync();
        }
    }

    [Fact]
    public async Task An_effect_s_outcome_carries_the_trace_of_the_call_that_started_it()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("trace-effect");
        var (stateTopic, firedTopic) = StateAndOutputTopics(h);
        var app = h.BuildHost(stage, new EffectStarter(new PartitionedState<ReportSubmitted>(stateTopic, h.Kafka, h.Serdes, NullLogger.Instance), firedTopic));
        await app.StartAsync();
        await PublishAsync(h, Harness.Submitted("effect"), Incoming);

        var outcome = (await h.Reader<ReportAccepted>(firedTopic).ReadAtLeastAsync(1, Timeout)).Single();
        Assert.StartsWith("effect:", Harness.Header(outcome.Headers, "pipeline.origin"), StringComparison.Ordinal);
        Assert.Equal(Incoming, TraceParent(outcome)); // nothing listens: the record's context, carried through the work
    }

    [Fact]
    public async Task An_http_request_a_stage_sends_while_its_span_is_current_carries_no_trace_context()
    {
        var headers = new ConcurrentQueue<string>();
        await using var server = await StartServerAsync("/check", request =>
        {
            if (request.Headers.TryGetValue("traceparent", out var v)) headers.Enqueue(v.ToString());
            return Results.Ok();
        });
        PipelineTelemetry.Add(new Microsoft.Extensions.DependencyInjection.ServiceCollection());
        using var span = new Activity("stage process topic").SetIdFormat(ActivityIdFormat.W3C).Start();
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(new Uri(server.Urls.Single()), "/check"));
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(headers);
    }

    [Fact]
    public async Task Spans_are_exported_over_otlp_http_only_when_an_endpoint_is_configured()
    {
        var posts = new ConcurrentQueue<(string Path, string? ContentType, byte[] Body)>();
        await using var collector = await StartCollectorAsync(posts);
        var endpoint = collector.Urls.Single();
        await using var h = await Harness.StartAsync();

        // Not configured: nothing listens to the platform's source, so no span is made and nothing is sent.
        var quiet = h.NewStage("otlp-off");
        var off = h.BuildHost(quiet, new AcceptingProcessor());
        await off.StartAsync();
        await PublishAsync(h, Harness.Submitted("quiet"), Incoming);
        var accepted = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        await accepted.ReadAtLeastAsync(1, Timeout);
        Assert.False(PipelineTracing.Source.HasListeners());
        await off.StopAsync();
        Assert.Empty(posts);

        // Configured: the stage's span reaches the collector as OTLP protobuf on /v1/traces, with the record's trace id
        // and the configured service name.
        var loud = h.NewStage("otlp-on");
        var on = h.BuildHost(loud, new AcceptingProcessor(), new Dictionary<string, string?>
        {
            ["Telemetry:OtlpEndpoint"] = endpoint,
            ["Telemetry:ServiceName"] = "pipeline-trace-test",
        });
        await on.StartAsync();
        const string exported = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        await PublishAsync(h, Harness.Submitted("loud"), exported);
        await accepted.ReadAtLeastAsync(2, Timeout);
        await on.StopAsync(); // the batch processor flushes on shutdown at the latest

        await Harness.Eventually(() => posts.Any(p => Contains(p.Body, Encoding.UTF8.GetBytes($"{loud} process {Topics.ReportsSubmitted}"))), Timeout, () => $"{posts.Count} OTLP posts, none with the span");
        var post = posts.First(p => Contains(p.Body, Encoding.UTF8.GetBytes($"{loud} process {Topics.ReportsSubmitted}")));
        Assert.Equal("/v1/traces", post.Path);
        Assert.Equal("application/x-protobuf", post.ContentType);
        Assert.True(Contains(post.Body, Convert.FromHexString(exported[3..35])), "the exported span carries the record's trace id");
        Assert.True(Contains(post.Body, "pipeline-trace-test"u8.ToArray()), "the resource carries Telemetry:ServiceName");
        Assert.False(Contains(post.Body, Encoding.UTF8.GetBytes($"{quiet} process")), "the stage without an endpoint made no span");
    }

    // ---- helpers ----

    /// <summary>Two chained stages (A: submitted → accepted, B: accepted → a topic of the test's own), and two reports
    /// through them: one with <see cref="Incoming"/> as its traceparent, one without. Returns both topics' records.</summary>
    private static async Task<(ReportSubmitted Traced, ReportSubmitted Untraced, List<OutputReader<ReportAccepted>.Record> Accepted, List<OutputReader<ReportAccepted>.Record> Outputs)>
        ThroughChainAsync(Harness h, string stageA, string stageB)
    {
        var output = NewTopic<ReportAccepted>(h, "test.chained", 3);
        await h.BuildHost(stageA, new AcceptingProcessor()).StartAsync();
        await h.BuildHost(stageB, new Forwarder(output), s => s.Consumes<ReportAccepted>(Topics.ReportsAccepted)).StartAsync();
        var traced = Harness.Submitted("traced");
        var untraced = Harness.Submitted("untraced");
        await PublishAsync(h, traced, Incoming);
        await PublishAsync(h, untraced, traceparent: null);
        var accepted = await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadAtLeastAsync(2, Timeout);
        return (traced, untraced, accepted, await h.Reader<ReportAccepted>(output).ReadAtLeastAsync(2, Timeout));
    }

    private static string NewTopic<T>(Harness h, string prefix, int partitions) where T : Avro.Specific.ISpecificRecord
    {
        var topic = $"{prefix}.{Guid.NewGuid():N}";
        h.Runtime.Cluster.CreateTopic(topic, partitions, replicationFactor: 3);
        h.Runtime.Registry.Register(topic + "-value", Schemas.Of<T>().ToString());
        return topic;
    }

    /// <summary>A state topic co-partitioned with reports.submitted.v1, and a topic for what its timers and effects send.</summary>
    private static (string State, string Output) StateAndOutputTopics(Harness h) =>
        (NewTopic<ReportSubmitted>(h, "test.state", TopicCatalog.Get(Topics.ReportsSubmitted).Partitions), NewTopic<ReportAccepted>(h, "test.fired", 3));

    private static async Task PublishAsync(Harness h, ReportSubmitted report, string? traceparent)
    {
        var headers = new Headers();
        if (traceparent is not null) headers.Add(PipelineTracing.TraceParentHeader, Encoding.ASCII.GetBytes(traceparent));
        await h.RawProducer.ProduceAsync(Topics.ReportsSubmitted, new Message<byte[]?, byte[]?>
        {
            Key = Encoding.UTF8.GetBytes(report.report.reportId),
            Value = h.Serdes.Serialize(report, Topics.ReportsSubmitted),
            Headers = headers,
        });
    }

    private static OutputReader<T>.Record Of<T>(List<OutputReader<T>.Record> records, ReportSubmitted report) where T : class, Avro.Specific.ISpecificRecord =>
        records.Single(r => r.Value is ReportAccepted a && a.report.reportId == report.report.reportId);

    private static string TraceParent<T>(OutputReader<T>.Record record) where T : class, Avro.Specific.ISpecificRecord =>
        Harness.Header(record.Headers, PipelineTracing.TraceParentHeader);

    private static List<Activity> Snapshot(List<Activity> spans)
    {
        lock (spans) return [.. spans];
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    /// <summary>A loopback OTLP/HTTP receiver: keeps every POST's path, content type and body.</summary>
    private static Task<WebApplication> StartCollectorAsync(ConcurrentQueue<(string, string?, byte[])> posts) =>
        StartServerAsync("/v1/traces", async request =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            posts.Enqueue((request.Path.Value ?? "", request.ContentType, body.ToArray()));
            return Results.Ok();
        }, post: true);

    /// <summary>A web server on 127.0.0.1 answering one path.</summary>
    private static async Task<WebApplication> StartServerAsync(string path, Func<HttpRequest, Task<IResult>> handle, bool post = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        if (post) app.MapPost(path, (HttpRequest request) => handle(request));
        else app.MapGet(path, (HttpRequest request) => handle(request));
        await app.StartAsync();
        return app;
    }

    private static Task<WebApplication> StartServerAsync(string path, Func<HttpRequest, IResult> handle) =>
        StartServerAsync(path, request => Task.FromResult(handle(request)));

    /// <summary>Records only the spans of this test's stages: the other tests' stages, running beside it, are left alone.</summary>
    private sealed class OnlyStages(params string[] stages) : Sampler
    {
        public override SamplingResult ShouldSample(in SamplingParameters parameters)
        {
            var name = parameters.Name;
            return new SamplingResult(stages.Any(s => name.StartsWith(s + " ", StringComparison.Ordinal)) ? SamplingDecision.RecordAndSample : SamplingDecision.Drop);
        }
    }

    /// <summary>Sends every accepted report on to a topic of the test's own (the second stage of a chain).</summary>
    private sealed class Forwarder(string topic) : IProcessor<ReportAccepted>
    {
        public ValueTask ProcessAsync(Incoming<ReportAccepted> message, IOutput output, CancellationToken cancellationToken)
        {
            output.Send(topic, message.Value.caseKey, message.Value);
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Starts work for each report as it is read; the work's outcome sends it on and writes its entry.</summary>
    private sealed class EffectStarter(PartitionedState<ReportSubmitted> store, string firedTopic) : IProcessor<ReportSubmitted>, IStateful
    {
        public IEnumerable<IStateStore> Stores => [store];

        public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken)
        {
            var key = message.Value.report.reportId;
            store.StartEffect(output, message.Partition, key, async ct => { await Task.Yield(); return message.Value; }, (value, o) =>
            {
                o.Send(firedTopic, key, Harness.Accept(value));
                store.Put(o, message.Partition, key, value);
            });
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Keeps each report in a store; once armed, its entry is due at once and the timer sends it on and deletes it.</summary>
    private sealed class TimedProcessor : IProcessor<ReportSubmitted>, IStateful
    {
        private readonly PartitionedState<ReportSubmitted> store;

        public TimedProcessor(PartitionedState<ReportSubmitted> store, string firedTopic, bool armed)
        {
            this.store = store;
            store.OnDue(v => armed ? v.submittedAt : null, (timer, output) =>
            {
                output.Send(firedTopic, timer.Key, Harness.Accept(timer.Value));
                store.Delete(output, timer.Partition, timer.Key);
            });
        }

        public IEnumerable<IStateStore> Stores => [store];

        public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken)
        {
            store.Put(output, message.Partition, message.Value.report.reportId, message.Value);
            return ValueTask.CompletedTask;
        }
    }
}
