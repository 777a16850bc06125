using Confluent.SchemaRegistry;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline schemas register [--dry-run] [--partners a,b]`: registers (or, with --dry-run, compares) the
/// value schema of every topic, including each partner's inbound topic.</summary>
public static class SchemasCommand
{
    public enum State { New, Unchanged, Changed, Incompatible }

    public sealed record SubjectDiff(string Subject, string ValueType, State State, int? LatestVersion);

    public sealed record Settings(string? Registry, bool DryRun, string? Partners);

    /// <summary>Without --dry-run and --partners: registers every topic's value schema, as `schemas register` always did.</summary>
    public static async Task<int> RegisterAllAsync(string? registry)
    {
        var url = registry ?? Environment.GetEnvironmentVariable("Kafka__SchemaRegistryUrl")
            ?? throw new ArgumentException("No registry given. Fix: pass --registry http://host:8081 or set Kafka__SchemaRegistryUrl.");
        using var client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = url });
        foreach (var r in await SchemaRegistration.RegisterAllAsync(client))
            Console.WriteLine($"{r.Subject,-40} id {r.Id,4}  {r.ValueType}");
        return 0;
    }

    public static async Task<int> RunAsync(Settings settings)
    {
        try
        {
            return await RunCheckedAsync(settings);
        }
        catch (HttpRequestException e)
        {
            throw new ArgumentException($"The Schema Registry did not answer ({e.Message}). Fix: check --registry/Kafka__SchemaRegistryUrl and that the registry is up.", e);
        }
    }

    private static async Task<int> RunCheckedAsync(Settings settings)
    {
        var url = settings.Registry ?? Environment.GetEnvironmentVariable("Kafka__SchemaRegistryUrl")
            ?? throw new ArgumentException("No registry given. Fix: pass --registry http://host:8081 or set Kafka__SchemaRegistryUrl.");
        var topics = TopicPlan.WithPartners(TopicCatalog.All, TopicsCommand.Partners(settings.Partners));
        using var client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = url });
        if (!settings.DryRun)
        {
            foreach (var r in await SchemaRegistration.RegisterAllAsync(client, topics))
                Console.WriteLine($"{r.Subject,-40} id {r.Id,4}  {r.ValueType}");
            return 0;
        }
        var diffs = await DiffAsync(client, topics);
        foreach (var d in diffs.Where(d => d.State != State.Unchanged)) Console.WriteLine(Describe(d));
        Console.WriteLine($"dry run: {diffs.Count(d => d.State == State.New)} new, {diffs.Count(d => d.State == State.Changed)} changed, "
            + $"{diffs.Count(d => d.State == State.Incompatible)} incompatible, {diffs.Count(d => d.State == State.Unchanged)} unchanged subject(s); nothing registered");
        return diffs.Any(d => d.State == State.Incompatible) ? 1 : 0;
    }

    public static string Describe(SubjectDiff d) => d.State switch
    {
        State.New => $"+ new          {d.Subject} ({d.ValueType})",
        State.Changed => $"~ new version  {d.Subject} ({d.ValueType}): differs from version {d.LatestVersion}, compatible",
        State.Incompatible => $"! refused      {d.Subject} ({d.ValueType}): differs from version {d.LatestVersion} and is NOT compatible; the registry would refuse it",
        _ => $"= unchanged    {d.Subject}",
    };

    /// <summary>Compares each subject's latest registered version with the schema in schemas/ (both parsed, so
    /// whitespace and key order do not count) and asks the registry whether a changed one is compatible.</summary>
    public static async Task<IReadOnlyList<SubjectDiff>> DiffAsync(ISchemaRegistryClient registry, IEnumerable<TopicDefinition> topics)
    {
        var result = new List<SubjectDiff>();
        foreach (var topic in topics)
        {
            var subject = topic.ValueSubject;
            var local = Schemas.Of(SchemaRegistration.ValueType(topic));
            RegisteredSchema latest;
            try
            {
                latest = await registry.GetLatestSchemaAsync(subject);
            }
            catch (SchemaRegistryException e) when (e.ErrorCode is 40401 or 40402 || e.Status == System.Net.HttpStatusCode.NotFound)
            {
                result.Add(new SubjectDiff(subject, topic.ValueType, State.New, null));
                continue;
            }
            if (Avro.Schema.Parse(latest.SchemaString).ToString() == local.ToString())
            {
                result.Add(new SubjectDiff(subject, topic.ValueType, State.Unchanged, latest.Version));
                continue;
            }
            var compatible = await registry.IsCompatibleAsync(subject, new Schema(local.ToString(), SchemaType.Avro));
            result.Add(new SubjectDiff(subject, topic.ValueType, compatible ? State.Changed : State.Incompatible, latest.Version));
        }
        return result;
    }
}
