using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

/// <summary>Routes a notice to the channel the hoster prefers, after the re-lookup before sending (when configured:
/// <see cref="RelookupGate"/>): a notice whose host moved is not sent but answered MOVED.</summary>
public sealed class NoticeDeliverer(EmailChannel email, WebhookChannel webhook, RelookupGate? relookup = null)
{
    public const string LookupFailedNote = " (re-lookup before sending failed: sent on the routing-time hosting)";

    /// <summary>Whether a notice is looked up again before it leaves.</summary>
    public bool Relooks(TakedownNotice notice) => relookup is { Enabled: true } && RelookupGate.Checked(notice);

    /// <summary>A topic-channel notice is published by its SENT record on notices.deliveries.v1, which carries the notice:
    /// the recipient consumes that topic (its channel TOPIC and its address), so a notice whose host moved (MOVED) or that
    /// was never attempted reaches nobody.</summary>
    public static DeliveryResult Published() =>
        DeliveryResult.Sent($"published on {Topics.NoticeDeliveries} with this record (the recipient consumes the topic)");

    public async Task<DeliveryResult> DeliverAsync(TakedownNotice notice, CancellationToken ct)
    {
        var check = relookup is { Enabled: true } ? await relookup.CheckAsync(notice, ct) : RelookupOutcome.Send;
        if (check.Moved is { } moved) return moved;
        var result = await SendAsync(notice, ct);
        return check.LookupFailed ? LookupFailed(result) : result;
    }

    /// <summary>Each member looked up again first; the members whose host moved are answered MOVED and left out, the rest go
    /// out together (under the batch's id, as before). Per notice id, its result.</summary>
    public async Task<IReadOnlyDictionary<string, DeliveryResult>> DeliverAsync(NoticeBatch batch, CancellationToken ct)
    {
        var checks = relookup is { Enabled: true } ? await relookup.CheckAsync(batch.Members, ct) : null;
        var results = new Dictionary<string, DeliveryResult>(StringComparer.Ordinal);
        var send = new List<TakedownNotice>();
        foreach (var n in batch.Members)
        {
            if (checks?[n.noticeId].Moved is { } moved) results[n.noticeId] = moved;
            else send.Add(n);
        }
        if (send.Count == 0) return results;
        var rest = send.Count == batch.Members.Count ? batch : batch with { Members = send };
        var result = await SendAsync(rest, ct);
        foreach (var n in send) results[n.noticeId] = checks?[n.noticeId].LookupFailed == true ? LookupFailed(result) : result;
        return results;
    }

    private static DeliveryResult LookupFailed(DeliveryResult result)
    {
        RelookupMetrics.LookupFailed.Inc();
        return result with { Detail = result.Detail + LookupFailedNote };
    }

    private Task<DeliveryResult> SendAsync(TakedownNotice notice, CancellationToken ct) => notice.recipient.channel switch
    {
        NoticeChannel.EMAIL => email.DeliverAsync(notice, ct),
        NoticeChannel.WEBHOOK => webhook.DeliverAsync(notice, ct),
        NoticeChannel.TOPIC => Task.FromResult(Published()),
        _ => Task.FromResult(NoChannel(notice)),
    };

    /// <summary>A batch of one goes out as the plain notice (unless it was sent as a batch before: see <see cref="NoticeBatch"/>).</summary>
    private Task<DeliveryResult> SendAsync(NoticeBatch batch, CancellationToken ct) => batch.Plain ? SendAsync(batch.Lead, ct) : batch.Lead.recipient.channel switch
    {
        NoticeChannel.EMAIL => email.DeliverAsync(batch, ct),
        NoticeChannel.WEBHOOK => webhook.DeliverAsync(batch, ct),
        _ => Task.FromResult(NoChannel(batch.Lead)),
    };

    private static DeliveryResult NoChannel(TakedownNotice n) =>
        DeliveryResult.Failed($"no delivery channel for {n.recipient.name} ({n.recipient.channel}); a person must find one");
}

/// <summary>The delivery stage's state: per notice id the last delivery record, carrying the notice while an attempt is
/// pending (queued, or a retry). Lives in the compacted topic takedown.delivery-state.v1, co-partitioned with
/// notices.issued.v1.</summary>
public sealed class DeliveryState(IOptions<KafkaOptions> kafka, IOptions<RetentionOptions> retention, AvroSerdes serdes, ILogger<DeliveryState> log)
{
    public PartitionedState<NoticeDelivery> State { get; } = new PartitionedState<NoticeDelivery>(Topics.TakedownDeliveryState, kafka.Value, serdes, log)
        .ExpiresAt(d => retention.Value.Expiry(RetentionRules.Finished(d)));

    /// <summary>When an entry's next attempt is due: a pending one (RETRYING, carrying its notice) at its nextAttemptAt
    /// (now, when none is set); a final one never.</summary>
    public static DateTime? AttemptDue(NoticeDelivery d) =>
        d.status == DeliveryStatus.RETRYING && d.notice is not null ? d.nextAttemptAt ?? DateTime.MinValue : null;

    /// <summary>A notice taken for delivery, its first attempt not yet made.</summary>
    public static NoticeDelivery Queued(TakedownNotice n, DateTime at, DateTime due, string detail) => new()
    {
        eventId = EventIds.Derive("notice-queued", n.noticeId),
        noticeId = n.noticeId, caseKey = n.caseKey, hosterId = n.hosterId, channel = n.recipient.channel, address = n.recipient.address,
        attempt = 0, status = DeliveryStatus.RETRYING, detail = detail, nextAttemptAt = due, at = at, notice = n,
    };
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
    public static NoticeDelivery Event(TakedownNotice n, int attempt, DeliveryResult result, DateTime at, DateTime? nextAttemptAt, string? batchId = null) => new()
    {
        batchId = batchId,
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
        // MOVED: the notice not sent, for the stages that re-route and close it; SENT on the topic channel: the publication itself
        notice = result.Status == DeliveryStatus.MOVED || (result.Status == DeliveryStatus.SENT && n.recipient.channel == NoticeChannel.TOPIC) ? n : null,
        movedTo = result.MovedTo,
    };

    public static NoticeDelivery StateOf(NoticeDelivery e, TakedownNotice n) => new()
    {
        eventId = e.eventId, noticeId = e.noticeId, caseKey = e.caseKey, hosterId = e.hosterId, channel = e.channel, address = e.address,
        attempt = e.attempt, status = e.status, detail = e.detail, nextAttemptAt = e.nextAttemptAt, at = e.at,
        notice = e.status == DeliveryStatus.RETRYING ? n : null, // the notice is kept only while it must be retried
        batchId = e.batchId,
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

    /// <summary>Records an attempt: the delivery event, REMINDER_SENT for a delivered reminder, and the state record,
    /// all through one output (they go out together, with the state change).</summary>
    public static void Record(IOutput output, PartitionedState<NoticeDelivery> state, int partition, TakedownNotice n, NoticeDelivery delivery)
    {
        output.Send(Topics.NoticeDeliveries, n.caseKey, delivery);
        if (ReminderSent(delivery, n) is { } sent) output.Send(Topics.SlaEvents, n.caseKey, sent);
        state.Put(output, partition, n.noticeId, StateOf(delivery, n));
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
        if (e.status == DeliveryStatus.MOVED) RelookupMetrics.Moved.WithLabels(
            e.movedTo is { hosterId: { } now } && !string.Equals(now, e.hosterId, StringComparison.OrdinalIgnoreCase) ? "hoster" : "country").Inc();
        if (e.status == DeliveryStatus.SENT) DeliveryMetrics.LastSent.Set(new DateTimeOffset(at).ToUnixTimeMilliseconds() / 1000.0);
    }
}

/// <summary>
/// Delivers every issued notice once, by the recipient's channel. Before taking a notice it looks the notice id up in the
/// delivery state, so a replay skips notices already taken. An e-mail or webhook notice is taken by writing it to the
/// state as queued (its offset is stored once Kafka holds that); the entry's timer, due at once, starts the attempt off
/// the stage thread (a platform effect, at most Takedown:Delivery:RetryConcurrency at a time), and the attempt's outcome
/// (event + state) is written when it ends. A transient failure schedules the next attempt in the same entry, with
/// exponential backoff, so a hoster whose server is down delays only its own notices. The crash window between "the
/// server accepted it" and "the record is acknowledged" remains; for it the recipient gets the same Message-ID /
/// Idempotency-Key again.
/// With a grouping window for the recipient (its directory entry's groupingHours, else Takedown:Delivery:BatchWindow
/// above zero), e-mail and webhook notices are instead forwarded, keyed by recipient,
/// to takedown.batching.v1, where <see cref="BatchProcessor"/> delivers them once, grouped.
/// </summary>
public sealed class DeliveryProcessor : IProcessor<TakedownNotice>, IStateful, IWarmUp
{
    private readonly DeliveryState store;
    private readonly GroupingWindows windows;
    private readonly NoticeDeliverer deliverer;
    private readonly DeliveryOptions settings;
    private readonly TimeProvider time;
    private readonly ILogger log;

    public DeliveryProcessor(DeliveryState store, NoticeDeliverer deliverer, GroupingWindows windows, IOptions<DeliveryOptions> options, TimeProvider time, ILogger<DeliveryProcessor> log)
    {
        this.store = store;
        this.windows = windows;
        this.deliverer = deliverer;
        settings = options.Value;
        this.time = time;
        this.log = log;
        store.State.WithEffectConcurrency(settings.RetryConcurrency).OnDue(DeliveryState.AttemptDue, Attempt);
        Metrics.DefaultRegistry.AddBeforeCollectCallback(() => DeliveryMetrics.RetriesPending.Set(
            store.State.Entries.Count(e => e.Value.status == DeliveryStatus.RETRYING && e.Value.attempt > 0 && e.Value.notice is not null)));
    }

    public IEnumerable<IStateStore> Stores => [store.State];

    /// <summary>The contact directory (whose recipients group their notices) is read before the first notice.</summary>
    public Task WarmUpAsync(CancellationToken cancellationToken) => windows.Directory.StartAsync(cancellationToken);

    public ValueTask ProcessAsync(Incoming<TakedownNotice> message, IOutput output, CancellationToken cancellationToken)
    {
        var n = message.Value;
        if (n.policeHold)
        {
            log.LogWarning("Notice {NoticeId} carries a police hold and is not delivered", n.noticeId);
            return ValueTask.CompletedTask;
        }
        if (store.State.TryGet(message.Partition, n.noticeId, out var known))
        {
            DeliveryMetrics.Skipped.Inc();
            log.LogDebug("Notice {NoticeId} already {Status} (attempt {Attempt}); not sent again", n.noticeId, known.status, known.attempt);
            return ValueTask.CompletedTask;
        }
        if (windows.Groups(n.recipient))
        {
            // Re-keyed by recipient for the batching stage, which delivers it (alone or with others) once.
            output.Send(Topics.TakedownBatching, NoticeBatch.RecipientKey(n.recipient.channel, n.recipient.address), n);
            return ValueTask.CompletedTask;
        }
        var now = time.GetUtcNow().UtcDateTime;
        if (n.recipient.channel == NoticeChannel.TOPIC && !deliverer.Relooks(n))
        {
            // Nothing to look up: published at once, on the stage thread (the SENT record carries the notice).
            Record(n, 1, NoticeDeliverer.Published(), message.Partition, output);
            return ValueTask.CompletedTask;
        }
        store.State.Put(output, message.Partition, n.noticeId, DeliveryState.Queued(n, now, now, $"queued for delivery by {n.recipient.channel}"));
        return ValueTask.CompletedTask;
    }

    /// <summary>An entry's attempt is due: send it off the stage thread, record the outcome when it ends.</summary>
    private void Attempt(TimerFired<NoticeDelivery> timer, IOutput output)
    {
        var n = timer.Value.notice!;
        var attempt = timer.Value.attempt + 1;
        store.State.StartEffect(output, timer.Partition, timer.Key, ct => deliverer.DeliverAsync(n, ct), (result, o) => Record(n, attempt, result, timer.Partition, o));
    }

    private void Record(TakedownNotice n, int attempt, DeliveryResult result, int partition, IOutput output)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var (final, next) = DeliveryRecords.Schedule(result, attempt, settings, now);
        var delivery = DeliveryRecords.Event(n, attempt, final, now, next);
        DeliveryRecords.Record(output, store.State, partition, n, delivery);
        output.AfterCommit(() =>
        {
            DeliveryRecords.Count(delivery, now);
            if (final.Status is DeliveryStatus.FAILED or DeliveryStatus.BOUNCED)
                log.LogError("Notice {NoticeId} to {Recipient} {Status} after {Attempt} attempt(s): {Detail}", n.noticeId, n.recipient.address, final.Status, attempt, final.Detail);
            else if (final.Status == DeliveryStatus.MOVED)
                log.LogWarning("Notice {NoticeId} to {Recipient} not sent: {Detail}", n.noticeId, n.recipient.address, final.Detail);
            else if (final.Status == DeliveryStatus.RETRYING)
                log.LogWarning("Notice {NoticeId}: attempt {Attempt} failed ({Detail}); next at {Next:O}", n.noticeId, attempt, final.Detail, next);
        });
    }
}
