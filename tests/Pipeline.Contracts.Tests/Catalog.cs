using Avro.Specific;

namespace Pipeline.Contracts.Tests;

/// <summary>Data sources for theories.</summary>
public static class Catalog
{
    public static TheoryData<string> EventNames()
    {
        var data = new TheoryData<string>();
        foreach (var t in Schemas.EventTypes)
        {
            data.Add(t.Name);
        }

        return data;
    }

    /// <summary>Every generated record type (events and common records).</summary>
    public static TheoryData<string> RecordTypeNames()
    {
        var data = new TheoryData<string>();
        foreach (var t in RecordTypes())
        {
            data.Add(t.Name);
        }

        return data;
    }

    public static IEnumerable<Type> RecordTypes() =>
        typeof(Schemas).Assembly.GetTypes()
            .Where(t => t.IsClass && !t.IsAbstract && typeof(ISpecificRecord).IsAssignableFrom(t))
            .OrderBy(t => t.Name, StringComparer.Ordinal);

    public static Type TypeNamed(string name) =>
        typeof(Schemas).Assembly.GetType("Pipeline.Contracts." + name, throwOnError: true)!;
}
