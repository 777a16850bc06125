using Microsoft.Extensions.Options;

namespace Pipeline.Platform;

/// <summary>Where Kafka and the Schema Registry are; section <c>Kafka</c>. Services never know which Kafka they talk to.</summary>
public sealed class KafkaOptions
{
    public const string Section = "Kafka";

    /// <summary>host:port[,host:port…] of the brokers (real cluster, Testcontainers or the embedded cluster).</summary>
    public string BootstrapServers { get; set; } = "";

    /// <summary>Base URL of the Confluent-compatible Schema Registry.</summary>
    public string SchemaRegistryUrl { get; set; } = "";

    /// <summary>Plaintext (default), Ssl, SaslPlaintext or SaslSsl.</summary>
    public string SecurityProtocol { get; set; } = "Plaintext";
    public string? SaslMechanism { get; set; }
    public string? SaslUsername { get; set; }
    /// <summary>Secret: supply through the environment (Kafka__SaslPassword), never a config file.</summary>
    public string? SaslPassword { get; set; }
    public string? SslCaLocation { get; set; }

    /// <summary>Consumer session timeout. Small values make rebalances fast (the embedded cluster waits
    /// session.timeout.ms − 1 s on every join or leave).</summary>
    public int SessionTimeoutMs { get; set; } = 10_000;
    public int StatisticsIntervalMs { get; set; } = 5_000;
    public int AutoCommitIntervalMs { get; set; } = 1_000;

    /// <summary>Run each processor in Kafka transactions (exactly-once Kafka-to-Kafka on a real cluster).
    /// The embedded cluster accepts but does not honour them; the at-least-once guarantee holds either way.</summary>
    public bool Transactions { get; set; }
    public int TransactionCommitIntervalMs { get; set; } = 500;

    /// <summary>fetch.wait.max.ms for every consumer; unset (librdkafka's 500 ms) for real clusters, whose brokers
    /// answer a fetch as soon as data arrives. The embedded (mock) cluster holds every empty fetch for the full wait,
    /// paid at each consume hop, so the embedded runtime sets a short one.</summary>
    public int? FetchWaitMaxMs { get; set; }

    /// <summary>socket.timeout.ms for every client; unset (librdkafka's 60 s) for real clusters, whose brokers close their
    /// connections when they go down. A broker of the embedded (mock) cluster taken down leaves requests in flight to it
    /// unanswered until this timeout: with 60 s, every client that had a request in flight stalled for a minute after a
    /// 5 s outage (measured by the fault run, ChaosTests). The embedded runtime sets 10 s.</summary>
    public int? SocketTimeoutMs { get; set; }

    /// <summary>linger.ms of the stages' producers: how long a producer gathers records for one partition into a batch
    /// before it sends them. Default 5.</summary>
    public int LingerMs { get; set; } = 5;

    /// <summary>Register schemas on first use. Off for services (schemas come from `pipeline schemas register`).</summary>
    public bool AutoRegisterSchemas { get; set; }
}

/// <summary>How a processor handles failures and load; section <c>Processing</c>.</summary>
public sealed class ProcessingOptions
{
    public const string Section = "Processing";
    /// <summary>Attempts for a message that fails with a transient error before it is dead-lettered.</summary>
    public int MaxAttempts { get; set; } = 5;
    public int InitialBackoffMs { get; set; } = 200;
    public int MaxBackoffMs { get; set; } = 5_000;
    /// <summary>Messages whose outputs are not yet acknowledged, across all partitions, before consuming pauses.</summary>
    public int MaxInFlightMessages { get; set; } = 20_000;
    /// <summary>Timers a stage fires per turn of its loop before it polls again (a backlog of due timers never starves
    /// the inputs).</summary>
    public int MaxTimersPerTurn { get; set; } = 200;
    public int ShutdownTimeoutSeconds { get; set; } = 30;

    /// <summary>Largest record (value + key + headers) a stage writes when it copies an input's bytes into it (a
    /// rejection, a dead letter). Beyond it the copy is cut and kept by reference (length + SHA-256). Must stay below
    /// the producer's message.max.bytes (1,000,000), so a hostile input near Kafka's limit can never stop a stage.</summary>
    public int MaxRecordBytes { get; set; } = 900_000;

    /// <summary>Upper bound of <see cref="MaxRecordBytes"/>: librdkafka's default message.max.bytes less room for the
    /// record batch overhead.</summary>
    public const int ProducerMessageLimit = 1_000_000 - 16 * 1024;

    /// <summary>/health/live fails when a running stage's poll loop has not turned for this long. The loop legitimately
    /// stops turning while it restores state on an assignment, flushes on a revocation (up to ShutdownTimeoutSeconds)
    /// or waits between retries (up to MaxBackoffMs), so this must be well above those.</summary>
    public int LivenessTimeoutSeconds { get; set; } = 300;

    /// <summary>A stage that has been without an assignment this long (after it subscribed, or after its partitions were
    /// revoked or lost) leaves its group and joins again. A client can stay stuck in a join that never completes after its
    /// group coordinator went away (seen on the embedded cluster: a restarted takedown never assigned in 3 minutes while
    /// its other stages were); readiness reports it meanwhile, but nothing else would end it.</summary>
    public int RejoinAfterSeconds { get; set; } = 60;

    /// <summary>The backoff between attempts (InitialBackoffMs doubling up to MaxBackoffMs).</summary>
    public Backoff RetryBackoff() => Backoff.FromMilliseconds(InitialBackoffMs, MaxBackoffMs);
}

/// <summary>Trace export; section <c>Telemetry</c>. Trace context travels in every record's headers whatever is set here;
/// spans are made and exported only with an OTLP endpoint.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>Base URL of an OpenTelemetry collector's OTLP/HTTP receiver (e.g. http://otel-collector:4318; spans go to
    /// its /v1/traces). Empty (the default): no spans are recorded and nothing leaves the process.</summary>
    public string OtlpEndpoint { get; set; } = "";

    /// <summary>The <c>service.name</c> of the exported spans; empty: the service's application name (e.g. Pipeline.Routing).</summary>
    public string ServiceName { get; set; } = "";

    /// <summary>Where the exporter POSTs: the endpoint itself when it already ends in /v1/traces, else that path under it.</summary>
    public Uri? TracesEndpoint()
    {
        if (string.IsNullOrEmpty(OtlpEndpoint)) return null;
        var url = new Uri(OtlpEndpoint, UriKind.Absolute);
        return url.AbsolutePath.EndsWith("/v1/traces", StringComparison.Ordinal) ? url : new Uri(new Uri(url.AbsoluteUri.TrimEnd('/') + "/"), "v1/traces");
    }
}

internal sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    public ValidateOptionsResult Validate(string? name, TelemetryOptions o)
    {
        var errors = new List<string>();
        if (!string.IsNullOrEmpty(o.OtlpEndpoint)
            && (!Uri.TryCreate(o.OtlpEndpoint, UriKind.Absolute, out var url) || (url.Scheme != "http" && url.Scheme != "https") || url.Query.Length > 0 || url.Fragment.Length > 0))
            errors.Add($"Telemetry:OtlpEndpoint '{o.OtlpEndpoint}' is not an http(s) URL without query. Fix: set Telemetry__OtlpEndpoint to the collector's OTLP/HTTP address, e.g. http://otel-collector:4318, or leave it empty to export nothing.");
        if (string.IsNullOrWhiteSpace(o.ServiceName) || o.ServiceName.Length > 255 || o.ServiceName.Any(char.IsControl))
            errors.Add($"Telemetry:ServiceName '{o.ServiceName}' must be 1–255 printable characters. Fix: leave it unset (the service's name) or use e.g. pipeline-routing.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

internal sealed class KafkaOptionsValidator : IValidateOptions<KafkaOptions>
{
    private static readonly string[] Protocols = ["Plaintext", "Ssl", "SaslPlaintext", "SaslSsl"];

    public ValidateOptionsResult Validate(string? name, KafkaOptions o)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.BootstrapServers))
            errors.Add("Kafka:BootstrapServers is not set. Fix: set it in appsettings.json or as the environment variable Kafka__BootstrapServers, e.g. localhost:9092 (or run `pipeline demo`, which starts an embedded cluster).");
        else if (o.BootstrapServers.Split(',').Any(s => !s.Contains(':', StringComparison.Ordinal)))
            errors.Add($"Kafka:BootstrapServers '{o.BootstrapServers}' must be host:port[,host:port]. Fix: add the port, e.g. localhost:9092.");
        if (!Uri.TryCreate(o.SchemaRegistryUrl, UriKind.Absolute, out var url) || (url.Scheme != "http" && url.Scheme != "https"))
            errors.Add($"Kafka:SchemaRegistryUrl '{o.SchemaRegistryUrl}' is not an http(s) URL. Fix: set Kafka__SchemaRegistryUrl, e.g. http://localhost:8081.");
        if (!Protocols.Contains(o.SecurityProtocol, StringComparer.OrdinalIgnoreCase))
            errors.Add($"Kafka:SecurityProtocol '{o.SecurityProtocol}' is not one of {string.Join(", ", Protocols)}. Fix: pick one of those.");
        if (o.SecurityProtocol.StartsWith("Sasl", StringComparison.OrdinalIgnoreCase) && (string.IsNullOrEmpty(o.SaslUsername) || string.IsNullOrEmpty(o.SaslPassword)))
            errors.Add("Kafka:SecurityProtocol uses SASL but Kafka:SaslUsername or Kafka:SaslPassword is empty. Fix: set both (the password through the environment variable Kafka__SaslPassword).");
        if (o.SessionTimeoutMs is < 1_000 or > 300_000)
            errors.Add($"Kafka:SessionTimeoutMs {o.SessionTimeoutMs} is outside 1000–300000. Fix: use e.g. 10000.");
        if (o.StatisticsIntervalMs < 0)
            errors.Add($"Kafka:StatisticsIntervalMs {o.StatisticsIntervalMs} must be ≥ 0 (0 disables consumer-lag metrics). Fix: use e.g. 5000.");
        if (o.SocketTimeoutMs is < 1_000 or > 300_000)
            errors.Add($"Kafka:SocketTimeoutMs {o.SocketTimeoutMs} is outside 1000–300000. Fix: leave it unset for a real cluster (librdkafka's 60000), or use e.g. 10000 on the embedded cluster.");
        if (o.FetchWaitMaxMs is < 0 or > 10_000)
            errors.Add($"Kafka:FetchWaitMaxMs {o.FetchWaitMaxMs} is outside 0–10000. Fix: leave it unset for a real cluster (librdkafka's 500 ms), or use e.g. 10 on the embedded cluster.");
        if (o.LingerMs is < 0 or > 1_000)
            errors.Add($"Kafka:LingerMs {o.LingerMs} is outside 0–1000. Fix: use e.g. 5 (each consume hop can wait this long for its batch).");
        if (o.TransactionCommitIntervalMs < 10)
            errors.Add($"Kafka:TransactionCommitIntervalMs {o.TransactionCommitIntervalMs} must be ≥ 10. Fix: use e.g. 500.");
        if (!string.IsNullOrEmpty(o.SaslMechanism) && !Enum.TryParse<Confluent.Kafka.SaslMechanism>(o.SaslMechanism.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out _))
            errors.Add($"Kafka:SaslMechanism '{o.SaslMechanism}' is not one of Plain, ScramSha256, ScramSha512, Gssapi, OAuthBearer. Fix: use one of those (SCRAM-SHA-256 may be written ScramSha256).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

internal sealed class ProcessingOptionsValidator : IValidateOptions<ProcessingOptions>
{
    public ValidateOptionsResult Validate(string? name, ProcessingOptions o)
    {
        var errors = new List<string>();
        if (o.MaxAttempts < 1) errors.Add($"Processing:MaxAttempts {o.MaxAttempts} must be ≥ 1. Fix: use e.g. 5.");
        if (o.InitialBackoffMs < 0 || o.MaxBackoffMs < o.InitialBackoffMs)
            errors.Add($"Processing:InitialBackoffMs ({o.InitialBackoffMs}) must be ≥ 0 and ≤ Processing:MaxBackoffMs ({o.MaxBackoffMs}). Fix: use e.g. 200 and 5000.");
        if (o.MaxInFlightMessages < 1) errors.Add("Processing:MaxInFlightMessages must be ≥ 1. Fix: use e.g. 20000.");
        if (o.MaxTimersPerTurn < 1) errors.Add($"Processing:MaxTimersPerTurn {o.MaxTimersPerTurn} must be ≥ 1. Fix: use e.g. 200.");
        if (o.ShutdownTimeoutSeconds < 1) errors.Add($"Processing:ShutdownTimeoutSeconds {o.ShutdownTimeoutSeconds} must be ≥ 1. Fix: use e.g. 30.");
        if (o.MaxRecordBytes < 4 * OriginalBytes.EnvelopeReserve || o.MaxRecordBytes > ProcessingOptions.ProducerMessageLimit)
            errors.Add($"Processing:MaxRecordBytes {o.MaxRecordBytes} must be within {4 * OriginalBytes.EnvelopeReserve}–{ProcessingOptions.ProducerMessageLimit} (below the producer's message.max.bytes of 1000000). Fix: use e.g. 900000.");
        if (o.LivenessTimeoutSeconds < 1)
            errors.Add($"Processing:LivenessTimeoutSeconds {o.LivenessTimeoutSeconds} must be ≥ 1. Fix: use e.g. 300.");
        else if (o.LivenessTimeoutSeconds * 1000L <= o.MaxBackoffMs)
            errors.Add($"Processing:LivenessTimeoutSeconds ({o.LivenessTimeoutSeconds} s) must be longer than Processing:MaxBackoffMs ({o.MaxBackoffMs} ms): the poll loop does not turn while it waits between retries, so liveness would fail on every retry. Fix: raise it, e.g. 300.");
        else if (o.LivenessTimeoutSeconds < o.ShutdownTimeoutSeconds)
            errors.Add($"Processing:LivenessTimeoutSeconds ({o.LivenessTimeoutSeconds}) must be at least Processing:ShutdownTimeoutSeconds ({o.ShutdownTimeoutSeconds}): a revocation may hold the poll loop that long. Fix: raise it, e.g. 300.");
        if (o.RejoinAfterSeconds < 10 || o.RejoinAfterSeconds > 3600)
            errors.Add($"Processing:RejoinAfterSeconds {o.RejoinAfterSeconds} must be within 10–3600: a group join legitimately takes up to the session timeout plus the slowest member's rebalance callback. Fix: use e.g. 60.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>How long the state stores keep what identifies a finished case; section <c>Retention</c>.</summary>
public sealed class RetentionOptions
{
    public const string Section = "Retention";

    /// <summary>How long after a case is finished (removal confirmed, hold released, delivery done, waiting report
    /// released, bank match recorded) its state entries, which hold its URL, host, IPs and hashes, are kept before the
    /// owning stage deletes them (a tombstone on the state topic). Decisions stay in audit.log.v1, under the case token.</summary>
    public TimeSpan ClosedCaseAfter { get; set; } = TimeSpan.FromDays(180);

    /// <summary>The expiry of an entry finished at <paramref name="finishedAt"/>; null (kept) while it is not finished.</summary>
    public DateTime? Expiry(DateTime? finishedAt) => finishedAt + ClosedCaseAfter;
}

internal sealed class RetentionOptionsValidator : IValidateOptions<RetentionOptions>
{
    public ValidateOptionsResult Validate(string? name, RetentionOptions o) =>
        o.ClosedCaseAfter < TimeSpan.FromMinutes(1) || o.ClosedCaseAfter > TimeSpan.FromDays(3660)
            ? ValidateOptionsResult.Fail($"Retention:ClosedCaseAfter {o.ClosedCaseAfter} must be within 00:01:00–3660.00:00:00: shorter would delete a case's state while its last events are still being processed, longer is not a retention period. Fix: use e.g. 180.00:00:00 (180 days), the period your data-protection policy sets.")
            : ValidateOptionsResult.Success;
}
