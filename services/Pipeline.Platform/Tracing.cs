using System.Buffers;
using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Context.Propagation;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Pipeline.Platform;

/// <summary>
/// The W3C trace context of a record (its <c>traceparent</c> and <c>tracestate</c> Kafka headers), kept as the bytes that
/// go on the wire: one value is added to every output of a call without copying, and a state entry keeps the context of
/// the call that wrote it (see <see cref="PipelineTracing"/>).
/// </summary>
public readonly record struct TraceHeaders(byte[] Parent, byte[]? State)
{
    /// <summary>The <c>traceparent</c> value, e.g. <c>00-&lt;trace id&gt;-&lt;span id&gt;-01</c>.</summary>
    public string TraceParent => Encoding.ASCII.GetString(Parent);

    /// <summary>The trace id (32 hex digits).</summary>
    public string TraceId => Encoding.ASCII.GetString(Parent, 3, 32);

    /// <summary>The span id of the parent (16 hex digits).</summary>
    public string SpanId => Encoding.ASCII.GetString(Parent, 36, 16);

    internal void AddTo(Headers headers)
    {
        headers.Add(PipelineTracing.TraceParentHeader, Parent);
        if (State is not null) headers.Add(PipelineTracing.TraceStateHeader, State);
    }

    /// <summary>The context carried by <paramref name="headers"/>, if its <c>traceparent</c> is a valid W3C version-00
    /// value; checked on the bytes, so forwarding it costs nothing but the header.</summary>
    public static TraceHeaders? From(Headers? headers)
    {
        if (headers is null || !headers.TryGetLastBytes(PipelineTracing.TraceParentHeader, out var parent) || !IsValid(parent)) return null;
        var state = headers.TryGetLastBytes(PipelineTracing.TraceStateHeader, out var s) && s is { Length: > 0 and <= MaxTraceStateBytes } ? s : null;
        return new TraceHeaders(parent, state);
    }

    /// <summary>The context of <paramref name="activity"/>, written by the library's W3C propagator.</summary>
    internal static TraceHeaders Of(Activity activity)
    {
        var headers = new byte[]?[2]; // the propagator writes nothing into a null carrier
        PipelineTracing.Propagator.Inject(new PropagationContext(activity.Context, default), headers, static (carrier, name, value) =>
        {
            if (name == PipelineTracing.TraceParentHeader) carrier[0] = Encoding.ASCII.GetBytes(value);
            else if (name == PipelineTracing.TraceStateHeader) carrier[1] = Encoding.ASCII.GetBytes(value);
        });
        return new TraceHeaders(headers[0] ?? throw new InvalidOperationException($"No W3C context for activity {activity.Id}."), headers[1]);
    }

    /// <summary>A new trace (random trace and span ids), for a record that arrives without one while nothing records spans.
    /// Flagged sampled, as the SDK's default sampler (parent-based, always on) would make a root: a stage further on that
    /// exports then records the rest of the report's trace instead of dropping it.</summary>
    public static TraceHeaders NewRoot()
    {
        // Random.Shared, not ActivityTraceId.CreateRandom (which keeps its ids as strings: 144 B more per record); W3C
        // asks ids to be random, not secret. An all-zero id (invalid) is as likely as guessing one: made non-zero anyway.
        Span<byte> ids = stackalloc byte[24];
        Random.Shared.NextBytes(ids);
        ids[15] |= 1;
        ids[23] |= 1;
        var bytes = new byte[55];
        "00-"u8.CopyTo(bytes);
        Hex(ids[..16], bytes.AsSpan(3, 32));
        bytes[35] = (byte)'-';
        Hex(ids[16..], bytes.AsSpan(36, 16));
        "-01"u8.CopyTo(bytes.AsSpan(52));
        return new TraceHeaders(bytes, null);
    }

    /// <summary>The context for the library's propagator to parse (a remote parent).</summary>
    internal ActivityContext Context()
    {
        var self = this;
        return PipelineTracing.Propagator.Extract(default, self, static (t, name) =>
            name == PipelineTracing.TraceParentHeader ? [t.TraceParent]
            : name == PipelineTracing.TraceStateHeader && t.State is not null ? [Encoding.ASCII.GetString(t.State)]
            : null).ActivityContext;
    }

    private const int MaxTraceStateBytes = 512;

    private static void Hex(ReadOnlySpan<byte> from, Span<byte> to)
    {
        for (var i = 0; i < from.Length; i++)
        {
            to[2 * i] = (byte)"0123456789abcdef"[from[i] >> 4];
            to[2 * i + 1] = (byte)"0123456789abcdef"[from[i] & 0xf];
        }
    }

    /// <summary>W3C trace-context version 00: <c>00-</c>32 lower-case hex (not all zero)<c>-</c>16 (not all zero)<c>-</c>2.</summary>
    private static bool IsValid(ReadOnlySpan<byte> v)
    {
        if (v.Length != 55 || v[0] != '0' || v[1] != '0' || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
        return IsHex(v.Slice(3, 32), nonZero: true) && IsHex(v.Slice(36, 16), nonZero: true) && IsHex(v.Slice(53, 2), nonZero: false);
    }

    private static readonly SearchValues<byte> LowerHex = SearchValues.Create("0123456789abcdef"u8);

    /// <summary>Lower-case hex only, and (if <paramref name="nonZero"/>) not all zeros; both checks vectorised: every
    /// consumed record's traceparent passes here (a byte-by-byte loop was 4% of a pass-through stage's thread).</summary>
    private static bool IsHex(ReadOnlySpan<byte> s, bool nonZero) =>
        !s.ContainsAnyExcept(LowerHex) && (!nonZero || s.ContainsAnyExcept((byte)'0'));
}

/// <summary>
/// The platform's spans: one <see cref="ActivitySource"/> ("Pipeline") for every stage. A consumed record's span continues
/// the trace in its headers; a timer's or effect's span continues the trace of the call that wrote the state entry (or
/// started the effect). Every output carries the context of its call's span; when nothing listens (no exporter
/// configured) no span is made and the incoming context goes on unchanged, so the chain is never broken.
/// </summary>
public static class PipelineTracing
{
    public const string SourceName = "Pipeline";
    public const string TraceParentHeader = "traceparent";
    public const string TraceStateHeader = "tracestate";

    internal static readonly ActivitySource Source = new(SourceName, typeof(PipelineTracing).Assembly.GetName().Version?.ToString());

    /// <summary>W3C trace context, from the OpenTelemetry API (not the process-wide default propagator, which is a no-op
    /// until an SDK is configured).</summary>
    internal static readonly TextMapPropagator Propagator = new TraceContextPropagator();

    /// <summary>Starts the span of a processing call, a timer or an effect and gives the context its outputs carry: the
    /// span's when one was made; else <paramref name="parent"/> unchanged; else a new trace.</summary>
    internal static Activity? Start(string name, ActivityKind kind, TraceHeaders? parent, out TraceHeaders outputs)
    {
        if (Source.HasListeners())
        {
            var activity = Source.StartActivity(name, kind, parent is { } p ? p.Context() : default);
            if (activity is not null)
            {
                outputs = TraceHeaders.Of(activity);
                return activity;
            }
        }
        outputs = parent ?? TraceHeaders.NewRoot();
        return null;
    }

    /// <summary>Tags of a consumed record (messaging semantic conventions). Never the key: a case key is a URL.</summary>
    internal static void TagConsumed(Activity activity, string group, ConsumeResult<byte[]?, byte[]?> message)
    {
        if (!activity.IsAllDataRequested) return;
        activity.SetTag("messaging.system", "kafka");
        activity.SetTag("messaging.operation.type", "process");
        activity.SetTag("messaging.destination.name", message.Topic);
        activity.SetTag("messaging.destination.partition.id", message.Partition.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        activity.SetTag("messaging.kafka.offset", message.Offset.Value);
        activity.SetTag("messaging.consumer.group.name", group);
    }

    /// <summary>Marks a failed call: the reason code and the exception's type only (its message may carry a URL).</summary>
    internal static void Failed(Activity? activity, string reason, Exception error)
    {
        if (activity is null) return;
        activity.SetStatus(ActivityStatusCode.Error, reason);
        activity.SetTag("error.type", error.GetType().FullName);
    }

    /// <summary>Starts the span of a record published outside a stage (an HTTP submission, a feed): a producer span, a
    /// child of the current activity (ASP.NET Core's request activity, which carries a caller's traceparent), that starts
    /// the report's trace. <paramref name="headers"/> carry its context, or without a listener the current activity's,
    /// else a new trace's.</summary>
    public static Activity? StartPublish(string client, string topic, out Headers headers)
    {
        var activity = Source.HasListeners() ? Source.StartActivity($"{client} publish {topic}", ActivityKind.Producer) : null;
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "kafka");
            activity.SetTag("messaging.operation.type", "send");
            activity.SetTag("messaging.destination.name", topic);
        }
        headers = [];
        (activity is null ? Current() : TraceHeaders.Of(activity)).AddTo(headers);
        return activity;
    }

    /// <summary>The context for a record published outside a stage (an HTTP submission, a feed): the current activity's
    /// (ASP.NET Core's request span, when there is one), else a new trace.</summary>
    public static TraceHeaders Current() => Activity.Current is { IdFormat: ActivityIdFormat.W3C } a ? TraceHeaders.Of(a) : TraceHeaders.NewRoot();
}

/// <summary>The OpenTelemetry SDK of a service (OpenTelemetry.Extensions.Hosting), set from <see cref="TelemetryOptions"/>:
/// with <c>Telemetry:OtlpEndpoint</c> it listens to the "Pipeline" source and exports over OTLP/HTTP (batched); without,
/// it listens to nothing, so no span is made, and only the trace context in the headers goes on.</summary>
public static class PipelineTelemetry
{
    public static void Add(IServiceCollection services)
    {
        services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.Section)
            .PostConfigure<IHostEnvironment>((o, env) => { if (string.IsNullOrEmpty(o.ServiceName)) o.ServiceName = env.ApplicationName; })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TelemetryOptions>, TelemetryOptionsValidator>());
        // A stage's span is current while it works, and HttpClient would put its traceparent on every request it sends:
        // to a hoster being rechecked, an RDAP server, an abuse desk's webhook. Our trace ids are nobody else's business,
        // so outgoing requests carry none (incoming ones, e.g. a submission's, are still read).
        DistributedContextPropagator.Current = NoOutput;
        if (services.Any(d => d.ServiceType == typeof(Marker))) return;
        services.AddSingleton<Marker>();
        // Deferred: the options (validated) are read when the provider is built at start. AddOtlpExporter cannot be used
        // here (it registers services), so the exporter and its batch processor are made directly.
        services.AddOpenTelemetry().WithTracing(tracing => ((IDeferredTracerProviderBuilder)tracing).Configure((sp, builder) =>
        {
            var options = sp.GetRequiredService<IOptions<TelemetryOptions>>().Value;
            if (options.TracesEndpoint() is not { } endpoint) return;
            builder.SetResourceBuilder(ResourceBuilder.CreateDefault().AddService(options.ServiceName))
                .AddSource(PipelineTracing.SourceName)
                .AddProcessor(new BatchActivityExportProcessor(new OtlpTraceExporter(new OtlpExporterOptions
                {
                    Endpoint = endpoint,
                    Protocol = OtlpExportProtocol.HttpProtobuf,
                })));
        }));
    }

    private static readonly DistributedContextPropagator NoOutput = DistributedContextPropagator.CreateNoOutputPropagator();

    private sealed class Marker;
}
