using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Configuration;
using Pipeline.Platform;

namespace Pipeline.Cli.Commands;

/// <summary>A topic as it should be on the cluster: the definition of infra/kafka/topics.json with the replication
/// factor capped at the number of brokers, and the topic configs this command manages.</summary>
public sealed record DesiredTopic(string Name, int Partitions, short ReplicationFactor, IReadOnlyDictionary<string, string> Configs);

/// <summary>A topic as it is. <see cref="Configs"/> is null when the cluster would not describe them.</summary>
public sealed record ExistingTopic(string Name, int Partitions, short ReplicationFactor, IReadOnlyDictionary<string, string>? Configs);

/// <summary>One difference between the definition and the cluster.</summary>
public abstract record TopicChange(string Topic)
{
    public sealed record Create(string Topic, int Partitions, short ReplicationFactor, IReadOnlyDictionary<string, string> Configs) : TopicChange(Topic);

    public sealed record AddPartitions(string Topic, int From, int To) : TopicChange(Topic);

    public sealed record AlterConfigs(string Topic, IReadOnlyList<ConfigDifference> Differences) : TopicChange(Topic);

    /// <summary>A difference this command cannot or will not fix (fewer partitions, another replication factor).</summary>
    public sealed record Warning(string Topic, string Text) : TopicChange(Topic);
}

public sealed record ConfigDifference(string Key, string? Current, string Desired);

/// <summary>What `pipeline topics apply` does, as pure functions: the desired topics and the difference to the cluster.</summary>
public static class TopicPlan
{
    /// <summary>The inbound topic of each partner takes the settings of exchange.outbound.v1: the same records
    /// (ReportForwarded) flowing the other way.</summary>
    public static IReadOnlyList<TopicDefinition> WithPartners(IReadOnlyList<TopicDefinition> catalog, IEnumerable<string> partners)
    {
        var template = catalog.FirstOrDefault(t => t.Name == Topics.ExchangeOutbound)
            ?? throw new InvalidOperationException($"{Topics.ExchangeOutbound} is not in infra/kafka/topics.json; partner inbound topics copy its settings.");
        var result = catalog.ToList();
        foreach (var partner in partners.Distinct(StringComparer.Ordinal))
        {
            if (partner.Length == 0 || !partner.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
                throw new ArgumentException($"--partners: '{partner}' is not a partner hotline id (lower-case letters, digits and '-'). Fix: use the ids of Exchange:Partners, e.g. --partners de-hotline,gb-hotline.");
            var name = Topics.ExchangeInbound(partner);
            if (result.Any(t => t.Name == name)) continue;
            result.Add(template with { Name = name, Key = "partner's case key" });
        }
        return result;
    }

    /// <summary>Compacted topics: a superseded or deleted record is gone from disk at most this long after it was superseded.</summary>
    public const long MaxCompactionLagMs = 7L * 24 * 3600 * 1000;

    /// <summary>Compacted topics: how long a tombstone stays readable after compaction (a restoring reader sees the delete).</summary>
    public const long DeleteRetentionMs = 24L * 3600 * 1000;

    public static IReadOnlyList<DesiredTopic> Desired(IEnumerable<TopicDefinition> definitions, int brokers)
    {
        if (brokers < 1) throw new ArgumentOutOfRangeException(nameof(brokers), "The cluster reported no brokers.");
        return definitions.Select(t =>
        {
            var rf = (short)Math.Min(t.ReplicationFactor, brokers);
            var configs = new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["cleanup.policy"] = t.CleanupPolicy,
                ["retention.ms"] = t.RetentionMs.ToString(CultureInfo.InvariantCulture),
                // acks=all only means "on two brokers" when the topic says so; Kafka's default is 1.
                ["min.insync.replicas"] = (rf >= 3 ? 2 : 1).ToString(CultureInfo.InvariantCulture),
            };
            if (t.CleanupPolicy.Contains("compact", StringComparison.Ordinal))
            {
                // Retention deletes state by tombstones (Retention:ClosedCaseAfter); compaction must then really drop the
                // key's earlier records: within a week (Kafka's default has no bound), and the tombstone itself a day later.
                configs["max.compaction.lag.ms"] = MaxCompactionLagMs.ToString(CultureInfo.InvariantCulture);
                configs["delete.retention.ms"] = DeleteRetentionMs.ToString(CultureInfo.InvariantCulture);
            }
            return new DesiredTopic(t.Name, t.Partitions, rf, configs);
        }).ToList();
    }

    public const string ConfigsUnreadable = "the cluster did not describe its configs; cleanup.policy, retention.ms and min.insync.replicas not compared";

    public static IReadOnlyList<TopicChange> Diff(IEnumerable<DesiredTopic> desired, IReadOnlyDictionary<string, ExistingTopic> existing)
    {
        var changes = new List<TopicChange>();
        foreach (var want in desired)
        {
            if (!existing.TryGetValue(want.Name, out var have))
            {
                changes.Add(new TopicChange.Create(want.Name, want.Partitions, want.ReplicationFactor, want.Configs));
                continue;
            }
            if (have.Partitions < want.Partitions)
                changes.Add(new TopicChange.AddPartitions(want.Name, have.Partitions, want.Partitions));
            else if (have.Partitions > want.Partitions)
                changes.Add(new TopicChange.Warning(want.Name, $"has {have.Partitions} partitions, the definition says {want.Partitions}; Kafka cannot remove partitions, left as is (fix infra/kafka/topics.json if the cluster is right)"));
            if (have.ReplicationFactor != want.ReplicationFactor)
                changes.Add(new TopicChange.Warning(want.Name, $"has replication factor {have.ReplicationFactor}, the definition says {want.ReplicationFactor}; not changed here (reassign partitions with kafka-reassign-partitions.sh)"));
            if (have.Configs is null)
            {
                changes.Add(new TopicChange.Warning(want.Name, ConfigsUnreadable));
                continue;
            }
            var differences = want.Configs
                .Where(c => !have.Configs.TryGetValue(c.Key, out var v) || v != c.Value)
                .Select(c => new ConfigDifference(c.Key, have.Configs.GetValueOrDefault(c.Key), c.Value))
                .ToList();
            if (differences.Count > 0) changes.Add(new TopicChange.AlterConfigs(want.Name, differences));
        }
        return changes;
    }

    public static string Describe(TopicChange change) => change switch
    {
        TopicChange.Create c => $"+ create     {c.Topic}: {c.Partitions} partitions, rf {c.ReplicationFactor}, " + string.Join(", ", c.Configs.Select(kv => $"{kv.Key}={kv.Value}")),
        TopicChange.AddPartitions p => $"~ partitions {p.Topic}: {p.From} -> {p.To}",
        TopicChange.AlterConfigs a => $"~ config     {a.Topic}: " + string.Join(", ", a.Differences.Select(d => $"{d.Key} {d.Current ?? "(unset)"} -> {d.Desired}")),
        TopicChange.Warning w => $"! warning    {w.Topic}: {w.Text}",
        _ => throw new InvalidOperationException(change.GetType().Name),
    };
}

/// <summary>The cluster operations `topics apply` needs; <see cref="KafkaTopicAdmin"/> is the real one.</summary>
public interface ITopicAdmin
{
    Task<int> BrokerCountAsync(CancellationToken ct);

    Task<IReadOnlyDictionary<string, ExistingTopic>> DescribeAsync(IReadOnlyCollection<string> names, CancellationToken ct);

    Task CreateAsync(IReadOnlyList<TopicChange.Create> topics, CancellationToken ct);

    Task AddPartitionsAsync(IReadOnlyList<TopicChange.AddPartitions> topics, CancellationToken ct);

    Task AlterConfigsAsync(IReadOnlyList<TopicChange.AlterConfigs> topics, CancellationToken ct);
}

/// <summary>The Kafka AdminClient behind <see cref="ITopicAdmin"/>.</summary>
public sealed class KafkaTopicAdmin(IAdminClient admin, TimeSpan timeout) : ITopicAdmin, IDisposable
{
    public static KafkaTopicAdmin Connect(KafkaOptions kafka, TimeSpan timeout) =>
        new(new AdminClientBuilder(new AdminClientConfig(KafkaClients.Config(kafka)) { ClientId = "pipeline-topics" }).Build(), timeout);

    public Task<int> BrokerCountAsync(CancellationToken ct) => Task.Run(() => admin.GetMetadata(timeout).Brokers.Count, ct);

    public async Task<IReadOnlyDictionary<string, ExistingTopic>> DescribeAsync(IReadOnlyCollection<string> names, CancellationToken ct)
    {
        var metadata = await Task.Run(() => admin.GetMetadata(timeout), ct);
        var present = metadata.Topics
            .Where(t => names.Contains(t.Topic) && t.Error.Code == ErrorCode.NoError && t.Partitions.Count > 0)
            .ToDictionary(t => t.Topic, t => (Partitions: t.Partitions.Count, Rf: (short)t.Partitions.Max(p => p.Replicas.Length)));
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? configs = null;
        if (present.Count > 0)
        {
            try
            {
                var described = await admin.DescribeConfigsAsync(
                    present.Keys.Select(n => new ConfigResource { Type = ResourceType.Topic, Name = n }),
                    new DescribeConfigsOptions { RequestTimeout = timeout });
                configs = described.ToDictionary(r => r.ConfigResource.Name,
                    r => (IReadOnlyDictionary<string, string>)r.Entries.ToDictionary(e => e.Key, e => e.Value.Value ?? "", StringComparer.Ordinal));
            }
            catch (KafkaException e)
            {
                // A cluster that cannot describe configs (librdkafka's mock cluster) still gets its partitions compared.
                Console.Error.WriteLine($"warning: DescribeConfigs failed ({e.Error.Reason}); topic configs are not compared.");
            }
        }
        return present.ToDictionary(p => p.Key, p => new ExistingTopic(p.Key, p.Value.Partitions, p.Value.Rf, configs?.GetValueOrDefault(p.Key)));
    }

    public async Task CreateAsync(IReadOnlyList<TopicChange.Create> topics, CancellationToken ct)
    {
        if (topics.Count == 0) return;
        try
        {
            await admin.CreateTopicsAsync(topics.Select(t => new TopicSpecification
            {
                Name = t.Topic, NumPartitions = t.Partitions, ReplicationFactor = t.ReplicationFactor,
                Configs = t.Configs.ToDictionary(kv => kv.Key, kv => kv.Value),
            }), new CreateTopicsOptions { RequestTimeout = timeout, OperationTimeout = timeout });
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
            // Another provisioning job created some of them first: the next run compares what it made.
        }
    }

    public async Task AddPartitionsAsync(IReadOnlyList<TopicChange.AddPartitions> topics, CancellationToken ct)
    {
        if (topics.Count == 0) return;
        await admin.CreatePartitionsAsync(topics.Select(t => new PartitionsSpecification { Topic = t.Topic, IncreaseTo = t.To }),
            new CreatePartitionsOptions { RequestTimeout = timeout, OperationTimeout = timeout });
    }

    public async Task AlterConfigsAsync(IReadOnlyList<TopicChange.AlterConfigs> topics, CancellationToken ct)
    {
        if (topics.Count == 0) return;
        await admin.IncrementalAlterConfigsAsync(topics.ToDictionary(
            t => new ConfigResource { Type = ResourceType.Topic, Name = t.Topic },
            t => t.Differences.Select(d => new ConfigEntry { Name = d.Key, Value = d.Desired, IncrementalOperation = AlterConfigOpType.Set }).ToList()),
            new IncrementalAlterConfigsOptions { RequestTimeout = timeout });
    }

    public void Dispose() => admin.Dispose();
}

/// <summary>`pipeline topics apply`: idempotent provisioning of every topic in infra/kafka/topics.json (and the
/// inbound topic of each partner hotline). Creates what is missing, adds partitions, sets cleanup.policy,
/// retention.ms and min.insync.replicas; --dry-run prints the difference and changes nothing.</summary>
public static class TopicsCommand
{
    public sealed record Outcome(IReadOnlyList<TopicChange> Changes, int Unchanged, bool Applied);

    public sealed record ApplySettings(string? Bootstrap, bool DryRun, string? Partners, int MinBrokers, int TimeoutSeconds);

    /// <summary>`pipeline topics list`.</summary>
    public static int List(TextWriter output)
    {
        foreach (var t in TopicCatalog.All)
            output.WriteLine($"{t.Name,-32} {t.Partitions,3} partitions  rf {t.ReplicationFactor}  {t.CleanupPolicy,-7}  {t.ValueType}");
        return 0;
    }

    public static async Task<int> RunAsync(ApplySettings settings, CancellationToken ct)
    {
        var kafka = new KafkaOptions();
        new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection(KafkaOptions.Section).Bind(kafka);
        kafka.BootstrapServers = settings.Bootstrap ?? (kafka.BootstrapServers.Length > 0 ? kafka.BootstrapServers
            : throw new ArgumentException("No Kafka given. Fix: pass --bootstrap host:9092 or set Kafka__BootstrapServers."));
        var timeout = TimeSpan.FromSeconds(settings.TimeoutSeconds);
        var minBrokers = settings.MinBrokers;
        var partners = Partners(settings.Partners);
        using var admin = KafkaTopicAdmin.Connect(kafka, timeout);
        var outcome = await ApplyAsync(admin, TopicPlan.WithPartners(TopicCatalog.All, partners), settings.DryRun, minBrokers, timeout, Console.Out, ct);
        if (outcome.Applied && outcome.Changes.Any(c => c is TopicChange.Warning { Text: TopicPlan.ConfigsUnreadable }))
        {
            Console.Error.WriteLine("error: topics were created and partitions added, but their configs could not be read, so they are unverified. Fix: grant DescribeConfigs/AlterConfigs on the topics to this client and run `pipeline topics apply` again.");
            return 1;
        }
        return 0;
    }

    /// <summary>--partners id1,id2, or PIPELINE_PARTNERS when the option is not given.</summary>
    public static IReadOnlyList<string> Partners(string? partners) =>
        (partners ?? Environment.GetEnvironmentVariable("PIPELINE_PARTNERS") ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static async Task<Outcome> ApplyAsync(ITopicAdmin admin, IReadOnlyList<TopicDefinition> definitions, bool dryRun, int minBrokers,
        TimeSpan wait, TextWriter output, CancellationToken ct)
    {
        var brokers = await WaitForBrokersAsync(admin, minBrokers, wait, ct);
        var desired = TopicPlan.Desired(definitions, brokers);
        var existing = await admin.DescribeAsync(desired.Select(d => d.Name).ToList(), ct);
        var changes = TopicPlan.Diff(desired, existing);
        foreach (var change in changes) output.WriteLine(TopicPlan.Describe(change));
        var touched = changes.Where(c => c is not TopicChange.Warning).Select(c => c.Topic).ToHashSet();
        var unchanged = desired.Count(d => !touched.Contains(d.Name));
        var actions = changes.Count(c => c is not TopicChange.Warning);
        if (dryRun)
        {
            output.WriteLine($"dry run on {brokers} broker(s): {actions} change(s) to {touched.Count} topic(s), {unchanged} topic(s) as defined; nothing changed");
            return new Outcome(changes, unchanged, Applied: false);
        }
        await admin.CreateAsync(changes.OfType<TopicChange.Create>().ToList(), ct);
        await admin.AddPartitionsAsync(changes.OfType<TopicChange.AddPartitions>().ToList(), ct);
        await admin.AlterConfigsAsync(changes.OfType<TopicChange.AlterConfigs>().ToList(), ct);
        output.WriteLine($"applied on {brokers} broker(s): {actions} change(s) to {touched.Count} topic(s), {unchanged} topic(s) already as defined");
        return new Outcome(changes, unchanged, Applied: true);
    }

    /// <summary>Capping replication at the broker count must not freeze rf 1 in because only the first broker of a
    /// starting cluster answered: wait until <paramref name="minBrokers"/> are there.</summary>
    private static async Task<int> WaitForBrokersAsync(ITopicAdmin admin, int minBrokers, TimeSpan wait, CancellationToken ct)
    {
        var until = DateTime.UtcNow + wait;
        while (true)
        {
            var brokers = 0;
            string? failure = null;
            try { brokers = await admin.BrokerCountAsync(ct); }
            catch (KafkaException e) { failure = e.Error.Reason; }
            if (brokers >= Math.Max(1, minBrokers)) return brokers;
            if (DateTime.UtcNow >= until)
                throw new ArgumentException($"Kafka answered with {brokers} broker(s) (need {minBrokers}) within {wait.TotalSeconds:0} s{(failure is null ? "" : ": " + failure)}. Fix: check --bootstrap/Kafka__BootstrapServers, or lower --min-brokers / raise --timeout.");
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }
}
