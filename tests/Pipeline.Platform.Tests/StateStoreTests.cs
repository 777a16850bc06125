using System.Collections.Concurrent;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

/// <summary>The platform's keyed state stores and timers, run by a real processor host against the embedded cluster:
/// a change belongs to its processing call (discarded when the call fails), and a timer fires once per due time on the
/// stage's clock, on the stage's thread, across a restart.</summary>
public sealed class StateStoreTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private static readonly DateTime Start = new(2026, 1, 5, 9, 30, 0, DateTimeKind.Utc);

    [Fact]
    public async Task A_state_change_of_a_call_that_fails_is_discarded_so_the_retry_starts_from_the_state_before_it()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("state-retry");
        var topic = StateTopic(h);
        var store = new PartitionedState<ReportSubmitted>(topic, h.Kafka, h.Serdes, NullLogger.Instance);
        var processor = new StatefulProcessor(store, TimeProvider.System) { FailFirstAttempt = true };
        var inputs = Harness.Submitted("retry", 40).ToList();
        await h.PublishAsync(inputs);

        var app = h.BuildHost(stage, processor);
        await app.StartAsync();
        var outputs = await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadAtLeastAsync(40, Timeout);

        Assert.Equal(40, outputs.Select(o => o.Value.eventId).Distinct().Count());
        Assert.All(inputs, i => Assert.Equal(2, processor.Attempts[i.report.reportId]));
        // The first attempt put the entry and then failed: its retry must not find it.
        Assert.Empty(processor.SawOwnFailedChange);
        Assert.Equal(40, store.Count);
        // Nothing of the failed attempts reached the changelog: one record per report.
        var reader = h.Reader<ReportSubmitted>(topic, Partitions);
        var changelog = await reader.ReadAtLeastAsync(40, Timeout, settle: TimeSpan.FromMilliseconds(500));
        Assert.Equal(40, changelog.Count);
        // Fencing: the member wrote a fence to each state partition on assignment, and each state record carries the
        // offset of its partition's fence as the writer's epoch.
        var fences = reader.Tombstones.Where(t => t.Key == StateFence.Key).ToDictionary(t => t.Position.Partition.Value, t => t.Position.Offset.Value);
        Assert.Equal(Partitions, fences.Count);
        Assert.All(changelog, r => Assert.Equal(fences[r.Position.Partition.Value].ToString(System.Globalization.CultureInfo.InvariantCulture), Harness.Header(r.Headers, StateFence.EpochHeader)));
    }

    [Fact]
    public async Task A_timer_fires_once_on_the_stage_clock_and_a_restarted_stage_neither_loses_nor_repeats_it()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("state-timer");
        var topic = StateTopic(h);
        var clock = new ManualClock(Start);
        h.ConfigureServices = s => s.AddSingleton<TimeProvider>(clock);

        // First life: every report gets an entry due an hour after it was read; half of them are due before a restart.
        var early = Harness.Submitted("early", 30).ToList();
        var late = Harness.Submitted("late", 30).ToList();
        var firedTopic = OutputTopic(h);
        var first = new StatefulProcessor(new PartitionedState<ReportSubmitted>(topic, h.Kafka, h.Serdes, NullLogger.Instance), clock) { FiredTopic = firedTopic };
        var app = h.BuildHost(stage, first);
        await app.StartAsync();
        await h.PublishAsync(early);
        var accepted = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        await accepted.ReadAtLeastAsync(30, Timeout);
        clock.Advance(TimeSpan.FromMinutes(30));
        await h.PublishAsync(late);
        await accepted.ReadAtLeastAsync(60, Timeout);

        var fired = h.Reader<ReportAccepted>(first.FiredTopic);
        clock.Advance(TimeSpan.FromMinutes(45)); // early ones are due (after 60 min), late ones not (after 45 min)
        var firedEarly = await fired.ReadAtLeastAsync(30, Timeout);
        Assert.Equal(early.Select(e => e.report.reportId).Order(), firedEarly.Select(f => f.Key).Order());
        Assert.All(firedEarly, f => Assert.StartsWith("timer:" + topic + ":", Harness.Header(f.Headers, "pipeline.origin"), StringComparison.Ordinal));
        Assert.All(firedEarly, f => Assert.Equal($"stage-{stage}", f.Value.report.sourceReference));
        await app.StopAsync();

        // Second life: the state is restored from the changelog; the late timers fire once, the early ones not again.
        var second = new StatefulProcessor(new PartitionedState<ReportSubmitted>(topic, h.Kafka, h.Serdes, NullLogger.Instance), clock) { FiredTopic = firedTopic };
        var restarted = h.BuildHost(stage, second);
        await restarted.StartAsync();
        clock.Advance(TimeSpan.FromHours(2));
        var all = await fired.ReadAtLeastAsync(60, Timeout);
        Assert.Equal(late.Select(e => e.report.reportId).Order(), all.Skip(30).Select(f => f.Key).Order());
        // The end marker: one more report and its timer; nothing else may have fired in between.
        var marker = Harness.Submitted("marker");
        await h.PublishAsync([marker]);
        await accepted.ReadAtLeastAsync(61, Timeout);
        clock.Advance(TimeSpan.FromHours(2));
        var final = await fired.ReadAtLeastAsync(61, Timeout);
        Assert.Equal(61, final.Count);
        Assert.Equal(61, final.Select(f => f.Key).Distinct().Count());
        Assert.Equal("marker", final[^1].Key);
        Assert.Equal(0, second.Store.Count); // every fired entry was deleted with its output
    }

    [Fact]
    public async Task An_entry_past_its_retention_is_deleted_by_its_own_timer_even_after_its_handler_left_it_unchanged_and_stays_deleted_after_a_restart()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("state-expiry");
        var topic = StateTopic(h);
        var clock = new ManualClock(Start);
        h.ConfigureServices = s => s.AddSingleton<TimeProvider>(clock);
        var firedTopic = OutputTopic(h);
        PartitionedState<ReportSubmitted> Store() => new PartitionedState<ReportSubmitted>(topic, h.Kafka, h.Serdes, NullLogger.Instance)
            .ExpiresAt(v => v.submittedAt.AddDays(180));
        var inputs = Harness.Submitted("expiring", 20).ToList();

        // The entry's own timer (an hour after it was read) fires and leaves the entry as it is; 180 days on, it expires.
        var first = new StatefulProcessor(Store(), clock) { FiredTopic = firedTopic, KeepEntryWhenFired = true };
        var app = h.BuildHost(stage, first);
        await app.StartAsync();
        await h.PublishAsync(inputs);
        await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadAtLeastAsync(20, Timeout);
        clock.Advance(TimeSpan.FromHours(2));
        await h.Reader<ReportAccepted>(firedTopic).ReadAtLeastAsync(20, Timeout);
        Assert.Equal(20, first.Store.Count);

        clock.Advance(TimeSpan.FromDays(179));
        var reader = h.Reader<ReportSubmitted>(topic, Partitions);
        await reader.ReadAtLeastAsync(20, Timeout, settle: TimeSpan.FromMilliseconds(500));
        Assert.DoesNotContain(reader.Tombstones, t => t.Key != StateFence.Key); // not yet: 179 days
        clock.Advance(TimeSpan.FromDays(1));
        await TestSupport.Polling.Until(async () => (await reader.PollAsync(TimeSpan.FromMilliseconds(100))) is not null && reader.Tombstones.Count(t => t.Key != StateFence.Key) >= 20, Timeout,
            () => $"expiry tombstones on {topic}: {reader.Tombstones.Count(t => t.Key != StateFence.Key)} of 20");
        Assert.Equal(inputs.Select(i => i.report.reportId).Order(), reader.Tombstones.Where(t => t.Key != StateFence.Key).Select(t => t.Key).Order());
        Assert.All(reader.Tombstones.Where(t => t.Key != StateFence.Key), t => Assert.StartsWith("timer:" + topic + ":", Harness.Header(t.Headers, "pipeline.origin"), StringComparison.Ordinal));
        await TestSupport.Polling.Until(() => first.Store.Count == 0, Timeout, () => $"entries still held: {first.Store.Count}");
        await app.StopAsync();

        // A restarted stage restores nothing of them: the tombstone is the last record of each key.
        var second = new StatefulProcessor(Store(), clock) { FiredTopic = firedTopic, KeepEntryWhenFired = true };
        var restarted = h.BuildHost(stage, second);
        await restarted.StartAsync();
        await h.PublishAsync([Harness.Submitted("after-restart")]);
        await h.Reader<ReportAccepted>(Topics.ReportsAccepted).ReadAtLeastAsync(21, Timeout);
        Assert.Equal(1, second.Store.Count);
        await restarted.StopAsync();
    }

    [Fact]
    public async Task An_effect_runs_off_the_stage_thread_once_per_entry_while_its_timer_is_due_again_and_its_outcome_goes_out_with_the_state_change()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("state-effect");
        var topic = StateTopic(h);
        var firedTopic = OutputTopic(h);
        var store = new PartitionedState<ReportSubmitted>(topic, h.Kafka, h.Serdes, NullLogger.Instance);
        var processor = new EffectProcessor(store, firedTopic);
        var app = h.BuildHost(stage, processor);
        await app.StartAsync();

        // The first report's entry is due at once: its timer starts the work, which waits on the gate.
        var first = Harness.Submitted("effect");
        await h.PublishAsync([first], partition: 0);
        await Harness.Eventually(() => processor.Started == 1, Timeout, () => $"{processor.Started} effects started");
        Assert.NotEqual(processor.StageThread, processor.WorkThread);

        // The same report again puts the entry again with the same due time, while the work still runs: its timer must
        // wait for the work, and then finds the entry changed by the outcome, so the work is not started a second time.
        // All in partition 0, so the repeat is processed before the marker.
        await h.PublishAsync([first], partition: 0);
        var marker = Harness.Submitted("marker");
        await h.PublishAsync([marker], partition: 0); // another key, another entry: its work starts beside the first one's
        await Harness.Eventually(() => processor.Started == 2, Timeout, () => $"{processor.Started} effects started");
        processor.Gate.SetResult();

        var outcomes = await h.Reader<ReportAccepted>(firedTopic).ReadAtLeastAsync(2, Timeout, settle: TimeSpan.FromMilliseconds(500));
        Assert.Equal(["effect", "marker"], outcomes.Select(o => o.Key).Order());
        Assert.All(outcomes, o => Assert.StartsWith("effect:" + topic + ":", Harness.Header(o.Headers, "pipeline.origin"), StringComparison.Ordinal));
        Assert.Equal(2, processor.Started);
        await Harness.Eventually(() => store.Count == 2 && store.Entries.All(e => e.Value.report.sourceReference == "done"), Timeout,
            () => "the outcomes' state changes were not applied");
        Assert.Equal(2, ProcessorMetrics.EffectsCompleted.WithLabels(stage, topic).Value);
    }

    /// <summary>An effect acts on the world (a mail, a POST) on the strength of entries memory already holds; if one of
    /// their records were still in flight, a crash would bring the entry back different (the fault run: a batch mailed
    /// with a member whose record was lost, which then went out again in a new batch under a second Message-ID). So the
    /// work starts only once every state record written before it is acknowledged: here the broker refuses the next
    /// produce requests (retriable) for a few seconds, and the work must find the entry's record already in the topic.</summary>
    [Fact]
    public async Task An_effect_starts_only_once_the_state_records_written_before_it_are_acknowledged()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("state-durable");
        var topic = StateTopic(h);
        var store = new PartitionedState<ReportSubmitted>(topic, h.Kafka, h.Serdes, NullLogger.Instance);
        var processor = new DurableEffectProcessor(store, h)
        {
            // Once the fences are written: the next produce requests fail with a retriable error (≈ 3 s of retries).
            Assigned = () => h.Runtime.Cluster.PushRequestErrors(0, Enumerable.Repeat(ErrorCode.NotEnoughReplicas, 6).ToArray()),
        };
        await h.PublishAsync([Harness.Submitted("durable")], partition: 0);
        var app = h.BuildHost(stage, processor);
        await app.StartAsync();

        var (epoch, end) = await processor.Observed.Task.WaitAsync(Timeout);
        Assert.True(end >= epoch + 2, $"the effect started while the entry's record (after the fence at {epoch}) was not yet in the topic (end offset {end})");
        await app.StopAsync();
    }

    /// <summary>Puts each report in a store and starts an effect for it in the same call; the work reads the end offset of
    /// the entry's state partition.</summary>
    private sealed class DurableEffectProcessor(PartitionedState<ReportSubmitted> store, Harness h) : IProcessor<ReportSubmitted>, IStateful, IPartitionAware
    {
        public Action? Assigned { get; init; }
        public TaskCompletionSource<(long Epoch, long End)> Observed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public IEnumerable<IStateStore> Stores => [store];

        public void OnAssigned(IReadOnlyCollection<TopicPartition> partitions)
        {
            if (partitions.Count > 0) Assigned?.Invoke();
        }

        public void OnRevoked(IReadOnlyCollection<TopicPartition> partitions)
        {
        }

        public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken)
        {
            var id = message.Value.report.reportId;
            store.Put(output, message.Partition, id, message.Value);
            store.TryGetEpoch(message.Partition, out var epoch);
            store.StartEffect(output, message.Partition, id, _ =>
            {
                using var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = h.Kafka.BootstrapServers, GroupId = "end-" + Guid.NewGuid() }).Build();
                var end = c.QueryWatermarkOffsets(new TopicPartition(store.Topic, message.Partition), TimeSpan.FromSeconds(10)).High.Value;
                Observed.TrySetResult((epoch, end));
                return Task.FromResult(end);
            }, (_, _) => { });
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task A_restore_passes_over_what_a_fenced_member_wrote_after_its_successor_fenced_the_partition()
    {
        await using var h = await Harness.StartAsync();
        var topic = StateTopic(h);
        Task<long> Write(string key, ReportSubmitted? value, string? epochOrMember, bool fence = false) => WriteRaw(h, topic, key, value, epochOrMember, fence);

        var a = await Write(StateFence.Key, null, "member-a", fence: true);
        await Write("k1", Harness.Submitted("a-wrote-k1"), E(a));
        await Write("legacy", Harness.Submitted("no-epoch"), null); // written outside a host: no epoch, applied
        var b = await Write(StateFence.Key, null, "member-b", fence: true);
        await Write("k2", Harness.Submitted("b-wrote-k2"), E(b));
        await Write("k1", Harness.Submitted("a-wrote-k1-late"), E(a)); // member a had not noticed it lost the partition
        await Write("k3", Harness.Submitted("a-wrote-k3-late"), E(a));

        var store = new PartitionedState<ReportSubmitted>(topic, h.Kafka, h.Serdes, NullLogger.Instance);
        store.Restore([0]);

        Assert.True(store.TryGet(0, "k1", out var k1));
        Assert.Equal("a-wrote-k1", k1.report.reportId); // a's write before b's fence stands, its late one does not
        Assert.True(store.TryGet(0, "k2", out _));
        Assert.True(store.TryGet(0, "legacy", out _));
        Assert.False(store.TryGet(0, "k3", out _));
        Assert.False(store.TryGet(0, StateFence.Key, out _));
        Assert.Equal(2, store.Fenced);
    }

    /// <summary>The embedded cluster's coordinator can give a partition to a joining member while its owner, left out of
    /// that generation, keeps it (and, cooperatively rebalanced, is never assigned it again): the newcomer's fence then
    /// makes every later write of the owner "late". Seen in the scale-out test: a restore would have lost them all. The
    /// owner checks the partitions it kept after each rebalance, and writes its state again under a new fence.</summary>
    [Fact]
    public async Task A_member_that_kept_a_partition_another_member_fenced_writes_its_state_again_so_a_restore_rebuilds_exactly_its_state()
    {
        await using var h = await Harness.StartAsync();
        var topic = StateTopic(h);
        Task<long> Write(string key, ReportSubmitted? value, string? epochOrMember, bool fence = false) => WriteRaw(h, topic, key, value, epochOrMember, fence);
        long FenceAs(string member) => Write(StateFence.Key, null, member, fence: true).GetAwaiter().GetResult();

        var owner = new PartitionedState<ReportSubmitted>(topic, h.Kafka, h.Serdes, NullLogger.Instance);
        owner.Restore([0], (_, partitions) => partitions.ToDictionary(p => p, _ => FenceAs("member-a")));
        Assert.True(owner.TryGetEpoch(0, out var epoch));
        async Task OwnerWrites(string key, ReportSubmitted? value)
        {
            await Write(key, value, E(epoch));
            owner.Apply(0, key, value);
        }
        await OwnerWrites("kept", Harness.Submitted("a-kept"));
        await OwnerWrites("changed", Harness.Submitted("a-changed-before"));
        await OwnerWrites("deleted", Harness.Submitted("a-deleted-later"));

        // Nobody else fenced: nothing to do, nothing written (no new fence).
        var end = EndOffset(h, topic);
        Assert.Empty(owner.Reconcile([0], (_, _) => FenceAs("member-a")));
        Assert.Equal(end, EndOffset(h, topic));

        // A newcomer fences the partition and writes; the owner, never told, goes on writing under its old epoch.
        var newcomer = await Write(StateFence.Key, null, "member-b", fence: true);
        await Write("newcomer-only", Harness.Submitted("b-wrote"), E(newcomer));
        await Write("changed", Harness.Submitted("b-changed"), E(newcomer));
        await OwnerWrites("changed", Harness.Submitted("a-changed-after"));
        await OwnerWrites("deleted", null);
        await OwnerWrites("added", Harness.Submitted("a-added-after"));

        // Without the reconcile, a restore would lose every write of the owner since the newcomer's fence.
        var before = new PartitionedState<ReportSubmitted>(topic, h.Kafka, h.Serdes, NullLogger.Instance);
        before.Restore([0]);
        Assert.Equal("b-changed", before.EntriesOf(0).Single(e => e.Key == "changed").Value.report.reportId);

        var rewrites = owner.Reconcile([0], (_, _) => FenceAs("member-a"));
        Assert.True(owner.TryGetEpoch(0, out var renewed) && renewed > newcomer);
        Assert.Equal(["added", "changed", "deleted", "newcomer-only"], rewrites.Select(r => r.Key).Order(StringComparer.Ordinal));
        foreach (var r in rewrites)
            await h.RawProducer.ProduceAsync(new TopicPartition(topic, 0), new Message<byte[]?, byte[]?>
            {
                Key = System.Text.Encoding.UTF8.GetBytes(r.Key), Value = r.Value,
                Headers = new Headers { { StateFence.EpochHeader, System.Text.Encoding.UTF8.GetBytes(E(renewed)) } },
            });
        Assert.Equal(4, owner.Rewritten);

        var restored = new PartitionedState<ReportSubmitted>(topic, h.Kafka, h.Serdes, NullLogger.Instance);
        restored.Restore([0]);
        Assert.Equal(
            owner.EntriesOf(0).ToDictionary(e => e.Key, e => e.Value.report.reportId).OrderBy(e => e.Key, StringComparer.Ordinal),
            restored.EntriesOf(0).ToDictionary(e => e.Key, e => e.Value.report.reportId).OrderBy(e => e.Key, StringComparer.Ordinal));
        Assert.Equal(["added", "changed", "kept"], restored.EntriesOf(0).Select(e => e.Key).Order(StringComparer.Ordinal));

        // Checked once, the next reconcile starts after the new fence: nothing more to do.
        Assert.Empty(owner.Reconcile([0], (_, _) => FenceAs("member-a")));
    }

    private static string E(long offset) => offset.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Writes a state record (or, with <paramref name="fence"/>, a fence of member <paramref name="epochOrMember"/>)
    /// to partition 0, as a member would; returns its offset.</summary>
    private static async Task<long> WriteRaw(Harness h, string topic, string key, ReportSubmitted? value, string? epochOrMember, bool fence)
    {
        var headers = new Headers();
        if (fence) headers.Add(StateFence.MemberHeader, System.Text.Encoding.UTF8.GetBytes(epochOrMember!));
        else if (epochOrMember is not null) headers.Add(StateFence.EpochHeader, System.Text.Encoding.UTF8.GetBytes(epochOrMember));
        var r = await h.RawProducer.ProduceAsync(new TopicPartition(topic, 0), new Message<byte[]?, byte[]?>
        {
            Key = System.Text.Encoding.UTF8.GetBytes(key), Value = value is null ? null : h.Serdes.Serialize(value, topic), Headers = headers,
        });
        return r.Offset.Value;
    }

    private static long EndOffset(Harness h, string topic)
    {
        using var c = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = h.Kafka.BootstrapServers, GroupId = "end-" + Guid.NewGuid() }).Build();
        return c.QueryWatermarkOffsets(new TopicPartition(topic, 0), TimeSpan.FromSeconds(10)).High.Value;
    }

    /// <summary>Puts each report in a store, due at once; the timer starts an effect that waits on <see cref="Gate"/>; its
    /// outcome sends the report to a topic of the test's own and marks the entry done (no longer due).</summary>
    private sealed class EffectProcessor : IProcessor<ReportSubmitted>, IStateful
    {
        private readonly PartitionedState<ReportSubmitted> store;
        private int started;

        public EffectProcessor(PartitionedState<ReportSubmitted> store, string firedTopic)
        {
            this.store = store;
            store.OnDue(v => v.report.sourceReference == "done" ? null : v.submittedAt, (timer, output) =>
            {
                StageThread = Environment.CurrentManagedThreadId;
                store.StartEffect(output, timer.Partition, timer.Key, async ct =>
                {
                    Interlocked.Increment(ref started);
                    await Task.Yield();
                    WorkThread = Environment.CurrentManagedThreadId;
                    await Gate.Task.WaitAsync(ct);
                    return timer.Value;
                }, (value, o) =>
                {
                    o.Send(firedTopic, timer.Key, Harness.Accept(value));
                    var done = Harness.Submitted(timer.Key);
                    done.submittedAt = value.submittedAt;
                    done.report.sourceReference = "done";
                    store.Put(o, timer.Partition, timer.Key, done);
                });
            });
        }

        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Started => Volatile.Read(ref started);
        public int StageThread { get; private set; }
        public int WorkThread { get; private set; } = -1;

        public IEnumerable<IStateStore> Stores => [store];

        public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken)
        {
            var id = message.Value.report.reportId;
            if (store.TryGet(message.Partition, id, out var known) && known.report.sourceReference == "done") return ValueTask.CompletedTask;
            store.Put(output, message.Partition, id, message.Value); // the same due time (submittedAt) each time
            return ValueTask.CompletedTask;
        }
    }

    private static int Partitions => TopicCatalog.Get(Topics.ReportsSubmitted).Partitions;

    /// <summary>A state topic of its own, co-partitioned with reports.submitted.v1.</summary>
    private static string StateTopic(Harness h)
    {
        var topic = $"test.state.{Guid.NewGuid():N}";
        h.Runtime.Cluster.CreateTopic(topic, Partitions, replicationFactor: 3);
        h.Runtime.Registry.Register(topic + "-value", Schemas.Of<ReportSubmitted>().ToString());
        return topic;
    }

    /// <summary>Where the timers' outputs go.</summary>
    private static string OutputTopic(Harness h)
    {
        var topic = $"test.fired.{Guid.NewGuid():N}";
        h.Runtime.Cluster.CreateTopic(topic, 3, replicationFactor: 3);
        h.Runtime.Registry.Register(topic + "-value", Schemas.Of<ReportAccepted>().ToString());
        return topic;
    }

    /// <summary>Keeps each report in a store with a timer an hour after it was read; the timer sends the report to
    /// a topic of the test's own and deletes the entry.</summary>
    private sealed class StatefulProcessor : IProcessor<ReportSubmitted>, IStateful
    {
        private readonly TimeProvider clock;

        public StatefulProcessor(PartitionedState<ReportSubmitted> store, TimeProvider clock)
        {
            Store = store;
            this.clock = clock;
            store.OnDue(v => v.submittedAt.AddHours(1), (timer, output) =>
            {
                if (Thread.CurrentThread.Name is { } name) timer.Value.report.sourceReference = name;
                output.Send(FiredTopic, timer.Key, Harness.Accept(timer.Value));
                if (!KeepEntryWhenFired) Store.Delete(output, timer.Partition, timer.Key);
            });
        }

        public PartitionedState<ReportSubmitted> Store { get; }
        public bool FailFirstAttempt { get; init; }
        public bool KeepEntryWhenFired { get; init; }
        public string FiredTopic { get; init; } = "";
        public ConcurrentDictionary<string, int> Attempts { get; } = new();
        public ConcurrentBag<string> SawOwnFailedChange { get; } = [];

        public IEnumerable<IStateStore> Stores => [Store];

        public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken)
        {
            var id = message.Value.report.reportId;
            var attempt = Attempts.AddOrUpdate(id, 1, (_, n) => n + 1);
            if (Store.TryGet(message.Partition, id, out _)) SawOwnFailedChange.Add(id);
            var entry = message.Value;
            entry.submittedAt = clock.GetUtcNow().UtcDateTime;
            Store.Put(output, message.Partition, id, entry);
            if (FailFirstAttempt && attempt == 1) throw new TimeoutException("transient, after the state change");
            output.Send(Topics.ReportsAccepted, message.Value.report.url, Harness.Accept(message.Value));
            return ValueTask.CompletedTask;
        }
    }

    private sealed class ManualClock(DateTime start) : TimeProvider
    {
        private long ticks = start.Ticks;

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref ticks), TimeSpan.Zero);

        public void Advance(TimeSpan by) => Interlocked.Add(ref ticks, by.Ticks);
    }
}
