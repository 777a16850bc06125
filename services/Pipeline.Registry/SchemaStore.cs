using Avro;

namespace Pipeline.Registry;

/// <summary>A registry request that Confluent's Schema Registry would reject; carries its HTTP status and error code.</summary>
public sealed class RegistryException : Exception
{
    public RegistryException() : this(500, 50001, "Registry error") { }

    public RegistryException(string message) : this(500, 50001, message) { }

    public RegistryException(string message, Exception innerException) : base(message, innerException)
    {
        StatusCode = 500;
        ErrorCode = 50001;
    }

    public RegistryException(int statusCode, int errorCode, string message, Exception? innerException = null) : base(message, innerException)
    {
        StatusCode = statusCode;
        ErrorCode = errorCode;
    }

    /// <summary>The HTTP status the REST API answers with (404, 409, 422, ...).</summary>
    public int StatusCode { get; }

    /// <summary>Confluent's error code: 40401 subject not found, 40402 version not found, 40403 schema not found,
    /// 409 incompatible schema, 42201 invalid schema, 42202 invalid version, 42203 invalid compatibility level.</summary>
    public int ErrorCode { get; }
}

/// <summary>A schema as registered under a subject.</summary>
public sealed record RegisteredSchemaInfo(string Subject, int Version, int Id, Guid SchemaGuid, string Schema);

/// <summary>Compatibility levels as Confluent names them.</summary>
public static class CompatibilityLevels
{
    public const string Backward = "BACKWARD";
    public const string BackwardTransitive = "BACKWARD_TRANSITIVE";
    public const string Forward = "FORWARD";
    public const string ForwardTransitive = "FORWARD_TRANSITIVE";
    public const string Full = "FULL";
    public const string FullTransitive = "FULL_TRANSITIVE";
    public const string None = "NONE";

    internal static readonly string[] All = [Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive, None];
}

/// <summary>The registry's state: global schema ids and per-subject versions. All members are thread-safe.</summary>
internal sealed class SchemaStore
{
    private sealed record StoredSchema(int Id, Guid SchemaGuid, string Canonical, Schema Parsed);

    private sealed class SubjectVersion(int version, StoredSchema schema)
    {
        public int Version { get; } = version;
        public StoredSchema Schema { get; } = schema;
        public bool Deleted { get; set; }
    }

    private sealed class SubjectState
    {
        public List<SubjectVersion> Versions { get; } = [];
        public string? Compatibility { get; set; }
        public IEnumerable<SubjectVersion> Live => Versions.Where(v => !v.Deleted);
        public SubjectVersion? Latest => Versions.LastOrDefault(v => !v.Deleted);
    }

    private readonly Lock gate = new();
    private readonly Dictionary<string, StoredSchema> byCanonical = new(StringComparer.Ordinal);
    private readonly Dictionary<int, StoredSchema> byId = [];
    private readonly Dictionary<Guid, StoredSchema> byGuid = [];
    private readonly Dictionary<string, SubjectState> subjects = new(StringComparer.Ordinal);
    private string globalCompatibility = CompatibilityLevels.Backward;
    private int nextId = 1;

    public RegisteredSchemaInfo Register(string subject, string schemaJson, string? schemaType = null)
    {
        ValidateSubject(subject);
        var (parsed, canonical) = Parse(schemaJson, schemaType);
        lock (gate)
        {
            if (!subjects.TryGetValue(subject, out var state))
            {
                state = new SubjectState();
                subjects.Add(subject, state);
            }
            var existing = state.Live.FirstOrDefault(v => v.Schema.Canonical == canonical);
            if (existing is not null) return Info(subject, existing);

            var problems = CheckAgainst(EffectiveLevel(state), parsed, state.Live.ToList());
            if (problems.Count > 0)
            {
                throw new RegistryException(409, 409,
                    $"Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{string.Join("; ", problems)}]");
            }

            if (!byCanonical.TryGetValue(canonical, out var stored))
            {
                stored = new StoredSchema(nextId++, Guid.NewGuid(), canonical, parsed);
                byCanonical.Add(canonical, stored);
                byId.Add(stored.Id, stored);
                byGuid.Add(stored.SchemaGuid, stored);
            }
            var version = new SubjectVersion(state.Versions.Count == 0 ? 1 : state.Versions[^1].Version + 1, stored);
            state.Versions.Add(version);
            return Info(subject, version);
        }
    }

    public RegisteredSchemaInfo Lookup(string subject, string schemaJson, string? schemaType = null)
    {
        var (_, canonical) = Parse(schemaJson, schemaType);
        lock (gate)
        {
            var state = LiveSubject(subject);
            var match = state.Live.FirstOrDefault(v => v.Schema.Canonical == canonical)
                ?? throw new RegistryException(404, 40403, "Schema not found");
            return Info(subject, match);
        }
    }

    public RegisteredSchemaInfo GetVersion(string subject, string version)
    {
        lock (gate)
        {
            var state = LiveSubject(subject);
            return Info(subject, FindVersion(state, version));
        }
    }

    public IReadOnlyList<int> GetVersions(string subject)
    {
        lock (gate) return LiveSubject(subject).Live.Select(v => v.Version).ToList();
    }

    public string GetSchemaById(int id)
    {
        lock (gate)
        {
            return byId.TryGetValue(id, out var stored)
                ? stored.Canonical
                : throw new RegistryException(404, 40403, $"Schema {id} not found");
        }
    }

    public (int Id, string Schema) GetSchemaByGuid(Guid guid)
    {
        lock (gate)
        {
            return byGuid.TryGetValue(guid, out var stored)
                ? (stored.Id, stored.Canonical)
                : throw new RegistryException(404, 40403, $"Schema {guid} not found");
        }
    }

    public IReadOnlyList<RegisteredSchemaInfo> GetSubjectVersionsById(int id)
    {
        lock (gate)
        {
            if (!byId.ContainsKey(id)) throw new RegistryException(404, 40403, $"Schema {id} not found");
            return subjects
                .SelectMany(s => s.Value.Live.Where(v => v.Schema.Id == id).Select(v => Info(s.Key, v)))
                .OrderBy(i => i.Subject, StringComparer.Ordinal)
                .ToList();
        }
    }

    public IReadOnlyList<string> GetSubjects()
    {
        lock (gate) return subjects.Where(s => s.Value.Latest is not null).Select(s => s.Key).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Soft delete: the subject's versions disappear from reads; schema ids stay resolvable.</summary>
    public IReadOnlyList<int> DeleteSubject(string subject)
    {
        lock (gate)
        {
            var state = LiveSubject(subject);
            var live = state.Live.ToList();
            foreach (var v in live) v.Deleted = true;
            return live.Select(v => v.Version).ToList();
        }
    }

    public IReadOnlyList<string> TestCompatibility(string subject, string version, string schemaJson, string? schemaType = null)
    {
        var (parsed, _) = Parse(schemaJson, schemaType);
        lock (gate)
        {
            var isLatest = IsLatest(version);
            if (!subjects.TryGetValue(subject, out var state) || state.Latest is null)
            {
                if (isLatest) return [];
                throw new RegistryException(404, 40401, $"Subject '{subject}' not found.");
            }
            var level = EffectiveLevel(state);
            var targets = isLatest ? state.Live.ToList() : [FindVersion(state, version)];
            return CheckAgainst(level, parsed, targets);
        }
    }

    public string GetCompatibility(string? subject)
    {
        lock (gate)
        {
            if (subject is null) return globalCompatibility;
            return subjects.TryGetValue(subject, out var state) ? EffectiveLevel(state) : globalCompatibility;
        }
    }

    public string SetCompatibility(string? subject, string level)
    {
        var normalized = level?.Trim().ToUpperInvariant() ?? "";
        if (!CompatibilityLevels.All.Contains(normalized))
            throw new RegistryException(422, 42203, $"Invalid compatibility level: '{level}'. Valid values are {string.Join(", ", CompatibilityLevels.All)}");
        lock (gate)
        {
            if (subject is null)
            {
                globalCompatibility = normalized;
            }
            else
            {
                ValidateSubject(subject);
                if (!subjects.TryGetValue(subject, out var state))
                {
                    state = new SubjectState();
                    subjects.Add(subject, state);
                }
                state.Compatibility = normalized;
            }
            return normalized;
        }
    }

    private string EffectiveLevel(SubjectState state) => state.Compatibility ?? globalCompatibility;

    /// <summary>Checks <paramref name="candidate"/> against the live versions per the level; the non-transitive levels
    /// look at the latest version only.</summary>
    private static List<string> CheckAgainst(string level, Schema candidate, List<SubjectVersion> versions)
    {
        if (level == CompatibilityLevels.None || versions.Count == 0) return [];
        var transitive = level.EndsWith("_TRANSITIVE", StringComparison.Ordinal);
        var targets = transitive ? versions : [versions[^1]];
        var backward = level.StartsWith("BACKWARD", StringComparison.Ordinal) || level.StartsWith("FULL", StringComparison.Ordinal);
        var forward = level.StartsWith("FORWARD", StringComparison.Ordinal) || level.StartsWith("FULL", StringComparison.Ordinal);
        var problems = new List<string>();
        foreach (var target in targets.AsEnumerable().Reverse())
        {
            if (backward && AvroCompatibility.FindIncompatibility(candidate, target.Schema.Parsed) is { } b)
                problems.Add($"{b} (new schema cannot read data written with version {target.Version}, compatibility {level})");
            if (forward && AvroCompatibility.FindIncompatibility(target.Schema.Parsed, candidate) is { } f)
                problems.Add($"{f} (version {target.Version} cannot read data written with the new schema, compatibility {level})");
            if (problems.Count > 0) break;
        }
        return problems;
    }

    private SubjectState LiveSubject(string subject) =>
        subjects.TryGetValue(subject, out var state) && state.Latest is not null
            ? state
            : throw new RegistryException(404, 40401, $"Subject '{subject}' not found.");

    private static bool IsLatest(string version) => version is "latest" or "-1";

    private static SubjectVersion FindVersion(SubjectState state, string version)
    {
        if (IsLatest(version)) return state.Latest ?? throw new RegistryException(404, 40402, "Version latest not found.");
        if (!int.TryParse(version, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) || number < 1)
        {
            throw new RegistryException(422, 42202,
                $"The specified version '{version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"");
        }
        return state.Live.FirstOrDefault(v => v.Version == number)
            ?? throw new RegistryException(404, 40402, $"Version {number} not found.");
    }

    private static RegisteredSchemaInfo Info(string subject, SubjectVersion v) =>
        new(subject, v.Version, v.Schema.Id, v.Schema.SchemaGuid, v.Schema.Canonical);

    private static void ValidateSubject(string subject)
    {
        if (string.IsNullOrWhiteSpace(subject))
            throw new RegistryException(422, 42208, "Invalid subject: the subject name must not be empty");
    }

    /// <summary>Parses with Apache.Avro; the canonical text (Apache.Avro's normalised JSON, keeping defaults, docs,
    /// aliases and properties so that they count) is both the equality key and what the registry serves.</summary>
    private static (Schema Parsed, string Canonical) Parse(string schemaJson, string? schemaType)
    {
        if (schemaType is not null && !string.Equals(schemaType, "AVRO", StringComparison.OrdinalIgnoreCase))
            throw new RegistryException(422, 42201, $"Invalid schema: schemaType '{schemaType}' is not supported, only AVRO");
        if (string.IsNullOrWhiteSpace(schemaJson))
            throw new RegistryException(422, 42201, "Invalid schema: the schema is empty");
        try
        {
            var parsed = Schema.Parse(schemaJson);
            return (parsed, parsed.ToString());
        }
        catch (Exception e)
        {
            throw new RegistryException(422, 42201, $"Invalid schema: {e.Message}", e);
        }
    }
}
