using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Pipeline.Registry;

/// <summary>
/// An in-process Schema Registry: Kestrel on 127.0.0.1 serving the subset of Confluent's REST API that
/// <c>CachedSchemaRegistryClient</c> and the Avro serdes use (register, lookup, schemas by id, subjects and versions,
/// compatibility, config). AVRO only, memory only. New versions are checked for compatibility with the subject's
/// level (BACKWARD by default; NONE turns the check off). Unknown paths answer 404 / 40401.
/// </summary>
public sealed class EmbeddedSchemaRegistry : IAsyncDisposable
{
    private const string ContentType = "application/vnd.schemaregistry.v1+json";
    private const int MaxRecordedRequests = 10_000;

    private readonly WebApplication app;
    private readonly SchemaStore store;
    private readonly ConcurrentQueue<string> requests;
    private int disposed;

    private EmbeddedSchemaRegistry(WebApplication app, SchemaStore store, ConcurrentQueue<string> requests, string url)
    {
        this.app = app;
        this.store = store;
        this.requests = requests;
        Url = url;
    }

    /// <summary>The base address, e.g. <c>http://127.0.0.1:41234</c>; use it as <c>SchemaRegistryConfig.Url</c>.</summary>
    public string Url { get; }

    /// <summary>Subjects with at least one live version.</summary>
    public IReadOnlyCollection<string> Subjects => store.GetSubjects();

    /// <summary>"METHOD /path?query" of the requests served so far (the latest 10,000), for diagnostics and tests.</summary>
    internal IReadOnlyList<string> RequestLog => requests.ToArray();

    /// <summary>Starts the registry on 127.0.0.1; <paramref name="port"/> 0 picks a free port.</summary>
    public static async Task<EmbeddedSchemaRegistry> StartAsync(int port = 0, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ApplicationName = typeof(EmbeddedSchemaRegistry).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.ConfigureKestrel(o => o.Listen(IPAddress.Loopback, port));
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // Embedded in another host or a test run: do not take over Ctrl+C / SIGTERM.
        builder.Services.AddSingleton<IHostLifetime, NoopHostLifetime>();

        var store = new SchemaStore();
        var requests = new ConcurrentQueue<string>();
        var app = builder.Build();
        app.Use((ctx, next) =>
        {
            requests.Enqueue($"{ctx.Request.Method} {ctx.Request.Path}{ctx.Request.QueryString}");
            while (requests.Count > MaxRecordedRequests) requests.TryDequeue(out _);
            // Everything outside the mapped subset (associations, contexts, modes, ...) is "not found" as Confluent
            // answers for an unknown subject; the 2.14 serdes tolerate a 404 from the associations endpoint.
            return ctx.GetEndpoint() is null
                ? Error(404, 40401, $"HTTP 404 Not Found: {ctx.Request.Method} {ctx.Request.Path} is not served by the embedded registry").ExecuteAsync(ctx)
                : next(ctx);
        });
        MapEndpoints(app, store);

        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no listening address.");
        var bound = new Uri(address);
        return new EmbeddedSchemaRegistry(app, store, requests, $"http://127.0.0.1:{bound.Port}");
    }

    /// <summary>Registers in-process with the same rules as <c>POST /subjects/{subject}/versions</c>; returns the
    /// global schema id. Throws <see cref="RegistryException"/> (409 incompatible, 422/42201 invalid schema).</summary>
    public int Register(string subject, string schemaJson)
    {
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(schemaJson);
        return store.Register(subject, schemaJson).Id;
    }

    /// <summary>Sets a subject's compatibility level (BACKWARD, NONE, ...), as <c>PUT /config/{subject}</c>.</summary>
    public void SetCompatibility(string subject, string level) => store.SetCompatibility(subject, level);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        try
        {
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static void MapEndpoints(WebApplication app, SchemaStore store)
    {
        // Register: {"schema": "...", "schemaType"?: "AVRO", "references"?: []} -> {"id": n}
        app.MapPost("/subjects/{subject}/versions", (HttpContext ctx, string subject) => Handle(async () =>
        {
            var (schema, type) = await ReadSchemaRequest(ctx).ConfigureAwait(false);
            var info = store.Register(subject, schema, type);
            return Ok(new JsonObject { ["id"] = info.Id, ["guid"] = info.SchemaGuid.ToString(), ["version"] = info.Version });
        }));

        // Lookup: is this schema registered under the subject?
        app.MapPost("/subjects/{subject}", (HttpContext ctx, string subject) => Handle(async () =>
        {
            var (schema, type) = await ReadSchemaRequest(ctx).ConfigureAwait(false);
            return Ok(ToJson(store.Lookup(subject, schema, type)));
        }));

        app.MapGet("/subjects", () => Handle(() => Ok(new JsonArray([.. store.GetSubjects().Select(s => JsonValue.Create(s))]))));

        app.MapGet("/subjects/{subject}/versions", (HttpContext ctx, string subject) =>
            Handle(() => Ok(new JsonArray([.. store.GetVersions(subject).Select(v => JsonValue.Create(v))]))));

        app.MapGet("/subjects/{subject}/versions/{version}", (HttpContext ctx, string subject, string version) =>
            Handle(() => Ok(ToJson(store.GetVersion(subject, version)))));

        app.MapGet("/subjects/{subject}/versions/{version}/schema", (HttpContext ctx, string subject, string version) =>
            Handle(() => Raw(store.GetVersion(subject, version).Schema)));

        app.MapDelete("/subjects/{subject}", (HttpContext ctx, string subject) =>
            Handle(() => Ok(new JsonArray([.. store.DeleteSubject(subject).Select(v => JsonValue.Create(v))]))));

        app.MapGet("/schemas/ids/{id}", (HttpContext ctx, string id) =>
            Handle(() => Ok(new JsonObject { ["schema"] = store.GetSchemaById(ParseId(id)) })));

        app.MapGet("/schemas/ids/{id}/schema", (HttpContext ctx, string id) =>
            Handle(() => Raw(store.GetSchemaById(ParseId(id)))));

        app.MapGet("/schemas/ids/{id}/subjects", (HttpContext ctx, string id) =>
            Handle(() => Ok(new JsonArray([.. store.GetSubjectVersionsById(ParseId(id)).Select(i => i.Subject).Distinct().Select(s => JsonValue.Create(s))]))));

        app.MapGet("/schemas/ids/{id}/versions", (HttpContext ctx, string id) =>
            Handle(() => Ok(new JsonArray([.. store.GetSubjectVersionsById(ParseId(id))
                .Select(i => (JsonNode)new JsonObject { ["subject"] = i.Subject, ["version"] = i.Version })]))));

        app.MapGet("/schemas/guids/{guid}", (HttpContext ctx, string guid) => Handle(() =>
        {
            if (!Guid.TryParse(guid, out var parsed)) throw new RegistryException(404, 40403, $"Schema {guid} not found");
            var (_, schema) = store.GetSchemaByGuid(parsed);
            return Ok(new JsonObject { ["schema"] = schema });
        }));

        app.MapPost("/compatibility/subjects/{subject}/versions/{version}", (HttpContext ctx, string subject, string version) => Handle(async () =>
        {
            var (schema, type) = await ReadSchemaRequest(ctx).ConfigureAwait(false);
            var problems = store.TestCompatibility(subject, version, schema, type);
            return Ok(new JsonObject
            {
                ["is_compatible"] = problems.Count == 0,
                ["messages"] = new JsonArray([.. problems.Select(p => JsonValue.Create(p))]),
            });
        }));

        app.MapGet("/config", () =>
            Handle(() => Ok(new JsonObject { ["compatibilityLevel"] = store.GetCompatibility(null) })));

        app.MapGet("/config/{subject}", (HttpContext ctx, string subject) =>
            Handle(() => Ok(new JsonObject { ["compatibilityLevel"] = store.GetCompatibility(subject) })));

        app.MapPut("/config", (Delegate)((HttpContext ctx) => Handle(async () =>
            Ok(new JsonObject { ["compatibility"] = store.SetCompatibility(null, await ReadCompatibility(ctx).ConfigureAwait(false)) }))));

        app.MapPut("/config/{subject}", (HttpContext ctx, string subject) => Handle(async () =>
            Ok(new JsonObject { ["compatibility"] = store.SetCompatibility(subject, await ReadCompatibility(ctx).ConfigureAwait(false)) })));
    }

    private static Task<IResult> Handle(Func<IResult> action) => Handle(() => Task.FromResult(action()));

    private static async Task<IResult> Handle(Func<Task<IResult>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (RegistryException e)
        {
            return Error(e.StatusCode, e.ErrorCode, e.Message);
        }
    }

    private static async Task<(string Schema, string? SchemaType)> ReadSchemaRequest(HttpContext ctx)
    {
        var body = await ReadBody(ctx).ConfigureAwait(false);
        if (body?["schema"] is not JsonValue schemaValue || schemaValue.GetValueKind() != JsonValueKind.String)
            throw new RegistryException(422, 42201, "Invalid schema: the request has no \"schema\" string");
        var type = body["schemaType"] is JsonValue t && t.GetValueKind() == JsonValueKind.String ? t.GetValue<string>() : null;
        if (body["references"] is JsonArray { Count: > 0 })
            throw new RegistryException(422, 42201, "Invalid schema: schema references are not supported by the embedded registry");
        return (schemaValue.GetValue<string>(), type);
    }

    private static async Task<string> ReadCompatibility(HttpContext ctx)
    {
        var body = await ReadBody(ctx).ConfigureAwait(false);
        return body?["compatibility"] is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>()
            : throw new RegistryException(422, 42203, "Invalid compatibility level: the request has no \"compatibility\" string");
    }

    /// <summary>Reads the JSON body whatever its content type (the client sends application/vnd.schemaregistry.v1+json).</summary>
    private static async Task<JsonObject?> ReadBody(HttpContext ctx)
    {
        try
        {
            return await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted).ConfigureAwait(false) as JsonObject;
        }
        catch (JsonException e)
        {
            throw new RegistryException(422, 422, $"Unprocessable entity: the body is not JSON ({e.Message})", e);
        }
    }

    private static int ParseId(string id) =>
        int.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed)
            ? parsed
            : throw new RegistryException(404, 40403, $"Schema {id} not found");

    private static JsonObject ToJson(RegisteredSchemaInfo info) => new()
    {
        ["subject"] = info.Subject,
        ["version"] = info.Version,
        ["id"] = info.Id,
        ["guid"] = info.SchemaGuid.ToString(),
        ["schema"] = info.Schema,
    };

    private static IResult Ok(JsonNode body) => Results.Text(body.ToJsonString(), ContentType, statusCode: 200);

    private static IResult Raw(string schema) => Results.Text(schema, ContentType, statusCode: 200);

    private static IResult Error(int status, int code, string message) =>
        Results.Text(new JsonObject { ["error_code"] = code, ["message"] = message }.ToJsonString(), ContentType, statusCode: status);

    private sealed class NoopHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
