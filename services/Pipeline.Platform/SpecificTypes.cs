using System.Collections.Concurrent;
using Avro;
using Avro.Specific;

namespace Pipeline.Platform;

/// <summary>The generated class (or enum) a schema reads into, found by its full name with one
/// <see cref="System.Reflection.Assembly.GetType(string)"/> per loaded assembly. Apache.Avro's
/// <see cref="ObjectCreator"/> finds it by enumerating every type of every loaded assembly and unmangling each name: about
/// 17 ms per named type in a small process and more in a service, paid on the first record of each type after every
/// restart (ReportSubmitted alone names 12). The answer is the same type; anything this does not resolve (a mangled
/// name, a union) is still asked of <see cref="ObjectCreator"/>.</summary>
internal static class SpecificTypes
{
    private static readonly ConcurrentDictionary<string, Type> Named = new(StringComparer.Ordinal);

    public static Type Of(Schema schema) => schema switch
    {
        NamedSchema named and (RecordSchema or EnumSchema or FixedSchema) => Named.GetOrAdd(named.Fullname, static (name, s) => Find(name) ?? ObjectCreator.Instance.GetType(s), schema),
        ArraySchema array => typeof(List<>).MakeGenericType(Item(array.ItemSchema)),
        MapSchema map => typeof(Dictionary<,>).MakeGenericType(typeof(string), Item(map.ValueSchema)),
        _ => ObjectCreator.Instance.GetType(schema),
    };

    private static Type Item(Schema schema) =>
        schema is NamedSchema or ArraySchema or MapSchema ? Of(schema) : ObjectCreator.Instance.GetType(schema);

    private static Type? Find(string fullName)
    {
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
            if (!assembly.IsDynamic && assembly.GetType(fullName, throwOnError: false) is { } type) return type;
        return null;
    }
}
