using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Pipeline.Platform.Tests;

public sealed class OptionsValidationTests
{
    private static Dictionary<string, string?> Valid() => new()
    {
        ["Kafka:BootstrapServers"] = "127.0.0.1:9",
        ["Kafka:SchemaRegistryUrl"] = "http://127.0.0.1:9",
        ["Kafka:SessionTimeoutMs"] = "3000",
    };

    private static Microsoft.AspNetCore.Builder.WebApplication Build(string key, string value)
    {
        var b = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        b.Builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var settings = Valid();
        settings[key] = value;
        b.Configuration.AddInMemoryCollection(settings);
        b.AddStage<AcceptingProcessor>("intake", s => s.Consumes<Pipeline.Contracts.ReportSubmitted>(Topics.ReportsSubmitted));
        return b.Build();
    }

    [Theory]
    [InlineData("Kafka:BootstrapServers", "", "Kafka:BootstrapServers")]
    [InlineData("Kafka:BootstrapServers", "broker-without-port.example", "Kafka:BootstrapServers")]
    [InlineData("Kafka:SchemaRegistryUrl", "not a url", "Kafka:SchemaRegistryUrl")]
    [InlineData("Kafka:SchemaRegistryUrl", "ftp://registry.example/", "Kafka:SchemaRegistryUrl")]
    [InlineData("Kafka:SecurityProtocol", "Tls", "Kafka:SecurityProtocol")]
    [InlineData("Kafka:SecurityProtocol", "SaslSsl", "Kafka:SaslUsername")]
    [InlineData("Kafka:SessionTimeoutMs", "500", "Kafka:SessionTimeoutMs")]
    [InlineData("Kafka:SaslMechanism", "MAGIC", "Kafka:SaslMechanism")]
    [InlineData("Kafka:StatisticsIntervalMs", "-1", "Kafka:StatisticsIntervalMs")]
    [InlineData("Kafka:TransactionCommitIntervalMs", "5", "Kafka:TransactionCommitIntervalMs")]
    [InlineData("Kafka:LingerMs", "-1", "Kafka:LingerMs")]
    [InlineData("Processing:MaxAttempts", "0", "Processing:MaxAttempts")]
    [InlineData("Processing:MaxInFlightMessages", "0", "Processing:MaxInFlightMessages")]
    [InlineData("Processing:InitialBackoffMs", "-1", "Processing:InitialBackoffMs")]
    [InlineData("Processing:ShutdownTimeoutSeconds", "0", "Processing:ShutdownTimeoutSeconds")]
    [InlineData("Processing:LivenessTimeoutSeconds", "0", "Processing:LivenessTimeoutSeconds")]
    [InlineData("Processing:RejoinAfterSeconds", "5", "Processing:RejoinAfterSeconds")]
    [InlineData("Processing:LivenessTimeoutSeconds", "5", "Processing:MaxBackoffMs")] // 5 s ≤ the 5,000 ms default backoff cap
    [InlineData("Processing:LivenessTimeoutSeconds", "20", "Processing:ShutdownTimeoutSeconds")] // < the 30 s default
    [InlineData("Telemetry:OtlpEndpoint", "otel-collector:4318", "Telemetry:OtlpEndpoint")]
    [InlineData("Telemetry:OtlpEndpoint", "grpc://otel-collector.example:4317", "Telemetry:OtlpEndpoint")]
    [InlineData("Telemetry:OtlpEndpoint", "http://otel-collector.example:4318/?token=1", "Telemetry:OtlpEndpoint")]
    [InlineData("Telemetry:ServiceName", "   ", "Telemetry:ServiceName")]
    public async Task An_invalid_setting_fails_start_with_a_message_naming_it_and_the_fix(string key, string value, string named)
    {
        await using var app = Build(key, value);
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_service_name_of_exported_spans_defaults_to_the_application_s_name()
    {
        await using var app = Build("Telemetry:OtlpEndpoint", "");
        var options = app.Services.GetRequiredService<IOptions<TelemetryOptions>>().Value;
        Assert.False(string.IsNullOrEmpty(options.ServiceName));
        Assert.Equal(app.Environment.ApplicationName, options.ServiceName);
    }

    [Theory]
    [InlineData("http://otel-collector.example:4318", "http://otel-collector.example:4318/v1/traces")]
    [InlineData("http://otel-collector.example:4318/", "http://otel-collector.example:4318/v1/traces")]
    [InlineData("https://collector.example/otlp", "https://collector.example/otlp/v1/traces")]
    [InlineData("http://127.0.0.1:4318/v1/traces", "http://127.0.0.1:4318/v1/traces")]
    public void The_otlp_endpoint_is_the_collector_s_base_address_and_spans_go_to_its_v1_traces(string endpoint, string traces)
    {
        var options = new TelemetryOptions { OtlpEndpoint = endpoint, ServiceName = "pipeline-test" };
        Assert.True(new TelemetryOptionsValidator().Validate(null, options).Succeeded);
        Assert.Equal(new Uri(traces), options.TracesEndpoint());
        Assert.Null(new TelemetryOptions().TracesEndpoint()); // empty: no exporter
    }

    [Theory]
    [InlineData("SCRAM-SHA-256")]
    [InlineData("ScramSha512")]
    [InlineData("PLAIN")]
    public async Task Kafka_spellings_of_sasl_mechanisms_pass_validation(string mechanism)
    {
        var settings = Valid();
        settings["Kafka:SecurityProtocol"] = "SaslPlaintext";
        settings["Kafka:SaslMechanism"] = mechanism;
        settings["Kafka:SaslUsername"] = "pipeline";
        settings["Kafka:SaslPassword"] = "not-a-real-secret";
        var kafka = new KafkaOptions();
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection("Kafka").Bind(kafka);
        var result = new KafkaOptionsValidator().Validate(null, kafka);
        Assert.True(result.Succeeded, result.FailureMessage);
        Assert.NotNull(KafkaClients.Config(kafka).SaslMechanism);
        await Task.CompletedTask;
    }
}
