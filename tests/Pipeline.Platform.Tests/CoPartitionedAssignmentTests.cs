using System.Collections.Concurrent;
using Confluent.Kafka;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

/// <summary>A stage whose state is fed by two inputs, run as two members of one group on the embedded cluster: every
/// assignment gives a member the same partition numbers of both inputs, and no partition number is held by two members at
/// once, while a member joins and leaves. (This is what lets such a stage scale out: state partition p belongs to the
/// one member that reads partition p of every input.)</summary>
public sealed class CoPartitionedAssignmentTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Two_members_of_a_two_input_stateful_stage_each_hold_partition_p_of_both_inputs_through_a_join_and_a_leave()
    {
        await using var h = await Harness.StartAsync();
        var stage = h.NewStage("copartitioned");
        var partitions = TopicCatalog.Get(Topics.ReportsSubmitted).Partitions;
        var second = $"test.second.{Guid.NewGuid():N}";
        var state = $"test.state.{Guid.NewGuid():N}";
        foreach (var topic in new[] { second, state })
        {
            h.Runtime.Cluster.CreateTopic(topic, partitions, replicationFactor: 3);
            h.Runtime.Registry.Register(topic + "-value", Schemas.Of<ReportSubmitted>().ToString());
        }
        var book = new AssignmentBook();
        WebAppMember Member(string name)
        {
            var recorder = new AssignmentRecorder(name, book);
            return new WebAppMember(recorder, h.BuildHost(stage, recorder, s => s
                .Consumes<ReportSubmitted>(Topics.ReportsSubmitted).Consumes<ReportSubmitted>(second).CoPartitioned(state)));
        }

        var a = Member("a");
        await a.App.StartAsync();
        await Harness.Eventually(() => book.Held("a") == 2 * partitions, Timeout, book.Describe);

        var b = Member("b");
        await b.App.StartAsync();
        await Harness.Eventually(() => book.Held("a") > 0 && book.Held("b") > 0 && book.Held("a") + book.Held("b") == 2 * partitions, Timeout, book.Describe);

        await b.App.StopAsync();
        await Harness.Eventually(() => book.Held("a") == 2 * partitions && book.Held("b") == 0, Timeout, book.Describe);

        Assert.Empty(book.Violations);
        Assert.True(book.Assignments >= 3, book.Describe());
    }

    private sealed record WebAppMember(AssignmentRecorder Recorder, Microsoft.AspNetCore.Builder.WebApplication App);

    /// <summary>Who holds which partition of which topic, checked on every change.</summary>
    private sealed class AssignmentBook
    {
        private readonly Lock gate = new();
        private readonly Dictionary<string, HashSet<TopicPartition>> held = [];

        public ConcurrentQueue<string> Violations { get; } = new();
        public int Assignments { get; private set; }

        public int Held(string member)
        {
            lock (gate) return held.TryGetValue(member, out var set) ? set.Count : 0;
        }

        public void Assigned(string member, IReadOnlyCollection<TopicPartition> partitions)
        {
            lock (gate)
            {
                Assignments++;
                var mine = held.TryGetValue(member, out var set) ? set : held[member] = [];
                foreach (var tp in partitions)
                {
                    var others = held.Where(m => m.Key != member && m.Value.Any(o => o.Partition == tp.Partition)).Select(m => m.Key).ToList();
                    if (others.Count > 0) Violations.Enqueue($"{member} got {tp} while {string.Join(",", others)} held partition {tp.Partition.Value} of an input");
                    mine.Add(tp);
                }
                var byTopic = mine.GroupBy(tp => tp.Topic).Select(g => g.Select(tp => tp.Partition.Value).Order().ToList()).ToList();
                if (byTopic.Count != 2 || !byTopic[0].SequenceEqual(byTopic[1]))
                    Violations.Enqueue($"{member} holds {string.Join(", ", mine.Order(Comparer<TopicPartition>.Create((x, y) => string.CompareOrdinal(x.ToString(), y.ToString()))))}: not the same partitions of both inputs");
            }
        }

        public void Revoked(string member, IReadOnlyCollection<TopicPartition> partitions)
        {
            lock (gate)
                if (held.TryGetValue(member, out var set))
                    foreach (var tp in partitions) set.Remove(tp);
        }

        public string Describe()
        {
            lock (gate)
                return string.Join("; ", held.Select(m => $"{m.Key}: {string.Join(",", m.Value.Select(tp => $"{tp.Topic.Split('.')[^2]}[{tp.Partition.Value}]"))}"))
                       + $"; violations: {string.Join(" | ", Violations)}";
        }
    }

    private sealed class AssignmentRecorder(string name, AssignmentBook book) : IProcessor<ReportSubmitted>, IPartitionAware
    {
        public ValueTask ProcessAsync(Incoming<ReportSubmitted> message, IOutput output, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public void OnAssigned(IReadOnlyCollection<TopicPartition> partitions) => book.Assigned(name, partitions);

        public void OnRevoked(IReadOnlyCollection<TopicPartition> partitions) => book.Revoked(name, partitions);
    }
}
