using System.Text;
using Confluent.Kafka;

namespace Pipeline.Platform.Tests;

/// <summary>Which <c>traceparent</c> headers a stage carries on (W3C version 00, checked on the bytes) and which it drops,
/// starting a new trace instead.</summary>
public sealed class TraceParentValidationTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string SpanId = "00f067aa0ba902b7";

    [Theory]
    [InlineData("00-" + TraceId + "-" + SpanId + "-01")]
    [InlineData("00-" + TraceId + "-" + SpanId + "-00")] // not sampled: flags may be zero
    [InlineData("00-0000000000000000000000000000000f-000000000000000a-01")] // one non-zero digit is enough
    public void A_valid_traceparent_is_carried_on(string value)
    {
        var trace = TraceHeaders.From(new Headers { { PipelineTracing.TraceParentHeader, Encoding.ASCII.GetBytes(value) } });
        Assert.NotNull(trace);
        Assert.Equal(value, Encoding.ASCII.GetString(trace.Value.Parent));
    }

    [Theory]
    [InlineData("00-" + "4BF92F3577B34DA6A3CE929D0E0E4736" + "-" + SpanId + "-01")] // upper case
    [InlineData("00-00000000000000000000000000000000-" + SpanId + "-01")] // all-zero trace id
    [InlineData("00-" + TraceId + "-0000000000000000-01")] // all-zero span id
    [InlineData("00-" + "4bf92f3577b34da6a3ce929d0e0e473g" + "-" + SpanId + "-01")] // not hex
    [InlineData("00-" + TraceId + "-" + SpanId + "-0x")] // flags not hex
    [InlineData("01-" + TraceId + "-" + SpanId + "-01")] // another version
    [InlineData("00-" + TraceId + "-" + SpanId + "-011")] // too long
    [InlineData("00-" + TraceId + "_" + SpanId + "-01")] // wrong separator
    [InlineData("")]
    public void An_invalid_traceparent_is_dropped(string value) =>
        Assert.Null(TraceHeaders.From(new Headers { { PipelineTracing.TraceParentHeader, Encoding.ASCII.GetBytes(value) } }));
}
