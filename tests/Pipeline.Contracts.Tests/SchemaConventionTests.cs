using System.Text.Json;

namespace Pipeline.Contracts.Tests;

/// <summary>House rules for everything under schemas/ (see schemas/README.md).</summary>
public class SchemaConventionTests
{
    public static TheoryData<string> AllSchemaFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(AvroTestData.SchemasDir, "*.avsc", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(AvroTestData.SchemasDir, f));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllSchemaFiles))]
    public void Every_record_enum_and_field_has_a_doc(string relativePath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AvroTestData.SchemasDir, relativePath)));
        var missing = new List<string>();
        CheckDocs(doc.RootElement, "", missing);
        Assert.True(missing.Count == 0, relativePath + ": no doc on " + string.Join(", ", missing));
    }

    private static void CheckDocs(JsonElement e, string path, List<string> missing)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray())
                {
                    CheckDocs(item, path, missing);
                }

                break;
            case JsonValueKind.Object:
                var type = e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                if (type is "record" or "enum" or "fixed")
                {
                    var name = e.GetProperty("name").GetString();
                    path = name ?? path;
                    if (!HasDoc(e))
                    {
                        missing.Add(type + " " + name);
                    }
                }

                if (type == "record")
                {
                    foreach (var field in e.GetProperty("fields").EnumerateArray())
                    {
                        if (!HasDoc(field))
                        {
                            missing.Add("field " + path + "." + field.GetProperty("name").GetString());
                        }

                        CheckDocs(field.GetProperty("type"), path, missing);
                    }
                }
                else if (t.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                {
                    CheckDocs(t, path, missing);
                }

                foreach (var nested in new[] { "items", "values" })
                {
                    if (e.TryGetProperty(nested, out var n))
                    {
                        CheckDocs(n, path, missing);
                    }
                }

                break;
        }
    }

    private static bool HasDoc(JsonElement e) =>
        e.TryGetProperty("doc", out var d) && d.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(d.GetString());

    [Fact]
    public void The_catalog_lists_exactly_the_top_level_event_schemas()
    {
        var files = Directory.EnumerateFiles(AvroTestData.SchemasDir, "*.avsc", SearchOption.TopDirectoryOnly)
            .Select(Path.GetFileNameWithoutExtension)
            .Order(StringComparer.Ordinal);
        Assert.Equal(files, Schemas.EventTypes.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.Equal(Schemas.EventTypes.Count, Schemas.EventTypes.Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(Catalog.EventNames), MemberType = typeof(Catalog))]
    public void Every_event_has_an_eventId_and_a_caseKey(string eventName)
    {
        var schema = (Avro.RecordSchema)Schemas.Of(Catalog.TypeNamed(eventName));

        Assert.True(schema.TryGetField("eventId", out var eventId), eventName + " has no eventId");
        Assert.Equal(Avro.Schema.Type.String, eventId.Schema.Tag);
        Assert.Equal("Pipeline.Contracts", schema.Namespace);

        if (eventName is "KnownHash" or "DeadLetter" or "AuditRecord" or "ContactDirectoryEntry" or "ConsoleUser") // a directory entry is keyed by contact id // AuditRecord names its case by a token: it outlives the case key
        {
            Assert.False(schema.Contains("caseKey"));
        }
        else
        {
            Assert.True(schema.Contains("caseKey"), eventName + " has no caseKey");
        }
    }

    [Fact]
    public void No_field_name_is_a_csharp_keyword()
    {
        // Generated properties are named exactly like the fields.
        string[] keywords =
        [
            "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const", "continue",
            "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern", "false", "finally",
            "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface", "internal", "is", "lock",
            "long", "namespace", "new", "null", "object", "operator", "out", "override", "params", "private", "protected",
            "public", "readonly", "ref", "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static", "string",
            "struct", "switch", "this", "throw", "true", "try", "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort",
            "using", "virtual", "void", "volatile", "while",
        ];
        foreach (var type in Catalog.RecordTypes())
        {
            foreach (var field in ((Avro.RecordSchema)Schemas.Of(type)).Fields)
            {
                Assert.DoesNotContain(field.Name, keywords);
            }
        }
    }
}
