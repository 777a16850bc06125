using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

/// <summary>The batching stage's state: per notice id, either waiting in an open batch (RETRYING, carrying the notice,
/// <c>nextAttemptAt</c> = when the batch closes or is retried) or its last delivery status. Lives in the compacted topic
/// takedown.batches.v1, co-partitioned with takedown.batching.v1 (keyed by recipient, so one recipient's batches live
/// on one instance). A batch's members are fixed once it closes: a notice joins only a batch that has not closed.</summary>
public sealed class BatchState(IOptions<KafkaOptions> kafka, IOptions<RetentionOptions> retention, AvroSerdes serdes, ILogger<BatchState> log)
{
    public PartitionedState<NoticeDelivery> State { get; } = new PartitionedState<NoticeDelivery>(Topics.TakedownBatches, kafka.Value, serdes, log)
        .ExpiresAt(d => retention.Value.Expiry(RetentionRules.Finished(d)));

    public static string RecipientKey(NoticeDelivery d) => NoticeBatch.RecipientKey(d.channel, d.address);

    /// <summary>The open batches: waiting members grouped by recipient and close time.</summary>
    public IEnumerable<IGrouping<(string Recipient, DateTime? Due), NoticeDelivery>> Waiting() =>
        State.Entries.Select(e => e.Value).Where(d => d.status == DeliveryStatus.RETRYING && d.notice is not null)
            .GroupBy(d => (RecipientKey(d), d.nextAttemptAt));
}

/// <summary>How long a recipient's notices are collected before they go out together: the contact directory entry's
/// <c>groupingHours</c> when above 0 (set with <c>pipeline contacts set --grouping-hours</c> or the console), else
/// Takedown:Delivery:BatchWindow. Grouping delays the mail, never the deadline: that was fixed when the notice was issued.</summary>
public sealed class GroupingWindows(ContactDirectory directory, IOptions<DeliveryOptions> options)
{
    public ContactDirectory Directory => directory;

    public TimeSpan For(NoticeRecipient recipient) =>
        directory.Find(recipient.channel, recipient.address) is { groupingHours: > 0.0 } entry ? TimeSpan.FromHours(entry.groupingHours.Value) : options.Value.BatchWindow;

    /// <summary>E-mail and webhook notices whose recipient has a grouping window go through the batching stage.</summary>
    public bool Groups(NoticeRecipient recipient) =>
        recipient.channel is NoticeChannel.EMAIL or NoticeChannel.WEBHOOK && For(recipient) > TimeSpan.Zero;
}

internal static class BatchMetrics
{
    public static readonly Counter Batches = Metrics.CreateCounter(
        "pipeline_takedown_batches_total", "Batches delivered (one mail or webhook POST each), by channel and outcome; a batch of one is a plain notice.",
        new CounterConfiguration { LabelNames = ["channel", "status"] });
    public static readonly Histogram Size = Metrics.CreateHistogram(
        "pipeline_takedown_batch_size_notices", "Notices per delivered batch.", new HistogramConfiguration { Buckets = [1, 2, 5, 10, 20, 50, 100] });
    public static readonly Counter Cancelled = Metrics.CreateCounter(
        "pipeline_takedown_notices_cancelled_total", "Notices recorded CANCELLED, never sent, by kind: FIRST and REMINDER taken out of an open batch because the withdrawal of their first notice arrived before it closed; WITHDRAWAL not needed because the notice it withdraws never left.",
        new CounterConfiguration { LabelNames = ["kind"] });
}

/// <summary>
/// Collects e-mail and webhook notices per recipient: a notice joins the recipient's open batch while it is still open
/// (stage clock before its close, never attempted) and holds fewer than Takedown:Delivery:MaxBatchSize notices, otherwise
/// it opens one that closes the recipient's grouping window later (<see cref="GroupingWindows"/>: its directory entry's
/// groupingHours, else Takedown:Delivery:BatchWindow). A notice already known here (waiting or delivered) is ignored, so replays and re-deliveries of
/// notices.issued send nothing twice.
/// <para>When a batch closes (its members' timers, due at the close), one mail or POST goes out for all members (a
/// batch of one as the plain notice), off the stage thread (a platform effect for all members at once, so none of them
/// starts another); then per member the outcome on notices.deliveries.v1 (REMINDER_SENT on sla.events.v1 for a reminder)
/// and in the state, together. The batch id is fixed in every member's state when the batch first closes, before it is
/// sent; a crash after sending and before recording every outcome leaves those members waiting, and the re-sent mail or
/// POST (of all of them, or of the rest) carries the same Message-ID or Idempotency-Key. Transient failures
/// are retried with the delivery backoff (Takedown:Delivery:*); a batch being retried takes no new members.</para>
/// <para>A WITHDRAWAL whose first notice still waits in an open batch (not closed, never attempted) cancels it: the first
/// notice leaves its batch unsent and the withdrawal is not sent either (<see cref="Cancel"/>).</para>
/// </summary>
public sealed class BatchProcessor : IProcessor<TakedownNotice>, IStateful, IWarmUp, IBackgroundDependent
{
    private readonly BatchState batches;
    private readonly GroupingWindows windows;
    private readonly NoticeDeliverer deliverer;
    private readonly DeliveryOptions settings;
    private readonly TimeProvider time;
    private readonly ILogger log;

    public BatchProcessor(BatchState batches, NoticeDeliverer deliverer, GroupingWindows windows, IOptions<DeliveryOptions> options, TimeProvider time, ILogger<BatchProcessor> log)
    {
        this.batches = batches;
        this.windows = windows;
        this.deliverer = deliverer;
        settings = options.Value;
        this.time = time;
        this.log = log;
        batches.State.WithEffectConcurrency(settings.RetryConcurrency).OnDue(DeliveryState.AttemptDue, Close);
    }

    public IEnumerable<IStateStore> Stores => [batches.State];

    /// <summary>The contact directory (the recipients' grouping hours) is read before the first notice is batched.</summary>
    public Task WarmUpAsync(CancellationToken cancellationToken) => windows.Directory.StartAsync(cancellationToken);

    public IEnumerable<BackgroundWork> BackgroundWork => windows.Directory.Background is { } b ? [b] : [];

    public ValueTask ProcessAsync(Incoming<TakedownNotice> message, IOutput output, CancellationToken cancellationToken)
    {
        var n = message.Value;
        if (batches.State.TryGet(message.Partition, n.noticeId, out _)) return ValueTask.CompletedTask;
        var now = time.GetUtcNow().UtcDateTime;
        if (n.kind == NoticeKind.WITHDRAWAL && Cancel(n, message.Partition, now, output)) return ValueTask.CompletedTask;
        var recipient = NoticeBatch.RecipientKey(n.recipient.channel, n.recipient.address);
        // The recipient's open batches (by their close time) and how full each is: join the earliest with room, or open
        // a new one, closing after the window and after every open one (a distinct close time is a distinct batch).
        var open = batches.State.EntriesOf(message.Partition).Select(e => e.Value)
            .Where(d => d.status == DeliveryStatus.RETRYING && d.attempt == 0 && d.nextAttemptAt > now && BatchState.RecipientKey(d) == recipient)
            .GroupBy(d => d.nextAttemptAt!.Value)
            .Select(g => (Closes: g.Key, Members: g.Count(), Id: g.Select(d => d.batchId).FirstOrDefault(b => b is not null))).ToList();
        var room = open.Where(b => b.Members < settings.MaxBatchSize).OrderBy(b => b.Closes).Cast<(DateTime Closes, int Members, string? Id)?>().FirstOrDefault();
        var closes = room?.Closes ?? Later(now + windows.For(n.recipient), open.Count == 0 ? null : open.Max(b => b.Closes).AddMilliseconds(1));
        var waiting = DeliveryState.Queued(n, now, closes, $"waiting for the batch to {n.recipient.address} to close at {closes:O}");
        waiting.eventId = EventIds.Derive("notice-batched", n.noticeId);
        // The batch id is fixed when the batch opens (recipient, close time, the notice that opened it) and kept in every
        // member's state: whoever is left of it after a crash goes out again under the same id.
        waiting.batchId = room is { } joined ? joined.Id : EventIds.Derive("notice-batch", recipient, closes.Ticks.ToString(CultureInfo.InvariantCulture), n.noticeId);
        batches.State.Put(output, message.Partition, n.noticeId, waiting);
        return ValueTask.CompletedTask;
    }

    /// <summary>A withdrawal reached the batching stage. The notices it makes pointless that still wait in an open batch
    /// (stage clock before its close, never attempted: nothing of the batch has left) are taken out of it unsent: its
    /// first notice, and reminders of that notice. They are recorded CANCELLED on notices.deliveries.v1 and in the state
    /// (without a batch id, so that the batch's other members go out as they would have without them, a lone one as the
    /// plain notice). When the first notice itself was taken out, the recipient never heard of it: the withdrawal is not
    /// needed and is recorded CANCELLED too (true). Otherwise (the first notice left earlier, or its batch closed already)
    /// the withdrawal is batched and sent like any notice (false). The sla and recheck stages close the withdrawn notice on
    /// the withdrawal on notices.issued.v1, delivered or not, so neither waits for the removal of a notice that never left.</summary>
    private bool Cancel(TakedownNotice withdrawal, int partition, DateTime now, IOutput output)
    {
        if (withdrawal.originalNoticeId is not { } firstId) return false;
        var waiting = batches.State.EntriesOf(partition).Select(e => e.Value)
            .Where(d => d.status == DeliveryStatus.RETRYING && d.attempt == 0 && d.nextAttemptAt > now && d.notice is { } w
                        && (w.noticeId == firstId || (w.kind == NoticeKind.REMINDER && w.originalNoticeId == firstId)))
            .ToList();
        if (waiting.Count == 0) return false;
        var unsent = waiting.Any(d => d.noticeId == firstId);
        var records = waiting.Select(d => (d.notice!, Cancelled(d.notice!, now,
            $"not sent: {d.notice!.kind} taken out of batch {d.batchId ?? "(unnamed)"} to {d.address} (closing {d.nextAttemptAt:O}) before it left, "
            + $"because notice {firstId} is withdrawn ({withdrawal.noticeId})"
            + (unsent ? "; the recipient never received it, and the withdrawal is not sent either" : "")))).ToList();
        if (unsent)
            records.Add((withdrawal, Cancelled(withdrawal, now,
                $"not sent, not needed: the notice it withdraws ({firstId}) was taken out of its batch before it left; the recipient never received it")));
        foreach (var (n, delivery) in records) DeliveryRecords.Record(output, batches.State, partition, n, delivery);
        output.AfterCommit(() =>
        {
            foreach (var (n, delivery) in records)
            {
                BatchMetrics.Cancelled.WithLabels(n.kind.ToString()).Inc();
                log.LogInformation("Notice {NoticeId} ({Kind}) to {Recipient} cancelled: {Detail}", n.noticeId, n.kind, n.recipient.address, delivery.detail);
            }
        });
        return unsent;
    }

    /// <summary>The final record of a notice that is not sent and never will be (no attempt was made: attempt 0).</summary>
    private static NoticeDelivery Cancelled(TakedownNotice n, DateTime at, string detail)
    {
        var record = DeliveryRecords.Event(n, 0, new DeliveryResult(DeliveryStatus.CANCELLED, detail), at, nextAttemptAt: null);
        record.eventId = EventIds.Derive("notice-cancelled", n.noticeId);
        return record;
    }

    private static DateTime Later(DateTime a, DateTime? b) => b is { } x && x > a ? x : a;

    /// <summary>A batch closed (or its retry is due): the members waiting for the same recipient and time go out as one.</summary>
    private void Close(TimerFired<NoticeDelivery> timer, IOutput output)
    {
        var recipient = BatchState.RecipientKey(timer.Value);
        var members = batches.State.EntriesOf(timer.Partition).Select(e => e.Value)
            .Where(d => d.status == DeliveryStatus.RETRYING && d.notice is not null && BatchState.RecipientKey(d) == recipient
                        && d.nextAttemptAt == timer.Value.nextAttemptAt && d.attempt == timer.Value.attempt)
            .ToList();
        var notices = members.Select(d => d.notice!).OrderBy(n => n.issuedAt).ThenBy(n => n.noticeId, StringComparer.Ordinal).ToList();
        // The id the batch got when it opened (entries written before 2026-12-04 carry none: derived from the members).
        // A batch of one goes out as the plain notice — unless it had more members, whose outcomes a crash recorded
        // before this one's: then it is the rest of that batch, under its id.
        var id = members.Select(m => m.batchId).FirstOrDefault(b => b is not null);
        var plain = id is null
            ? members.Count == 1
            : batches.State.EntriesOf(timer.Partition).Count(e => e.Value.batchId == id) == 1;
        var batch = new NoticeBatch(notices, id) { Plain = plain };
        var attempt = timer.Value.attempt + 1;
        batches.State.StartEffect(output, timer.Partition, members.Select(m => m.noticeId).ToList(), ct => deliverer.DeliverAsync(batch, ct),
            (results, o) => Record(batch, attempt, results, timer.Partition, o));
    }

    /// <summary>Records each member's outcome: MOVED for a member whose host moved (found by the re-lookup before the batch
    /// went out; it was left out of the mail or POST), the batch's result for the others.</summary>
    private void Record(NoticeBatch batch, int attempt, IReadOnlyDictionary<string, DeliveryResult> results, int partition, IOutput output)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var members = batch.Members;
        var sent = members.Where(n => results[n.noticeId].Status != DeliveryStatus.MOVED).ToList();
        var deliveries = new List<(TakedownNotice Notice, NoticeDelivery Delivery, DeliveryStatus Status)>();
        DeliveryResult? batchResult = null;
        DateTime? batchNext = null;
        foreach (var n in members)
        {
            var (final, next) = DeliveryRecords.Schedule(results[n.noticeId], attempt, settings, now);
            if (final.Status != DeliveryStatus.MOVED)
            {
                if (!batch.Plain) final = final with { Detail = $"batch {batch.BatchId} of {sent.Count} notices: {final.Detail}" };
                batchResult ??= final;
                batchNext ??= next;
            }
            deliveries.Add((n, DeliveryRecords.Event(n, attempt, final, now, next, batch.Plain ? null : batch.BatchId), final.Status));
        }
        foreach (var (n, delivery, _) in deliveries) DeliveryRecords.Record(output, batches.State, partition, n, delivery);
        output.AfterCommit(() =>
        {
            foreach (var (_, delivery, _) in deliveries) DeliveryRecords.Count(delivery, now);
            foreach (var (n, delivery, _) in deliveries.Where(d => d.Status == DeliveryStatus.MOVED))
                log.LogWarning("Notice {NoticeId} to {Recipient} not sent: {Detail}", n.noticeId, n.recipient.address, delivery.detail);
            if (batchResult is not { } final) return;
            BatchMetrics.Batches.WithLabels(batch.Lead.recipient.channel.ToString(), final.Status.ToString()).Inc();
            if (final.Status != DeliveryStatus.RETRYING) BatchMetrics.Size.Observe(sent.Count);
            if (final.Status is DeliveryStatus.FAILED or DeliveryStatus.BOUNCED)
                log.LogError("Batch {BatchId} ({Count} notices) to {Recipient} {Status}: {Detail}", batch.BatchId, sent.Count, batch.Lead.recipient.address, final.Status, final.Detail);
            else if (final.Status == DeliveryStatus.RETRYING)
                log.LogWarning("Batch {BatchId}: attempt {Attempt} failed ({Detail}); next at {Next:O}", batch.BatchId, attempt,
                    final.Detail, batchNext?.ToString("O", CultureInfo.InvariantCulture));
        });
    }
}
