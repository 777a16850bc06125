using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

public sealed partial class HealthAndMetricsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Health_endpoints_follow_the_stage_and_metrics_count_what_it_did()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("geolocation");
        var processor = new GatedProcessor();
        var app = h.BuildHost(stage, processor, new Dictionary<string, string?> { ["Kafka:StatisticsIntervalMs"] = "300" });
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(BoundUrl(app)), Timeout = TimeSpan.FromSeconds(10) };

        // Warming up: alive, not ready.
        var live = await http.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        var ready = await http.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal("Unhealthy", await ready.Content.ReadAsStringAsync());

        processor.Release();
        await Harness.Eventually(async () => (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, Timeout,
            () => "/health/ready never became 200 after the stage joined");
        Assert.Equal("Healthy", await http.GetStringAsync("/health/ready"));

        await h.PublishAsync(Harness.Submitted("metrics", 7));
        await h.PublishRawAsync(Topics.ReportsSubmitted, Encoding.UTF8.GetBytes("k1"), [1, 2, 3], partition: 0);
        await h.PublishRawAsync(Topics.ReportsSubmitted, Encoding.UTF8.GetBytes("k2"), null, partition: 1);
        await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadAtLeastAsync(7, Timeout);
        await h.Reader<DeadLetter>(Topics.DeadLetter(stage)).ReadAtLeastAsync(2, Timeout);

        var consumed = $"pipeline_processor_consumed_total{{stage=\"{stage}\",topic=\"{Topics.ReportsSubmitted}\"}}";
        var metrics = "";
        await Harness.Eventually(async () =>
        {
            metrics = await http.GetStringAsync("/metrics");
            return Value(metrics, consumed) == 9 && metrics.Contains($"pipeline_consumer_lag_messages{{group=\"{stage}\"", StringComparison.Ordinal);
        }, Timeout, () => $"/metrics: {consumed} = {Value(metrics, consumed)}, lag present: {metrics.Contains($"group=\"{stage}\"", StringComparison.Ordinal)}");

        Assert.Equal(2, Value(metrics, $"pipeline_processor_deadlettered_total{{stage=\"{stage}\",reason=\"undeserialisable\"}}"));
        Assert.Equal(9, Value(metrics, $"pipeline_processor_processing_seconds_count{{stage=\"{stage}\"}}"));
        Assert.Equal(9, Value(metrics, $"pipeline_processor_produced_total{{stage=\"{stage}\",topic=\"{Topics.ReportsAccepted}\"}}")
            + Value(metrics, $"pipeline_processor_produced_total{{stage=\"{stage}\",topic=\"{Topics.DeadLetter(stage)}\"}}"));
        Assert.Equal(1, Value(metrics, $"pipeline_processor_up{{stage=\"{stage}\"}}"));
        Assert.Equal(6, Value(metrics, $"pipeline_processor_assigned_partitions{{stage=\"{stage}\"}}"));
        await Harness.Eventually(async () =>
        {
            metrics = await http.GetStringAsync("/metrics");
            var lag = LagLines(metrics, stage); // partitions without a committed offset report no lag (librdkafka says -1)
            return lag.Count >= 2 && lag.All(v => v == 0);
        }, Timeout, () => "lag per partition: " + string.Join(", ", LagLines(metrics, stage)));

        // Measured beside the consume loop: the 9 messages written to the input, whether the loop reads them or not.
        var endOffset = $"pipeline_processor_input_end_offset{{stage=\"{stage}\",topic=\"{Topics.ReportsSubmitted}\"}}";
        await Harness.Eventually(async () => Value(metrics = await http.GetStringAsync("/metrics"), endOffset) == 9, Timeout,
            () => $"{endOffset} = {Value(metrics, endOffset)}");
        // Reasons that never happened are published at 0, so the first dead letter of a kind is an increase.
        Assert.Equal(0, Value(metrics, $"pipeline_processor_deadlettered_total{{stage=\"{stage}\",reason=\"processing_failed\"}}"));
        Assert.Equal(0, Value(metrics, $"pipeline_processor_delivery_failures_total{{stage=\"{stage}\"}}"));

        await app.StopAsync();
        Assert.Equal(0, ProcessorMetrics.Up.WithLabels(stage).Value);
    }

    private static string BoundUrl(WebApplication app)
    {
        var url = Assert.Single(app.Urls);
        Assert.StartsWith("http://127.0.0.1:", url, StringComparison.Ordinal);
        Assert.DoesNotContain(":0", url[^2..], StringComparison.Ordinal);
        return url;
    }

    private static double Value(string metrics, string series)
    {
        foreach (var line in metrics.Split('\n'))
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
                return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
        return double.NaN;
    }

    private static List<double> LagLines(string metrics, string stage) =>
        LagRegex().Matches(metrics).Where(m => m.Groups["group"].Value == stage && m.Groups["topic"].Value == Topics.ReportsSubmitted)
            .Select(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture)).ToList();

    [GeneratedRegex("^pipeline_consumer_lag_messages\\{group=\"(?<group>[^\"]+)\",topic=\"(?<topic>[^\"]+)\",partition=\"\\d+\"\\} (?<value>\\S+)$", RegexOptions.Multiline)]
    private static partial Regex LagRegex();
}

/// <summary>Accepts reports, but its warm-up waits until the test releases it.</summary>
internal sealed class GatedProcessor : AcceptingProcessor, IWarmUp
{
    private readonly TaskCompletionSource gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => gate.TrySetResult();

    public Task WarmUpAsync(CancellationToken cancellationToken) => gate.Task.WaitAsync(cancellationToken);
}
