using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

/// <summary>The batching stage's state: per notice id, either waiting in an open batch (RETRYING, carrying the notice,
/// <c>nextAttemptAt</c> = when the batch closes or is retried) or its last delivery status. Lives in the compacted topic
/// takedown.batches.v1, co-partitioned with takedown.batching.v1 (keyed by recipient, so one recipient's batches live
/// on one instance). <see cref="Gate"/> serialises the consume loop (joining a batch) with <see cref="BatchLoop"/>
/// (delivering it), so a batch's members are fixed once it is sent.</summary>
public sealed class BatchState(IOptions<KafkaOptions> kafka, AvroSerdes serdes, ILogger<BatchState> log)
{
    public PartitionedState<NoticeDelivery> State { get; } = new(Topics.TakedownBatches, kafka.Value, serdes, log);

    public SemaphoreSlim Gate { get; } = new(1, 1);

    public static string RecipientKey(NoticeDelivery d) => NoticeBatch.RecipientKey(d.channel, d.address);

    /// <summary>The open batches: waiting members grouped by recipient and close time.</summary>
    public IEnumerable<IGrouping<(string Recipient, DateTime? Due), NoticeDelivery>> Waiting() =>
        State.Entries.Select(e => e.Value).Where(d => d.status == DeliveryStatus.RETRYING && d.notice is not null)
            .GroupBy(d => (RecipientKey(d), d.nextAttemptAt));
}

internal static class BatchMetrics
{
    public static readonly Counter Batches = Metrics.CreateCounter(
        "pipeline_takedown_batches_total", "Batches delivered (one mail or webhook POST each), by channel and outcome; a batch of one is a plain notice.",
        new CounterConfiguration { LabelNames = ["channel", "status"] });
    public static readonly Histogram Size = Metrics.CreateHistogram(
        "pipeline_takedown_batch_size_notices", "Notices per delivered batch.", new HistogramConfiguration { Buckets = [1, 2, 5, 10, 20, 50, 100] });
}

/// <summary>
/// Collects e-mail and webhook notices per recipient: a notice joins the recipient's open batch while it is still open
/// (stage clock before its close, never attempted), otherwise it opens one that closes Takedown:Delivery:BatchWindow
/// later. A notice already known here (waiting or delivered) is ignored, so replays and re-deliveries of
/// notices.issued send nothing twice.
/// </summary>
public sealed class BatchProcessor(BatchState batches, IOptions<DeliveryOptions> options, TimeProvider time) : IProcessor<TakedownNotice>, IPartitionAware
{
    public async ValueTask ProcessAsync(Incoming<TakedownNotice> message, IOutput output, CancellationToken cancellationToken)
    {
        var n = message.Value;
        await batches.Gate.WaitAsync(cancellationToken);
        try
        {
            if (batches.State.TryGet(message.Partition, n.noticeId, out _)) return;
            var now = time.GetUtcNow().UtcDateTime;
            var recipient = NoticeBatch.RecipientKey(n.recipient.channel, n.recipient.address);
            var open = batches.State.EntriesOf(message.Partition).Select(e => e.Value)
                .Where(d => d.status == DeliveryStatus.RETRYING && d.attempt == 0 && d.nextAttemptAt > now && BatchState.RecipientKey(d) == recipient)
                .Select(d => d.nextAttemptAt).FirstOrDefault();
            var closes = open ?? now + options.Value.BatchWindow;
            batches.State.Put(output, message.Partition, n.noticeId, new NoticeDelivery
            {
                eventId = EventIds.Derive("notice-batched", n.noticeId),
                noticeId = n.noticeId, caseKey = n.caseKey, hosterId = n.hosterId, channel = n.recipient.channel, address = n.recipient.address,
                attempt = 0, status = DeliveryStatus.RETRYING, detail = $"waiting for the batch to {n.recipient.address} to close at {closes:O}",
                nextAttemptAt = closes, at = now, notice = n,
            });
        }
        finally
        {
            batches.Gate.Release();
        }
    }

    public void OnAssigned(IReadOnlyCollection<TopicPartition> partitions) => StageTimers.WithGate(batches.Gate, () => batches.State.Restore(partitions));

    public void OnRevoked(IReadOnlyCollection<TopicPartition> partitions) => StageTimers.WithGate(batches.Gate, () => batches.State.Drop(partitions));
}

/// <summary>
/// Delivers each batch when it closes (stage clock): one mail or POST for all members (a batch of one as the plain
/// notice), then per member the outcome on notices.deliveries.v1 (REMINDER_SENT on sla.events.v1 for a reminder) and in
/// the state, acknowledged before memory changes. A crash after sending and before recording leaves the members
/// waiting; the same members make the same batch id, so the re-sent mail or POST carries the same Message-ID or
/// Idempotency-Key. Transient failures are retried with the delivery backoff (Takedown:Delivery:*); a batch being
/// retried takes no new members.
/// </summary>
public sealed class BatchLoop(BatchState batches, NoticeDeliverer deliverer, EventPublisher publisher, IOptions<DeliveryOptions> options,
    TimeProvider time, ILogger<BatchLoop> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow().UtcDateTime;
            var waiting = batches.Waiting().ToList();
            foreach (var batch in waiting.Where(g => g.Key.Due is null || g.Key.Due <= now).OrderBy(g => g.Key.Due))
            {
                if (stoppingToken.IsCancellationRequested) return;
                await DeliverAsync([.. batch], stoppingToken);
            }
            if (!await StageTimers.WaitAsync(time, now, waiting.Where(g => g.Key.Due > now).Select(g => g.Key.Due).Min(), stoppingToken)) return;
        }
    }

    private async Task DeliverAsync(List<NoticeDelivery> snapshot, CancellationToken ct)
    {
        if (!await StageTimers.EnterAsync(batches.Gate, ct)) return;
        try
        {
            var partition = -1;
            foreach (var d in snapshot)
                if (!batches.State.TryFind(d.noticeId, out var current, out partition) || !ReferenceEquals(current, d)) return; // changed meanwhile
            var members = snapshot.Select(d => d.notice!).OrderBy(n => n.issuedAt).ThenBy(n => n.noticeId, StringComparer.Ordinal).ToList();
            var batch = new NoticeBatch(members);
            var attempt = snapshot[0].attempt + 1;
            var result = await deliverer.DeliverAsync(batch, ct);
            var now = time.GetUtcNow().UtcDateTime;
            var (final, next) = DeliveryRecords.Schedule(result, attempt, options.Value, now);
            if (members.Count > 1) final = final with { Detail = $"batch {batch.BatchId} of {members.Count} notices: {final.Detail}" };
            // The members' records go out together, not one acknowledgement at a time.
            var deliveries = members.Select(n => (Notice: n, Delivery: DeliveryRecords.Event(n, attempt, final, now, next))).ToList();
            await Task.WhenAll(deliveries.Select(m => DeliveryRecords.RecordAsync(publisher, batches.State, partition, m.Notice, m.Delivery, ct)));
            foreach (var (_, delivery) in deliveries) DeliveryRecords.Count(delivery, now);
            BatchMetrics.Batches.WithLabels(batch.Lead.recipient.channel.ToString(), final.Status.ToString()).Inc();
            if (final.Status != DeliveryStatus.RETRYING) BatchMetrics.Size.Observe(members.Count);
            if (final.Status is DeliveryStatus.FAILED or DeliveryStatus.BOUNCED)
                log.LogError("Batch {BatchId} ({Count} notices) to {Recipient} {Status}: {Detail}", batch.BatchId, members.Count, batch.Lead.recipient.address, final.Status, final.Detail);
            else if (final.Status == DeliveryStatus.RETRYING)
                log.LogWarning("Batch {BatchId}: attempt {Attempt} failed ({Detail}); next at {Next:O}", batch.BatchId, attempt,
                    final.Detail, next?.ToString("O", CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not all recorded: the unrecorded members still wait and are sent again under the same batch id, unless the
            // recorded ones changed the member set (then the recipient can tell by the notice ids it already has).
            log.LogError("Recording a batch delivery failed: {Error}; the members not recorded are delivered again", e.Message);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            batches.Gate.Release();
        }
    }
}
