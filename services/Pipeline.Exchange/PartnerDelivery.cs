using System.Text;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Logging;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Exchange;

/// <summary>
/// Delivers the reports routed to one partner hotline onto that partner's own Kafka cluster (idempotent, acks=all),
/// with the reporter's identity removed. Each partner has its own consumer group on exchange.outbound.v1, so a
/// partner whose cluster is down only delays its own deliveries: they are deferred and retried, never dropped.
/// </summary>
public sealed class PartnerDelivery : IProcessor<ReportForwarded>, IDisposable
{
    private static readonly Counter Delivered = Metrics.CreateCounter(
        "pipeline_exchange_delivered_total", "Reports delivered to a partner hotline's cluster.", new CounterConfiguration { LabelNames = ["partner"] });
    private static readonly Gauge PartnerUp = Metrics.CreateGauge(
        "pipeline_exchange_partner_up", "1 when the last delivery to the partner succeeded, 0 when it failed.", new GaugeConfiguration { LabelNames = ["partner"] });

    private readonly string partner;
    private readonly string topic;
    private readonly ExchangeOptions options;
    private readonly IProducer<byte[]?, byte[]?> producer;
    private readonly CachedSchemaRegistryClient registry;
    private readonly AvroSerdes serdes;
    private readonly ILogger log;
    // Confluent.Kafka does not reference-count its librdkafka handle: a Produce on one thread while Dispose destroys the
    // handle on another is a native use after free that ends the process (issue 16). Every produce and the disposal
    // take this gate; after the disposal a delivery is deferred (redone after the restart), never sent to a freed handle.
    private readonly Lock gate = new();
    private bool disposed;

    public PartnerDelivery(string partner, PartnerEndpoint endpoint, ExchangeOptions options, ILogger log)
    {
        this.partner = partner;
        this.options = options;
        this.log = log;
        topic = endpoint.Topic ?? Topics.ExchangeInbound(options.HomeHotline);
        var kafka = new KafkaOptions
        {
            BootstrapServers = endpoint.BootstrapServers, SecurityProtocol = endpoint.SecurityProtocol, SaslMechanism = endpoint.SaslMechanism,
            SaslUsername = endpoint.SaslUsername, SaslPassword = endpoint.SaslPassword, SslCaLocation = endpoint.SslCaLocation,
        };
        producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig(KafkaClients.Config(kafka))
        {
            ClientId = $"exchange-to-{partner}", Acks = Acks.All, EnableIdempotence = true, LingerMs = 5,
            MessageTimeoutMs = (int)options.DeliveryTimeout.TotalMilliseconds, Partitioner = Partitioner.Murmur2Random,
        }).SetLogHandler((_, m) => { if (m.Level <= SyslogLevel.Warning) log.LogDebug("exchange-to-{Partner}: {Message}", partner, m.Message); }).Build();
        registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = endpoint.SchemaRegistryUrl, RequestTimeoutMs = (int)options.DeliveryTimeout.TotalMilliseconds });
        serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
    }

    public string Partner => partner;

    public async ValueTask ProcessAsync(Incoming<ReportForwarded> message, IOutput output, CancellationToken cancellationToken)
    {
        var forwarded = message.Value;
        if (!string.Equals(forwarded.partnerHotline, partner, StringComparison.OrdinalIgnoreCase)) return; // another partner's
        var outgoing = Sanitised(forwarded);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.DeliveryTimeout + TimeSpan.FromSeconds(1));
            var bytes = await serdes.SerializeAsync(outgoing, topic);
            Task<DeliveryResult<byte[]?, byte[]?>> produced;
            lock (gate)
            {
                if (disposed) throw new DeferException($"partner {partner}: the delivery is shutting down", options.RetryAfter);
                // The native produce happens inside this call, before its first await (byte[] serialisers are synchronous).
                produced = producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(outgoing.caseKey), Value = bytes }, timeout.Token);
            }
            await produced;
            Delivered.WithLabels(partner).Inc();
            PartnerUp.WithLabels(partner).Set(1);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is KafkaException or OperationCanceledException or HttpRequestException or SchemaRegistryException or UndeserialisableException or TimeoutException)
        {
            PartnerUp.WithLabels(partner).Set(0);
            log.LogWarning("Partner {Partner} unreachable ({Error}); its deliveries wait and are retried in {After}", partner, e.Message, options.RetryAfter);
            throw new DeferException($"partner {partner} unreachable: {e.Message}", options.RetryAfter, e);
        }
    }

    /// <summary>What crosses the border: never the reporter's identity, and this hotline as the last hop.</summary>
    public ReportForwarded Sanitised(ReportForwarded f)
    {
        var report = ReporterIdentity.WithoutReporter(f.report);
        if (report.hops.Count == 0 || !string.Equals(report.hops[^1], options.HomeHotline, StringComparison.OrdinalIgnoreCase)) report.hops.Add(options.HomeHotline);
        return new ReportForwarded
        {
            eventId = f.eventId, caseKey = f.caseKey, partnerHotline = f.partnerHotline, partnerCountry = f.partnerCountry,
            report = report,
            caseInfo = f.caseInfo, hosting = f.hosting, verdict = f.verdict, matches = f.matches, assessment = f.assessment,
            rule = f.rule, timeline = f.timeline, forwardedAt = f.forwardedAt,
        };
    }

    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true; // no produce is inside the producer from here on
        }
        producer.Flush(TimeSpan.FromSeconds(5));
        producer.Dispose();
        registry.Dispose();
    }
}
