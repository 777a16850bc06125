using System.Collections.Concurrent;
using Confluent.Kafka;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Recheck;

namespace Pipeline.Cli.Demo;

/// <summary>
/// The hosters' side of the demo. Their abuse desks read the notices from the notice topic (their preferred channel
/// in this world) and remove the URL after a delay drawn from each hoster's own distribution (log-normal around its
/// median; some never act). Recheck probes this world instead of the internet: status only, as it would over HTTP.
/// The world also has an outage of the hotline's own network (<see cref="ScheduleOutage"/>): while it lasts every
/// connection is refused, the recheck's control endpoint included, as when the hotline's uplink fails.
/// </summary>
public sealed class SimulatedWeb(TimeProvider time, int seed) : IContentProbe, IDisposable
{
    private readonly ConcurrentDictionary<string, DateTime> removeAt = new();
    private readonly Random random = new(seed);
    private readonly Lock gate = new();
    private readonly CancellationTokenSource stop = new();
    private Thread? desks;

    private int probesDuringOutage;

    public int NoticesReceived => removeAt.Count;

    /// <summary>The hotline's own network is down from <c>From</c> to <c>To</c> (stage clock).</summary>
    public (DateTime From, DateTime To)? Outage { get; private set; }

    /// <summary>Checks (and control checks) that met the outage.</summary>
    public int ProbesDuringOutage => Volatile.Read(ref probesDuringOutage);

    /// <summary>Cuts the hotline's network for <paramref name="length"/> from <paramref name="after"/> from now (stage clock).</summary>
    public void ScheduleOutage(TimeSpan after, TimeSpan length)
    {
        var from = time.GetUtcNow().UtcDateTime + after;
        Outage = (from, from + length);
    }

    public Task<ProbeResult> ProbeAsync(string url, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        if (Outage is { } o && now >= o.From && now < o.To)
        {
            Interlocked.Increment(ref probesDuringOutage);
            return Task.FromResult(new ProbeResult(ContentStatus.REFUSED, null) { Detail = "connection refused (the demo's own-network outage)" });
        }
        var online = !removeAt.TryGetValue(url, out var at) || now < at;
        return Task.FromResult(online ? new ProbeResult(ContentStatus.ONLINE, 200) : new ProbeResult(ContentStatus.REMOVED, 404));
    }

    /// <summary>A notice reached a hoster's desk: its URL is removed after the hoster's delay (or never).</summary>
    public void Receive(TakedownNotice notice) => Receive(notice.hosterId, notice.url, notice.issuedAt);

    private void Receive(string? hosterId, string url, DateTime issuedAt)
    {
        var hoster = DemoWorld.Hosters.FirstOrDefault(h => h.Id == hosterId);
        if (hoster is null) return;
        DateTime at;
        lock (gate)
        {
            if (random.NextDouble() < hoster.NeverRemoves) at = DateTime.MaxValue;
            else
            {
                // Log-normal delay: median · e^(σ·z), z standard normal (Box–Muller).
                var z = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                var hours = hoster.MedianRemovalHours * Math.Exp(hoster.Sigma * z);
                at = issuedAt + TimeSpan.FromHours(Math.Min(hours, 24 * 365));
            }
        }
        removeAt.TryAdd(url, at);
    }

    /// <summary>Starts the hosters' abuse desks: a consumer group on the delivery topic (a desk on the topic channel reads
    /// its notice from the SENT record, which carries it; a desk on e-mail gets a notice when its delivery is SENT; a
    /// notice recorded MOVED never reached anyone).</summary>
    public void StartDesks(KafkaOptions kafka, AvroSerdes serdes)
    {
        desks = new Thread(() =>
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(KafkaClients.ConsumerConfig(kafka))
            {
                GroupId = "demo-hoster-desks", AutoOffsetReset = AutoOffsetReset.Earliest, SessionTimeoutMs = 3000, HeartbeatIntervalMs = 750,
                PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            }).Build();
            consumer.Subscribe(Topics.NoticeDeliveries);
            while (!stop.IsCancellationRequested)
            {
                var r = KafkaClients.Poll(consumer, TimeSpan.FromMilliseconds(100));
                if (r?.Message?.Value is null) continue;
                var delivery = serdes.Deserialize<NoticeDelivery>(r.Message.Value, r.Topic);
                if (delivery.status != DeliveryStatus.SENT) continue;
                if (delivery is { channel: NoticeChannel.TOPIC, notice: { } notice }) Receive(notice);
                else Receive(delivery.hosterId, delivery.caseKey, delivery.at);
            }
            consumer.Close();
        }) { IsBackground = true, Name = "demo-hoster-desks" };
        desks.Start();
    }

    public void Dispose()
    {
        stop.Cancel();
        desks?.Join(TimeSpan.FromSeconds(10));
        stop.Dispose();
    }
}
