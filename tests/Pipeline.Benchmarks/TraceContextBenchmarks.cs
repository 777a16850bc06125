using System.Diagnostics;
using System.Text;
using BenchmarkDotNet.Attributes;
using Confluent.Kafka;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Pipeline.Platform;

namespace Pipeline.Benchmarks;

/// <summary>What the trace context adds per consumed record to a stage's hot path: the headers of one output as the host
/// wrote them before (<see cref="Before"/>), and with the record's span and context (<see cref="Traced"/>, a record that
/// carries a traceparent; <see cref="NewTrace"/>, one that does not), without a listener (no exporter configured) and
/// with the SDK listening (every span sampled, no exporter, so the figure is the span itself, not the export).
/// <c>dotnet run -c Release --project tests/Pipeline.Benchmarks -- --filter *TraceContext*</c></summary>
[MemoryDiagnoser]
[ShortRunJob]
public class TraceContextBenchmarks
{
    private static readonly byte[] Stage = Encoding.UTF8.GetBytes("routing");
    private readonly Headers incoming = new() { { PipelineTracing.TraceParentHeader, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"u8.ToArray() } };
    private readonly ConsumeResult<byte[]?, byte[]?> message = new()
    {
        Topic = "reports.classified.v1",
        Partition = 3,
        Offset = 123_456,
        Message = new Message<byte[]?, byte[]?> { Headers = [] },
    };
    private TracerProvider? sdk;

    [Params(false, true)]
    public bool Listening { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        message.Message.Headers = incoming;
        if (Listening) sdk = Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.SourceName).SetSampler(new AlwaysOnSampler()).Build();
    }

    [GlobalCleanup]
    public void Cleanup() => sdk?.Dispose();

    [Benchmark(Baseline = true)]
    public Headers Before() => Origin();

    [Benchmark]
    public Headers Traced() => WithSpan(TraceHeaders.From(message.Message.Headers));

    [Benchmark]
    public Headers NewTrace() => WithSpan(null);

    private Headers WithSpan(TraceHeaders? parent)
    {
        using var activity = PipelineTracing.Start("routing process reports.classified.v1", ActivityKind.Consumer, parent, out var trace);
        if (activity is not null) PipelineTracing.TagConsumed(activity, "routing", message);
        var headers = Origin();
        trace.AddTo(headers);
        return headers;
    }

    private Headers Origin() => new()
    {
        { "pipeline.stage", Stage },
        { "pipeline.origin", Encoding.UTF8.GetBytes($"{message.Topic}:{message.Partition.Value}:{message.Offset.Value}") },
    };
}
