using Avro;
using Newtonsoft.Json.Linq;

namespace Pipeline.Contracts.Tests;

/// <summary>
/// BACKWARD compatibility: the current schema of every event reads data written with every released version of it
/// (schemas/released/vN). Checked twice: with Avro's schema resolution rules (Schema.CanRead plus the enum symbol rule,
/// see <see cref="BackwardCompatibility"/>) and with a real round trip.
/// </summary>
public class CompatibilityTests
{
    [Theory]
    [MemberData(nameof(Catalog.EventNames), MemberType = typeof(Catalog))]
    public void Current_schema_can_read_every_released_version(string eventName)
    {
        var type = Catalog.TypeNamed(eventName);
        var current = Schemas.Of(type);
        var released = AvroTestData.ReleasedVersions(eventName).ToList();

        foreach (var (version, writer) in released)
        {
            Assert.True(current.CanRead(writer), $"{eventName}: current schema cannot read data written with released/{version}");
            Assert.Empty(BackwardCompatibility.Problems(current, writer));

            var written = AvroTestData.Populate(writer);
            var bytes = AvroTestData.WriteGeneric(writer, written);

            // Generic resolution (writer = released, reader = current): every field both know survives unchanged.
            var generic = AvroTestData.ReadGeneric(writer, current, bytes);
            AvroTestData.AssertDeepEqual(written, generic);

            // Specific resolution into the generated C# type.
            var specific = (Avro.Specific.ISpecificRecord)AvroTestData.ReadSpecific(type, writer, current, bytes);
            Assert.IsType(type, specific);
            Assert.Equal(((Avro.Generic.GenericRecord)written!)["eventId"], specific.Get(((RecordSchema)current).Fields.Single(f => f.Name == "eventId").Pos));
        }
    }

    [Fact]
    public void Every_event_has_a_released_version_and_every_release_belongs_to_an_event()
    {
        var releasedDir = Path.Combine(AvroTestData.SchemasDir, "released");
        var eventNames = Schemas.EventTypes.Select(t => t.Name).ToHashSet();

        foreach (var file in Directory.EnumerateFiles(releasedDir, "*.avsc", SearchOption.AllDirectories))
        {
            // Removing an event type would silently drop its compatibility check.
            Assert.Contains(Path.GetFileNameWithoutExtension(file), eventNames);
        }

        foreach (var name in eventNames)
        {
            Assert.NotEmpty(AvroTestData.ReleasedVersions(name));
        }
    }

    [Fact]
    public void Released_files_are_self_contained_and_named_like_the_file()
    {
        // Released files are fully expanded (no references to schemas/common), so they parse on their own.
        foreach (var file in Directory.EnumerateFiles(Path.Combine(AvroTestData.SchemasDir, "released"), "*.avsc", SearchOption.AllDirectories))
        {
            var schema = Schema.Parse(File.ReadAllText(file));
            Assert.Equal("Pipeline.Contracts." + Path.GetFileNameWithoutExtension(file), schema.Fullname);
        }
    }

    // ---- negative tests: the check above really catches incompatible changes ----

    private static JObject ReleasedJson(string name) =>
        JObject.Parse(File.ReadAllText(Path.Combine(AvroTestData.SchemasDir, "released", "v1", name + ".avsc")));

    [Fact]
    public void A_new_required_field_without_default_is_detected_as_incompatible()
    {
        var writer = Schema.Parse(ReleasedJson("ReportAccepted").ToString());
        var changed = ReleasedJson("ReportAccepted");
        ((JArray)changed["fields"]!).Add(new JObject { ["name"] = "priority", ["type"] = "int", ["doc"] = "new, required" });
        var reader = Schema.Parse(changed.ToString());

        Assert.False(reader.CanRead(writer));
        Assert.NotEmpty(BackwardCompatibility.Problems(reader, writer));

        // The real read fails too.
        var bytes = AvroTestData.WriteGeneric(writer, AvroTestData.Populate(writer));
        Assert.ThrowsAny<AvroException>(() => AvroTestData.ReadGeneric(writer, reader, bytes));
    }

    [Fact]
    public void The_same_new_field_with_a_default_is_compatible()
    {
        var writer = Schema.Parse(ReleasedJson("ReportAccepted").ToString());
        var changed = ReleasedJson("ReportAccepted");
        ((JArray)changed["fields"]!).Add(new JObject { ["name"] = "priority", ["type"] = "int", ["doc"] = "new, optional", ["default"] = 3 });
        var reader = Schema.Parse(changed.ToString());

        Assert.True(reader.CanRead(writer));
        Assert.Empty(BackwardCompatibility.Problems(reader, writer));
        var bytes = AvroTestData.WriteGeneric(writer, AvroTestData.Populate(writer));
        var read = (Avro.Generic.GenericRecord)AvroTestData.ReadGeneric(writer, reader, bytes);
        Assert.Equal(3, read["priority"]);
    }

    [Fact]
    public void A_removed_enum_symbol_is_detected_as_incompatible()
    {
        // HashAlgorithm has no enum default, so a reader without a symbol cannot read it.
        var writer = Schema.Parse(ReleasedJson("KnownHash").ToString());
        var changed = ReleasedJson("KnownHash");
        var algorithm = (JObject)((JArray)changed["fields"]!).Single(f => (string?)f["name"] == "algorithm")["type"]!;
        var symbols = (JArray)algorithm["symbols"]!;
        symbols.Where(s => (string?)s == "SHA1").ToList().ForEach(s => s.Remove());
        var reader = Schema.Parse(changed.ToString());

        // Surprise: Apache.Avro's EnumSchema.CanRead does not compare symbols, so CanRead alone misses this ...
        Assert.True(reader.CanRead(writer));
        // ... which is why the compatibility test adds the symbol rule.
        Assert.Equal(["enum Pipeline.Contracts.HashAlgorithm: symbol SHA1 was removed and the enum has no default symbol"], BackwardCompatibility.Problems(reader, writer));

        var datum = (Avro.Generic.GenericRecord)AvroTestData.Populate(writer)!;
        datum.Add("algorithm", new Avro.Generic.GenericEnum((EnumSchema)((RecordSchema)writer).Fields.Single(f => f.Name == "algorithm").Schema, "SHA1"));
        var bytes = AvroTestData.WriteGeneric(writer, datum);
        Assert.ThrowsAny<AvroException>(() => AvroTestData.ReadGeneric(writer, reader, bytes));
    }

    [Fact]
    public void A_removed_symbol_of_an_enum_with_a_default_reads_as_the_default()
    {
        var writer = Schema.Parse(ReleasedJson("ContentStatusObserved").ToString());
        var changed = ReleasedJson("ContentStatusObserved");
        var status = (JObject)((JArray)changed["fields"]!).Single(f => (string?)f["name"] == "status")["type"]!;
        ((JArray)status["symbols"]!).Where(s => (string?)s == "DNS_GONE").ToList().ForEach(s => s.Remove());
        var reader = Schema.Parse(changed.ToString());

        Assert.Empty(BackwardCompatibility.Problems(reader, writer));

        var datum = (Avro.Generic.GenericRecord)AvroTestData.Populate(writer)!;
        datum.Add("status", new Avro.Generic.GenericEnum((EnumSchema)((RecordSchema)writer).Fields.Single(f => f.Name == "status").Schema, "DNS_GONE"));
        var read = (Avro.Generic.GenericRecord)AvroTestData.ReadGeneric(writer, reader, AvroTestData.WriteGeneric(writer, datum));
        Assert.Equal("UNKNOWN", ((Avro.Generic.GenericEnum)read["status"]).Value);
    }

    [Fact]
    public void A_changed_field_type_is_detected_as_incompatible()
    {
        var writer = Schema.Parse(ReleasedJson("SlaEvent").ToString());
        var changed = ReleasedJson("SlaEvent");
        ((JArray)changed["fields"]!).Single(f => (string?)f["name"] == "noticeId")["type"] = "long";
        var reader = Schema.Parse(changed.ToString());

        Assert.NotEmpty(BackwardCompatibility.Problems(reader, writer));
    }
}
