using System.Text.Json.Nodes;
using Confluent.SchemaRegistry;
using Pipeline.Cli.Commands;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Registry;

namespace Pipeline.Operations.Tests;

/// <summary>`pipeline schemas register --dry-run` against the embedded Schema Registry (a real HTTP server on
/// 127.0.0.1 speaking the Confluent REST API) through the real CachedSchemaRegistryClient.</summary>
public sealed class SchemasDryRunTests
{
    [Fact]
    public async Task Dry_run_reports_new_unchanged_compatible_and_incompatible_subjects_and_registers_nothing()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync(0);
        using var client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = registry.Url });
        var topics = TopicPlan.WithPartners(TopicCatalog.All, ["de-hotline"]);

        // Registered as they are now: every topic but the last three of the catalog and the partner topic.
        var registered = topics.Take(topics.Count - 4).ToList();
        // An older version without an optional field: the current schema is a compatible new version.
        var (compatibleTopic, optionalField) = registered.Select(t => (t, Field(t, withDefault: true))).First(x => x.Item2 is not null);
        // An older version without a required field: the current schema cannot read its data.
        var (incompatibleTopic, requiredField) = registered.Where(t => t.ValueType != compatibleTopic.ValueType)
            .Select(t => (t, Field(t, withDefault: false))).First(x => x.Item2 is not null);
        await client.RegisterSchemaAsync(compatibleTopic.ValueSubject, new Schema(Without(compatibleTopic, optionalField!), SchemaType.Avro));
        await client.RegisterSchemaAsync(incompatibleTopic.ValueSubject, new Schema(Without(incompatibleTopic, requiredField!), SchemaType.Avro));
        await SchemaRegistration.RegisterAllAsync(client, registered.Where(t => t != compatibleTopic && t != incompatibleTopic));
        var subjectsBefore = (await client.GetAllSubjectsAsync()).Order(StringComparer.Ordinal).ToList();

        var diffs = await SchemasCommand.DiffAsync(client, topics);

        Assert.Equal(topics.Select(t => t.ValueSubject), diffs.Select(d => d.Subject));
        Assert.Equal(SchemasCommand.State.Changed, diffs.Single(d => d.Subject == compatibleTopic.ValueSubject).State);
        Assert.Equal(SchemasCommand.State.Incompatible, diffs.Single(d => d.Subject == incompatibleTopic.ValueSubject).State);
        Assert.Equal(topics.Skip(topics.Count - 4).Select(t => t.ValueSubject),
            diffs.Where(d => d.State == SchemasCommand.State.New).Select(d => d.Subject));
        Assert.Contains("exchange.inbound.de-hotline.v1-value", diffs.Where(d => d.State == SchemasCommand.State.New).Select(d => d.Subject));
        Assert.Equal(registered.Count - 2, diffs.Count(d => d.State == SchemasCommand.State.Unchanged));
        Assert.Equal(subjectsBefore, (await client.GetAllSubjectsAsync()).Order(StringComparer.Ordinal).ToList());
        Assert.StartsWith("! refused", SchemasCommand.Describe(diffs.Single(d => d.State == SchemasCommand.State.Incompatible)), StringComparison.Ordinal);

        // Registering for real afterwards leaves only the incompatible subject different.
        await SchemaRegistration.RegisterAllAsync(client, topics.Where(t => t.Name != incompatibleTopic.Name));
        // A fresh client, as each CLI run has: CachedSchemaRegistryClient keeps the latest version it has seen.
        using var second = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = registry.Url });
        var after = await SchemasCommand.DiffAsync(second, topics);
        Assert.Equal([incompatibleTopic.ValueSubject], after.Where(d => d.State != SchemasCommand.State.Unchanged).Select(d => d.Subject));
    }

    private static JsonObject SchemaJson(TopicDefinition topic) =>
        (JsonObject)JsonNode.Parse(Schemas.Of(SchemaRegistration.ValueType(topic)).ToString())!;

    private static string? Field(TopicDefinition topic, bool withDefault) =>
        SchemaJson(topic)["fields"]!.AsArray().Select(f => f!.AsObject()).FirstOrDefault(f => f.ContainsKey("default") == withDefault)?["name"]!.GetValue<string>();

    private static string Without(TopicDefinition topic, string field)
    {
        var json = SchemaJson(topic);
        var fields = json["fields"]!.AsArray();
        fields.Remove(fields.First(f => f!["name"]!.GetValue<string>() == field));
        return json.ToJsonString();
    }
}
