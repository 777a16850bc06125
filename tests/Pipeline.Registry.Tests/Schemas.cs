namespace Pipeline.Registry.Tests;

/// <summary>Synthetic schemas for the registry tests.</summary>
internal static class Schemas
{
    public const string Probe = """{"type":"record","name":"Probe","namespace":"Test","fields":[{"name":"id","type":"string"}]}""";

    /// <summary>The same schema as <see cref="Probe"/>, written differently (whitespace, full name, attribute order).</summary>
    public const string ProbeReformatted = """
        { "namespace": "Test", "name": "Probe", "type": "record",
          "fields": [ { "type": "string", "name": "id" } ] }
        """;

    public const string ProbeWithDefaultedField =
        """{"type":"record","name":"Probe","namespace":"Test","fields":[{"name":"id","type":"string"},{"name":"note","type":"string","default":""}]}""";

    public const string ProbeWithOptionalField =
        """{"type":"record","name":"Probe","namespace":"Test","fields":[{"name":"id","type":"string"},{"name":"extra","type":["null","long"],"default":null}]}""";

    public const string ProbeWithRequiredField =
        """{"type":"record","name":"Probe","namespace":"Test","fields":[{"name":"id","type":"string"},{"name":"count","type":"int"}]}""";

    public const string ProbeIdAsInt = """{"type":"record","name":"Probe","namespace":"Test","fields":[{"name":"id","type":"int"}]}""";

    public const string ProbeWithColour =
        """{"type":"record","name":"Probe","namespace":"Test","fields":[{"name":"id","type":"string"},{"name":"colour","type":{"type":"enum","name":"Colour","symbols":["RED","GREEN","BLUE"]}}]}""";

    public const string ProbeWithColourMissingBlue =
        """{"type":"record","name":"Probe","namespace":"Test","fields":[{"name":"id","type":"string"},{"name":"colour","type":{"type":"enum","name":"Colour","symbols":["RED","GREEN"]}}]}""";

    public const string ProbeWithColourMissingBlueButDefault =
        """{"type":"record","name":"Probe","namespace":"Test","fields":[{"name":"id","type":"string"},{"name":"colour","type":{"type":"enum","name":"Colour","symbols":["RED","GREEN"],"default":"RED"}}]}""";

    public static string ProbeWithField(string field) =>
        $$"""{"type":"record","name":"Probe","namespace":"Test","fields":[{"name":"id","type":"string"},{"name":"{{field}}","type":"string","default":""}]}""";
}
