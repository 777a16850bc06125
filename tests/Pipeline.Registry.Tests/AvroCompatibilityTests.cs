using Avro;

namespace Pipeline.Registry.Tests;

public class AvroCompatibilityTests
{
    private static string? Problem(string reader, string writer) =>
        AvroCompatibility.FindIncompatibility(Schema.Parse(reader), Schema.Parse(writer));

    private static string Record(string fieldType, string extra = "") =>
        $$"""{"type":"record","name":"R","fields":[{"name":"f","type":{{fieldType}}{{extra}}}]}""";

    [Theory]
    [InlineData("\"int\"", "\"long\"")]
    [InlineData("\"int\"", "\"float\"")]
    [InlineData("\"int\"", "\"double\"")]
    [InlineData("\"long\"", "\"double\"")]
    [InlineData("\"float\"", "\"double\"")]
    [InlineData("\"string\"", "\"bytes\"")]
    [InlineData("\"bytes\"", "\"string\"")]
    [InlineData("\"string\"", "[\"null\",\"string\"]")]
    [InlineData("{\"type\":\"array\",\"items\":\"int\"}", "{\"type\":\"array\",\"items\":\"long\"}")]
    [InlineData("{\"type\":\"map\",\"values\":\"float\"}", "{\"type\":\"map\",\"values\":\"double\"}")]
    [InlineData("{\"type\":\"int\",\"logicalType\":\"date\"}", "\"int\"")]
    public void Writer_types_the_reader_can_resolve_are_compatible(string writerType, string readerType) =>
        Assert.Null(Problem(Record(readerType), Record(writerType)));

    [Theory]
    [InlineData("\"long\"", "\"int\"")]
    [InlineData("\"string\"", "\"int\"")]
    [InlineData("\"double\"", "\"float\"")]
    [InlineData("[\"null\",\"string\"]", "\"string\"")]
    [InlineData("{\"type\":\"array\",\"items\":\"string\"}", "{\"type\":\"array\",\"items\":\"int\"}")]
    [InlineData("{\"type\":\"map\",\"values\":\"long\"}", "{\"type\":\"map\",\"values\":\"int\"}")]
    [InlineData("{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}", "{\"type\":\"fixed\",\"name\":\"F\",\"size\":8}")]
    public void Writer_types_the_reader_cannot_resolve_are_reported_with_their_path(string writerType, string readerType)
    {
        var problem = Problem(Record(readerType), Record(writerType));
        Assert.NotNull(problem);
        Assert.Contains("/fields/0/type", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_reader_field_missing_from_the_writer_needs_a_default()
    {
        Assert.Null(Problem(Schemas.ProbeWithDefaultedField, Schemas.Probe));
        Assert.Null(Problem(Schemas.ProbeWithOptionalField, Schemas.Probe)); // "default": null counts as a default
        var problem = Problem(Schemas.ProbeWithRequiredField, Schemas.Probe);
        Assert.StartsWith("READER_FIELD_MISSING_DEFAULT_VALUE", problem, StringComparison.Ordinal);
        Assert.Contains("'count'", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Writer_fields_the_reader_drops_are_ignored() =>
        Assert.Null(Problem(Schemas.Probe, Schemas.ProbeWithRequiredField));

    [Fact]
    public void A_reader_field_alias_matches_the_writer_field()
    {
        const string renamed = """{"type":"record","name":"Probe","namespace":"Test","fields":[{"name":"key","aliases":["id"],"type":"string"}]}""";
        Assert.Null(Problem(renamed, Schemas.Probe));
    }

    [Fact]
    public void Enum_readers_need_every_writer_symbol_unless_they_have_a_default()
    {
        Assert.Null(Problem(Schemas.ProbeWithColour, Schemas.ProbeWithColourMissingBlue));
        var problem = Problem(Schemas.ProbeWithColourMissingBlue, Schemas.ProbeWithColour);
        Assert.StartsWith("MISSING_ENUM_SYMBOLS", problem, StringComparison.Ordinal);
        Assert.Contains("BLUE", problem, StringComparison.Ordinal);
        Assert.Null(Problem(Schemas.ProbeWithColourMissingBlueButDefault, Schemas.ProbeWithColour));
    }

    [Fact]
    public void Record_names_must_match_unless_aliased()
    {
        const string other = """{"type":"record","name":"Other","namespace":"Test","fields":[{"name":"id","type":"string"}]}""";
        const string aliased = """{"type":"record","name":"Other","namespace":"Test","aliases":["Probe"],"fields":[{"name":"id","type":"string"}]}""";
        Assert.StartsWith("NAME_MISMATCH", Problem(other, Schemas.Probe), StringComparison.Ordinal);
        Assert.Null(Problem(aliased, Schemas.Probe));
    }

    [Fact]
    public void Recursive_records_terminate()
    {
        const string v1 = """{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null}]}""";
        const string v2 = """{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null},{"name":"n","type":"int","default":0}]}""";
        const string v3 = """{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null},{"name":"n","type":"int"}]}""";
        Assert.Null(Problem(v2, v1));
        Assert.NotNull(Problem(v3, v1));
    }

    [Fact]
    public void Nested_incompatibilities_name_the_nested_path()
    {
        const string v1 = """{"type":"record","name":"Outer","fields":[{"name":"items","type":{"type":"array","items":{"type":"record","name":"Inner","fields":[{"name":"x","type":"string"}]}}}]}""";
        const string v2 = """{"type":"record","name":"Outer","fields":[{"name":"items","type":{"type":"array","items":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}}}]}""";
        Assert.Contains("/fields/0/type/items/fields/0/type", Problem(v2, v1), StringComparison.Ordinal);
    }
}
