using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

/// <summary>Routes a notice to the channel the hoster prefers.</summary>
public sealed class NoticeDeliverer(EmailChannel email, WebhookChannel webhook)
{
    public Task<DeliveryResult> DeliverAsync(TakedownNotice notice, CancellationToken ct) => notice.recipient.channel switch
    {
        NoticeChannel.EMAIL => email.DeliverAsync(notice, ct),
        NoticeChannel.WEBHOOK => webhook.DeliverAsync(notice, ct),
        _ => Task.FromResult(NoChannel(notice)),
    };

    /// <summary>A batch of one goes out as the plain notice.</summary>
    public Task<DeliveryResult> DeliverAsync(NoticeBatch batch, CancellationToken ct) => batch.Members.Count == 1 ? DeliverAsync(batch.Lead, ct) : batch.Lead.recipient.channel switch
    {
        NoticeChannel.EMAIL => email.DeliverAsync(batch, ct),
        NoticeChannel.WEBHOOK => webhook.DeliverAsync(batch, ct),
        _ => Task.FromResult(NoChannel(batch.Lead)),
    };

    private static DeliveryResult NoChannel(TakedownNotice n) =>
        DeliveryResult.Failed($"no delivery channel for {n.recipient.name} ({n.recipient.channel}); a person must find one");
}

/// <summary>The delivery stage's state: per notice id the last delivery record, carrying the notice while a retry is
/// pending. Lives in the compacted topic takedown.delivery-state.v1, co-partitioned with notices.issued.v1.</summary>
public sealed class DeliveryState(IOptions<KafkaOptions> kafka, AvroSerdes serdes, ILogger<DeliveryState> log)
{
    public PartitionedState<NoticeDelivery> State { get; } = new(Topics.TakedownDeliveryState, kafka.Value, serdes, log);

    /// <summary>Signalled when a retry was scheduled, so the retry loop looks again.</summary>
    public SemaphoreSlim RetryScheduled { get; } = new(0);
}

internal static class DeliveryMetrics
{
    public static readonly Counter Deliveries = Metrics.CreateCounter(
        "pipeline_takedown_deliveries_total", "Notice delivery attempts by channel and outcome (SENT, RETRYING, FAILED, BOUNCED).",
        new CounterConfiguration { LabelNames = ["channel", "status"] });
    public static readonly Counter Skipped = Metrics.CreateCounter(
        "pipeline_takedown_deliveries_skipped_total", "Notices seen again (replay, re-delivery) whose delivery was already recorded: not sent again.");
    public static readonly Gauge RetriesPending = Metrics.CreateGauge(
        "pipeline_takedown_delivery_retries_pending", "Notices waiting for another delivery attempt.");
    public static readonly Gauge LastSent = Metrics.CreateGauge(
        "pipeline_takedown_delivery_last_sent_timestamp_seconds", "Unix time (stage clock) of the last successful delivery.");
}

/// <summary>Records of one attempt: the event on notices.deliveries.v1 and the state entry.</summary>
internal static class DeliveryRecords
{
    public static NoticeDelivery Event(TakedownNotice n, int attempt, DeliveryResult result, DateTime at, DateTime? nextAttemptAt) => new()
    {
        eventId = EventIds.Derive("notice-delivery", n.noticeId, attempt.ToString(CultureInfo.InvariantCulture)),
        noticeId = n.noticeId,
        caseKey = n.caseKey,
        hosterId = n.hosterId,
        channel = n.recipient.channel,
        address = n.recipient.address,
        attempt = attempt,
        status = result.Status,
        detail = result.Detail,
        nextAttemptAt = nextAttemptAt,
        at = at,
        notice = null,
    };

    public static NoticeDelivery StateOf(NoticeDelivery e, TakedownNotice n) => new()
    {
        eventId = e.eventId, noticeId = e.noticeId, caseKey = e.caseKey, hosterId = e.hosterId, channel = e.channel, address = e.address,
        attempt = e.attempt, status = e.status, detail = e.detail, nextAttemptAt = e.nextAttemptAt, at = e.at,
        notice = e.status == DeliveryStatus.RETRYING ? n : null, // the notice is kept only while it must be retried
    };

    /// <summary>A reminder that reached its recipient is an SLA fact: REMINDER_SENT on sla.events, once per reminder (the id
    /// derives from the reminder's notice id, and the delivery state sends each notice once).</summary>
    public static SlaEvent? ReminderSent(NoticeDelivery e, TakedownNotice n) =>
        e.status != DeliveryStatus.SENT || n.kind != NoticeKind.REMINDER ? null : new SlaEvent
        {
            eventId = EventIds.Derive("sla-reminder-sent", n.noticeId),
            caseKey = n.caseKey,
            noticeId = n.noticeId,
            hosterId = n.hosterId,
            kind = SlaEventKind.REMINDER_SENT,
            deadline = n.deadline,
            occurredAt = e.at,
            detail = $"reminder {n.sequence} of notice {n.originalNoticeId} sent by {e.channel} to {e.address} (attempt {e.attempt})",
        };

    /// <summary>Records an attempt made outside a consume loop (a retry, a batch): the delivery event, REMINDER_SENT for
    /// a delivered reminder, and the state record, each acknowledged before the in-memory state changes.</summary>
    public static async Task RecordAsync(EventPublisher publisher, PartitionedState<NoticeDelivery> state, int partition,
        TakedownNotice n, NoticeDelivery delivery, CancellationToken ct)
    {
        await publisher.PublishAsync(Topics.NoticeDeliveries, n.caseKey, delivery, ct: ct);
        if (ReminderSent(delivery, n) is { } sent) await publisher.PublishAsync(Topics.SlaEvents, n.caseKey, sent, ct: ct);
        var record = StateOf(delivery, n);
        await publisher.PublishAsync(state.Topic, n.noticeId, record, partition, ct);
        state.Apply(partition, n.noticeId, record);
    }

    /// <summary>A transient result becomes FAILED when the attempts are used up.</summary>
    public static (DeliveryResult Result, DateTime? Next) Schedule(DeliveryResult result, int attempt, DeliveryOptions options, DateTime now)
    {
        if (result.Status != DeliveryStatus.RETRYING) return (result, null);
        if (attempt >= options.MaxAttempts) return (DeliveryResult.Failed($"gave up after {attempt} attempts; last: {result.Detail}"), null);
        return (result, now + options.Backoff(attempt));
    }

    public static void Count(NoticeDelivery e, DateTime at)
    {
        DeliveryMetrics.Deliveries.WithLabels(e.channel.ToString(), e.status.ToString()).Inc();
        if (e.status == DeliveryStatus.SENT) DeliveryMetrics.LastSent.Set(new DateTimeOffset(at).ToUnixTimeMilliseconds() / 1000.0);
    }
}

/// <summary>
/// Delivers every issued notice once, by the recipient's channel. Before sending it looks the notice id up in the
/// delivery state; after the attempt it writes the outcome (event + state) through the processor output, so the
/// input offset is stored only once Kafka holds the record that the notice went out. A replay therefore skips
/// delivered notices. The crash window between "the server accepted it" and "the record is acknowledged" remains;
/// for it the recipient gets the same Message-ID / Idempotency-Key again.
/// A transient failure does not hold the partition: the notice goes into the state as RETRYING and
/// <see cref="DeliveryRetryLoop"/> takes it from there.
/// With Takedown:Delivery:BatchWindow above zero, e-mail and webhook notices are instead forwarded, keyed by recipient,
/// to takedown.batching.v1, where <see cref="BatchProcessor"/> and <see cref="BatchLoop"/> deliver them once, grouped.
/// </summary>
public sealed class DeliveryProcessor(DeliveryState store, NoticeDeliverer deliverer, IOptions<DeliveryOptions> options, TimeProvider time, ILogger<DeliveryProcessor> log)
    : IProcessor<TakedownNotice>, IPartitionAware
{
    public async ValueTask ProcessAsync(Incoming<TakedownNotice> message, IOutput output, CancellationToken cancellationToken)
    {
        var n = message.Value;
        if (n.policeHold)
        {
            log.LogWarning("Notice {NoticeId} carries a police hold and is not delivered", n.noticeId);
            return;
        }
        if (store.State.TryGet(message.Partition, n.noticeId, out var known))
        {
            DeliveryMetrics.Skipped.Inc();
            log.LogDebug("Notice {NoticeId} already {Status} (attempt {Attempt}); not sent again", n.noticeId, known.status, known.attempt);
            return;
        }
        if (options.Value.BatchWindow > TimeSpan.Zero && n.recipient.channel is NoticeChannel.EMAIL or NoticeChannel.WEBHOOK)
        {
            // Re-keyed by recipient for the batching stage, which delivers it (alone or with others) once.
            output.Send(Topics.TakedownBatching, NoticeBatch.RecipientKey(n.recipient.channel, n.recipient.address), n);
            return;
        }
        var result = n.recipient.channel == NoticeChannel.TOPIC
            ? DeliveryResult.Sent($"published on {message.Topic} at {message.Partition}:{message.Offset} (the recipient consumes the topic)")
            : await deliverer.DeliverAsync(n, cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var (final, next) = DeliveryRecords.Schedule(result, 1, options.Value, now);
        var delivery = DeliveryRecords.Event(n, 1, final, now, next);
        output.Send(Topics.NoticeDeliveries, n.caseKey, delivery);
        if (DeliveryRecords.ReminderSent(delivery, n) is { } sent) output.Send(Topics.SlaEvents, n.caseKey, sent);
        store.State.Put(output, message.Partition, n.noticeId, DeliveryRecords.StateOf(delivery, n));
        DeliveryRecords.Count(delivery, now);
        if (final.Status == DeliveryStatus.RETRYING) store.RetryScheduled.Release();
        if (final.Status is DeliveryStatus.FAILED or DeliveryStatus.BOUNCED)
            log.LogError("Notice {NoticeId} to {Recipient} {Status}: {Detail}", n.noticeId, n.recipient.address, final.Status, final.Detail);
    }

    public void OnAssigned(IReadOnlyCollection<TopicPartition> partitions)
    {
        store.State.Restore(partitions);
        store.RetryScheduled.Release();
    }

    public void OnRevoked(IReadOnlyCollection<TopicPartition> partitions) => store.State.Drop(partitions);
}

/// <summary>
/// Retries deliveries that failed transiently, when due (the stage clock), with exponential backoff, in parallel,
/// outside the consume loop: a hoster whose server is down delays only its own notices. Each outcome is
/// acknowledged by Kafka (event, then state) before the in-memory state changes; a crash in between leaves the entry
/// RETRYING, so the attempt is repeated with the same Message-ID / Idempotency-Key.
/// </summary>
public sealed class DeliveryRetryLoop(DeliveryState store, NoticeDeliverer deliverer, EventPublisher publisher, IOptions<DeliveryOptions> options,
    TimeProvider time, ILogger<DeliveryRetryLoop> log) : BackgroundService
{
    private readonly DeliveryOptions settings = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow().UtcDateTime;
            var pending = store.State.Entries.Where(e => e.Value.status == DeliveryStatus.RETRYING && e.Value.notice is not null).Select(e => e.Value).ToList();
            DeliveryMetrics.RetriesPending.Set(pending.Count);
            var due = pending.Where(d => d.nextAttemptAt is null || d.nextAttemptAt <= now).OrderBy(d => d.nextAttemptAt).ToList();
            if (due.Count > 0)
            {
                try
                {
                    await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = settings.RetryConcurrency, CancellationToken = stoppingToken },
                        async (entry, ct) => await RetryAsync(entry, ct));
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                continue;
            }
            var next = pending.Min(d => d.nextAttemptAt);
            var wait = next is null ? TimeSpan.FromSeconds(1) : next.Value - now;
            wait = TimeSpan.FromTicks(Math.Clamp(wait.Ticks, TimeSpan.FromMilliseconds(5).Ticks, TimeSpan.FromSeconds(1).Ticks));
            try
            {
                await Task.WhenAny(Task.Delay(wait, time, stoppingToken), store.RetryScheduled.WaitAsync(stoppingToken));
                stoppingToken.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task RetryAsync(NoticeDelivery entry, CancellationToken ct)
    {
        if (!store.State.TryFind(entry.noticeId, out var current, out var partition) || current.status != DeliveryStatus.RETRYING
            || current.attempt != entry.attempt) return; // revoked meanwhile, or already handled
        var n = entry.notice!;
        var attempt = entry.attempt + 1;
        var result = await deliverer.DeliverAsync(n, ct);
        var now = time.GetUtcNow().UtcDateTime;
        var (final, next) = DeliveryRecords.Schedule(result, attempt, settings, now);
        var delivery = DeliveryRecords.Event(n, attempt, final, now, next);
        try
        {
            await DeliveryRecords.RecordAsync(publisher, store.State, partition, n, delivery, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not acknowledged: the state still says RETRYING; the next attempt re-sends under the same ids.
            log.LogError("Delivery of {NoticeId}: recording attempt {Attempt} failed: {Error}", n.noticeId, attempt, e.Message);
            return;
        }
        DeliveryRecords.Count(delivery, now);
        if (final.Status is DeliveryStatus.FAILED or DeliveryStatus.BOUNCED)
            log.LogError("Notice {NoticeId} to {Recipient} {Status} after {Attempt} attempts: {Detail}", n.noticeId, n.recipient.address, final.Status, attempt, final.Detail);
        else if (final.Status == DeliveryStatus.RETRYING)
            log.LogWarning("Notice {NoticeId}: attempt {Attempt} failed ({Detail}); next at {Next:O}", n.noticeId, attempt, final.Detail, next);
    }
}
