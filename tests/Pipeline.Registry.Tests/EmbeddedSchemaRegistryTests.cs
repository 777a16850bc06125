using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Avro.Generic;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;
using Xunit.Abstractions;
using AvroSchema = Avro.Schema;
using RecordSchema = Avro.RecordSchema;
using SrSchema = Confluent.SchemaRegistry.Schema;

namespace Pipeline.Registry.Tests;

public class EmbeddedSchemaRegistryTests(ITestOutputHelper output)
{
    private const string Topic = "probe-events";
    private const string Subject = Topic + "-value";
    private const string ContentType = "application/vnd.schemaregistry.v1+json";

    private static CachedSchemaRegistryClient ClientFor(EmbeddedSchemaRegistry registry) =>
        new(new SchemaRegistryConfig { Url = registry.Url });

    private static HttpClient HttpFor(EmbeddedSchemaRegistry registry) => new() { BaseAddress = new Uri(registry.Url) };

    private static StringContent SchemaBody(string schema, string? schemaType = null, string contentType = ContentType)
    {
        var body = new JsonObject { ["schema"] = schema };
        if (schemaType is not null) body["schemaType"] = schemaType;
        return new StringContent(body.ToJsonString(), Encoding.UTF8, contentType);
    }

    private static async Task<(HttpStatusCode Status, JsonNode? Body)> Send(HttpClient http, HttpMethod method, string path, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static GenericRecord ProbeRecord(string schemaJson, string id)
    {
        var record = new GenericRecord((RecordSchema)AvroSchema.Parse(schemaJson));
        record.Add("id", id);
        return record;
    }

    private void LogRequests(EmbeddedSchemaRegistry registry)
    {
        foreach (var line in registry.RequestLog) output.WriteLine(line);
    }

    [Fact]
    public async Task Starts_on_loopback_with_a_free_port()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        var uri = new Uri(registry.Url);
        Assert.Equal("127.0.0.1", uri.Host);
        Assert.NotEqual(0, uri.Port);
        Assert.Empty(registry.Subjects);
    }

    [Fact]
    public async Task The_client_registers_looks_up_gets_by_id_and_gets_latest()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        using var client = ClientFor(registry);

        var id = await client.RegisterSchemaAsync(Subject, new SrSchema(Schemas.Probe, SchemaType.Avro));
        Assert.True(id > 0);

        var looked = await client.LookupSchemaAsync(Subject, new SrSchema(Schemas.ProbeReformatted, SchemaType.Avro), ignoreDeletedSchemas: true);
        Assert.Equal(id, looked.Id);
        Assert.Equal(1, looked.Version);
        Assert.Equal(Subject, looked.Subject);

        var byId = await client.GetSchemaAsync(id);
        Assert.Equal(SchemaType.Avro, byId.SchemaType);
        Assert.Equal(AvroSchema.Parse(Schemas.Probe), AvroSchema.Parse(byId.SchemaString));

        var latest = await client.GetLatestSchemaAsync(Subject);
        Assert.Equal(id, latest.Id);
        Assert.Equal(1, latest.Version);

        Assert.Equal(new[] { 1 }, await client.GetSubjectVersionsAsync(Subject));
        Assert.Equal(new[] { Subject }, await client.GetAllSubjectsAsync());
        Assert.Equal(new[] { Subject }, registry.Subjects);
        LogRequests(registry);
    }

    [Fact]
    public async Task The_avro_serdes_auto_register_and_round_trip_a_generic_record()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        using var client = ClientFor(registry);
        var serializer = new AvroSerializer<GenericRecord>(client, new AvroSerializerConfig { AutoRegisterSchemas = true });
        var deserializer = new AvroDeserializer<GenericRecord>(client);
        var context = new SerializationContext(MessageComponentType.Value, Topic);

        var bytes = await serializer.SerializeAsync(ProbeRecord(Schemas.Probe, "p-1"), context);

        Assert.Equal(0, bytes[0]); // Confluent wire format: magic byte, then the big-endian schema id
        var id = (bytes[1] << 24) | (bytes[2] << 16) | (bytes[3] << 8) | bytes[4];
        Assert.Equal(id, (await client.GetLatestSchemaAsync(Subject)).Id);
        Assert.Equal(new[] { Subject }, registry.Subjects);

        // A fresh client, so that the deserializer really fetches the writer schema by id.
        using var otherClient = ClientFor(registry);
        var read = await new AvroDeserializer<GenericRecord>(otherClient).DeserializeAsync(bytes, isNull: false, context);
        Assert.Equal("p-1", read["id"]);
        Assert.Equal("Test.Probe", read.Schema.Fullname);
        Assert.Equal("p-1", (await deserializer.DeserializeAsync(bytes, isNull: false, context))["id"]);

        Assert.Contains(registry.RequestLog, r => r.StartsWith($"POST /subjects/{Subject}/versions", StringComparison.Ordinal));
        Assert.Contains(registry.RequestLog, r => r.StartsWith($"GET /schemas/ids/{id}", StringComparison.Ordinal));
        LogRequests(registry);
    }

    [Fact]
    public async Task Without_auto_registration_the_serializer_finds_a_preregistered_id_by_lookup()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        var id = registry.Register(Subject, Schemas.ProbeReformatted);
        using var client = ClientFor(registry);
        var serializer = new AvroSerializer<GenericRecord>(client,
            new AvroSerializerConfig { AutoRegisterSchemas = false, UseLatestVersion = false });
        var context = new SerializationContext(MessageComponentType.Value, Topic);

        var bytes = await serializer.SerializeAsync(ProbeRecord(Schemas.Probe, "p-2"), context);

        Assert.Equal(id, (bytes[1] << 24) | (bytes[2] << 16) | (bytes[3] << 8) | bytes[4]);
        Assert.Contains(registry.RequestLog, r => r.StartsWith($"POST /subjects/{Subject}", StringComparison.Ordinal)
            && !r.Contains("/versions", StringComparison.Ordinal));
        Assert.DoesNotContain(registry.RequestLog, r => r.StartsWith($"POST /subjects/{Subject}/versions", StringComparison.Ordinal));

        var read = await new AvroDeserializer<GenericRecord>(client).DeserializeAsync(bytes, isNull: false, context);
        Assert.Equal("p-2", read["id"]);
        LogRequests(registry);
    }

    [Fact]
    public async Task Without_auto_registration_an_unregistered_schema_fails_to_serialize()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        using var client = ClientFor(registry);
        var serializer = new AvroSerializer<GenericRecord>(client, new AvroSerializerConfig { AutoRegisterSchemas = false });

        var e = await Assert.ThrowsAnyAsync<Exception>(() =>
            serializer.SerializeAsync(ProbeRecord(Schemas.Probe, "p-3"), new SerializationContext(MessageComponentType.Value, Topic)));
        var inner = e as SchemaRegistryException ?? e.InnerException as SchemaRegistryException;
        Assert.NotNull(inner);
        Assert.Equal(40401, inner.ErrorCode);
    }

    [Fact]
    public async Task A_field_added_with_a_default_is_accepted_as_version_2()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        using var client = ClientFor(registry);
        var v1 = await client.RegisterSchemaAsync(Subject, new SrSchema(Schemas.Probe, SchemaType.Avro));

        Assert.True(await client.IsCompatibleAsync(Subject, new SrSchema(Schemas.ProbeWithDefaultedField, SchemaType.Avro)));
        var v2 = await client.RegisterSchemaAsync(Subject, new SrSchema(Schemas.ProbeWithDefaultedField, SchemaType.Avro));

        Assert.NotEqual(v1, v2);
        var latest = await client.GetLatestSchemaAsync(Subject);
        Assert.Equal(2, latest.Version);
        Assert.Equal(v2, latest.Id);
        Assert.Equal(v1, (await client.GetRegisteredSchemaAsync(Subject, 1, ignoreDeletedSchemas: true)).Id);
        Assert.Equal(new[] { 1, 2 }, await client.GetSubjectVersionsAsync(Subject));

        // An old reader still reads the new data (the serdes resolve writer against reader schema).
        using var fresh = ClientFor(registry);
        var serializer = new AvroSerializer<GenericRecord>(fresh, new AvroSerializerConfig { AutoRegisterSchemas = true });
        var record = ProbeRecord(Schemas.ProbeWithDefaultedField, "p-4");
        record.Add("note", "hello");
        var context = new SerializationContext(MessageComponentType.Value, Topic);
        var bytes = await serializer.SerializeAsync(record, context);
        var read = await new AvroDeserializer<GenericRecord>(fresh).DeserializeAsync(bytes, isNull: false, context);
        Assert.Equal("hello", read["note"]);
    }

    public static TheoryData<string, string, string> IncompatibleEvolutions => new()
    {
        { Schemas.Probe, Schemas.ProbeWithRequiredField, "READER_FIELD_MISSING_DEFAULT_VALUE" },
        { Schemas.Probe, Schemas.ProbeIdAsInt, "TYPE_MISMATCH" },
        { Schemas.ProbeWithColour, Schemas.ProbeWithColourMissingBlue, "MISSING_ENUM_SYMBOLS" },
    };

    [Theory]
    [MemberData(nameof(IncompatibleEvolutions))]
    public async Task An_incompatible_evolution_is_rejected_with_409_through_the_client(string v1, string v2, string kind)
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        using var client = ClientFor(registry);
        var id = await client.RegisterSchemaAsync(Subject, new SrSchema(v1, SchemaType.Avro));

        Assert.False(await client.IsCompatibleAsync(Subject, new SrSchema(v2, SchemaType.Avro)));
        var e = await Assert.ThrowsAsync<SchemaRegistryException>(() => client.RegisterSchemaAsync(Subject, new SrSchema(v2, SchemaType.Avro)));
        Assert.Equal(409, e.ErrorCode);
        Assert.Equal(HttpStatusCode.Conflict, e.Status);
        Assert.Contains(kind, e.Message, StringComparison.Ordinal);
        output.WriteLine(e.Message);

        Assert.Equal(id, (await client.GetLatestSchemaAsync(Subject)).Id);
        Assert.Equal(new[] { 1 }, await client.GetSubjectVersionsAsync(Subject));
        Assert.Throws<RegistryException>(() => registry.Register(Subject, v2));
    }

    [Theory]
    [MemberData(nameof(IncompatibleEvolutions))]
    public async Task An_incompatible_evolution_is_rejected_with_409_over_raw_http(string v1, string v2, string kind)
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        using var http = HttpFor(registry);
        var (status, _) = await Send(http, HttpMethod.Post, $"/subjects/{Subject}/versions", SchemaBody(v1));
        Assert.Equal(HttpStatusCode.OK, status);

        var (rejected, body) = await Send(http, HttpMethod.Post, $"/subjects/{Subject}/versions?normalize=false", SchemaBody(v2, contentType: "application/json"));
        Assert.Equal(HttpStatusCode.Conflict, rejected);
        Assert.Equal(409, (int)body!["error_code"]!);
        Assert.Contains(kind, (string)body["message"]!, StringComparison.Ordinal);

        var (checkStatus, check) = await Send(http, HttpMethod.Post, $"/compatibility/subjects/{Subject}/versions/latest", SchemaBody(v2));
        Assert.Equal(HttpStatusCode.OK, checkStatus);
        Assert.False((bool)check!["is_compatible"]!);
        Assert.Contains(kind, check["messages"]!.AsArray()[0]!.GetValue<string>(), StringComparison.Ordinal);

        // NONE turns the check off for the subject.
        var (putStatus, put) = await Send(http, HttpMethod.Put, $"/config/{Subject}",
            new StringContent("""{"compatibility":"NONE"}""", Encoding.UTF8, ContentType));
        Assert.Equal(HttpStatusCode.OK, putStatus);
        Assert.Equal("NONE", (string)put!["compatibility"]!);
        Assert.Equal("NONE", (string)(await Send(http, HttpMethod.Get, $"/config/{Subject}")).Body!["compatibilityLevel"]!);
        Assert.Equal("BACKWARD", (string)(await Send(http, HttpMethod.Get, "/config")).Body!["compatibilityLevel"]!);
        var (accepted, version2) = await Send(http, HttpMethod.Post, $"/subjects/{Subject}/versions", SchemaBody(v2));
        Assert.Equal(HttpStatusCode.OK, accepted);
        Assert.Equal(2, (int)(await Send(http, HttpMethod.Get, $"/subjects/{Subject}/versions/latest")).Body!["version"]!);
        Assert.Equal((int)version2!["id"]!, (int)(await Send(http, HttpMethod.Get, $"/subjects/{Subject}/versions/2")).Body!["id"]!);
    }

    [Fact]
    public async Task The_same_schema_gets_the_same_id_within_and_across_subjects()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        using var client = ClientFor(registry);

        var first = await client.RegisterSchemaAsync("a-value", new SrSchema(Schemas.Probe, SchemaType.Avro));
        var again = registry.Register("a-value", Schemas.ProbeReformatted);
        var other = await client.RegisterSchemaAsync("b-value", new SrSchema(Schemas.ProbeReformatted, SchemaType.Avro));
        var different = registry.Register("c-value", Schemas.ProbeWithDefaultedField);

        Assert.Equal(first, again);
        Assert.Equal(first, other);
        Assert.NotEqual(first, different);
        Assert.Equal(new[] { 1 }, await client.GetSubjectVersionsAsync("a-value"));
        Assert.Equal(new[] { "a-value", "b-value", "c-value" }, registry.Subjects.Order(StringComparer.Ordinal));

        using var http = HttpFor(registry);
        var (_, versions) = await Send(http, HttpMethod.Get, $"/schemas/ids/{first}/versions");
        Assert.Equal(2, versions!.AsArray().Count);
    }

    [Fact]
    public async Task Unknown_ids_subjects_versions_and_paths_answer_with_confluent_error_codes()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        using var http = HttpFor(registry);
        registry.Register(Subject, Schemas.Probe);

        async Task AssertError(HttpMethod method, string path, HttpStatusCode status, int code, HttpContent? content = null)
        {
            var (actual, body) = await Send(http, method, path, content);
            Assert.Equal(status, actual);
            Assert.Equal(code, (int)body!["error_code"]!);
            Assert.False(string.IsNullOrEmpty((string?)body["message"]));
        }

        await AssertError(HttpMethod.Get, "/schemas/ids/9999", HttpStatusCode.NotFound, 40403);
        await AssertError(HttpMethod.Get, "/schemas/ids/9999?subject=x", HttpStatusCode.NotFound, 40403);
        await AssertError(HttpMethod.Get, "/schemas/ids/9999/schema", HttpStatusCode.NotFound, 40403);
        await AssertError(HttpMethod.Get, "/subjects/nope/versions", HttpStatusCode.NotFound, 40401);
        await AssertError(HttpMethod.Get, "/subjects/nope/versions/latest", HttpStatusCode.NotFound, 40401);
        await AssertError(HttpMethod.Get, $"/subjects/{Subject}/versions/7", HttpStatusCode.NotFound, 40402);
        await AssertError(HttpMethod.Get, $"/subjects/{Subject}/versions/x", HttpStatusCode.UnprocessableEntity, 42202);
        await AssertError(HttpMethod.Post, "/subjects/nope", HttpStatusCode.NotFound, 40401, SchemaBody(Schemas.Probe));
        await AssertError(HttpMethod.Post, $"/subjects/{Subject}", HttpStatusCode.NotFound, 40403, SchemaBody(Schemas.ProbeIdAsInt));
        await AssertError(HttpMethod.Post, $"/subjects/{Subject}/versions", HttpStatusCode.UnprocessableEntity, 42201, SchemaBody("{\"type\":\"recrd\"}"));
        await AssertError(HttpMethod.Post, $"/subjects/{Subject}/versions", HttpStatusCode.UnprocessableEntity, 42201, SchemaBody("{}", "JSON"));
        await AssertError(HttpMethod.Put, $"/config/{Subject}", HttpStatusCode.UnprocessableEntity, 42203,
            new StringContent("""{"compatibility":"SIDEWAYS"}""", Encoding.UTF8, ContentType));
        await AssertError(HttpMethod.Get, $"/associations/resources/-/{Topic}?resourceType=topic", HttpStatusCode.NotFound, 40401);
        await AssertError(HttpMethod.Get, "/contexts", HttpStatusCode.NotFound, 40401);
        await AssertError(HttpMethod.Get, "/some/file.json", HttpStatusCode.NotFound, 40401);

        using var client = ClientFor(registry);
        var e = await Assert.ThrowsAsync<SchemaRegistryException>(() => client.GetSchemaAsync(9999));
        Assert.Equal(40403, e.ErrorCode);
        Assert.Equal(HttpStatusCode.NotFound, e.Status);

        var invalid = Assert.Throws<RegistryException>(() => registry.Register(Subject, "not json"));
        Assert.Equal(42201, invalid.ErrorCode);
    }

    [Fact]
    public async Task Raw_schema_endpoints_and_soft_delete()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        using var http = HttpFor(registry);
        var id = registry.Register(Subject, Schemas.Probe);

        var raw = await http.GetStringAsync($"/schemas/ids/{id}/schema");
        Assert.Equal(AvroSchema.Parse(Schemas.Probe), AvroSchema.Parse(raw));
        var rawVersion = await http.GetStringAsync($"/subjects/{Subject}/versions/1/schema");
        Assert.Equal(raw, rawVersion);
        var (_, subjects) = await Send(http, HttpMethod.Get, "/subjects");
        Assert.Equal(Subject, subjects!.AsArray().Single()!.GetValue<string>());

        var (deleted, versions) = await Send(http, HttpMethod.Delete, $"/subjects/{Subject}");
        Assert.Equal(HttpStatusCode.OK, deleted);
        Assert.Equal(1, versions!.AsArray().Single()!.GetValue<int>());
        Assert.Empty(registry.Subjects);
        Assert.Equal(HttpStatusCode.OK, (await Send(http, HttpMethod.Get, $"/schemas/ids/{id}")).Status);
        Assert.Equal(id, registry.Register(Subject, Schemas.Probe));
        Assert.Equal(2, (int)(await Send(http, HttpMethod.Get, $"/subjects/{Subject}/versions/latest")).Body!["version"]!);
    }

    [Fact]
    public async Task Concurrent_registrations_are_consistent()
    {
        await using var registry = await EmbeddedSchemaRegistry.StartAsync();
        const int subjects = 4;
        const int variants = 6;
        const int tasks = 24;
        const int rounds = 5;
        using var http = HttpFor(registry);

        var results = await Task.WhenAll(Enumerable.Range(0, tasks).Select(t => Task.Run(async () =>
        {
            // Each task uses its own client so that the client-side cache cannot hide the server's answers.
            using var client = ClientFor(registry);
            var seen = new List<(string Subject, int Variant, int Id)>();
            for (var r = 0; r < rounds; r++)
            {
                var subject = $"s{(t + r) % subjects}-value";
                var variant = (t * 7 + r) % variants;
                var schema = Schemas.ProbeWithField($"f{variant}");
                var id = t % 2 == 0
                    ? await client.RegisterSchemaAsync(subject, new SrSchema(schema, SchemaType.Avro))
                    : registry.Register(subject, schema);
                seen.Add((subject, variant, id));
            }
            return seen;
        })));

        var all = results.SelectMany(r => r).ToList();
        // One global id per distinct schema, whatever the subject and the task.
        var idsByVariant = all.GroupBy(x => x.Variant).ToDictionary(g => g.Key, g => g.Select(x => x.Id).Distinct().ToList());
        Assert.All(idsByVariant.Values, ids => Assert.Single(ids));
        Assert.Equal(idsByVariant.Count, idsByVariant.Values.Select(ids => ids[0]).Distinct().Count());

        // Every subject holds each of its distinct schemas exactly once, as versions 1..n.
        foreach (var group in all.GroupBy(x => x.Subject))
        {
            var (_, versions) = await Send(http, HttpMethod.Get, $"/subjects/{group.Key}/versions");
            var numbers = versions!.AsArray().Select(v => v!.GetValue<int>()).ToList();
            var distinct = group.Select(x => x.Variant).Distinct().Count();
            Assert.Equal(Enumerable.Range(1, distinct), numbers);
            var idsInSubject = new HashSet<int>();
            foreach (var v in numbers)
            {
                var (_, body) = await Send(http, HttpMethod.Get, $"/subjects/{group.Key}/versions/{v}");
                Assert.True(idsInSubject.Add((int)body!["id"]!));
            }
            Assert.Equal(group.Select(x => x.Id).ToHashSet(), idsInSubject);
        }
        Assert.Equal(all.Select(x => x.Subject).Distinct().Order(StringComparer.Ordinal), registry.Subjects.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Two_registries_run_side_by_side_and_stop_cleanly()
    {
        var a = await EmbeddedSchemaRegistry.StartAsync();
        await using var b = await EmbeddedSchemaRegistry.StartAsync();
        Assert.NotEqual(a.Url, b.Url);
        a.Register("x-value", Schemas.Probe);
        Assert.Empty(b.Subjects);
        await a.DisposeAsync();
        await a.DisposeAsync(); // idempotent

        using var http = new HttpClient { BaseAddress = new Uri(a.Url), Timeout = TimeSpan.FromSeconds(5) };
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("/subjects"));
    }
}
