using System.Collections.Concurrent;
using System.Linq.Expressions;
using Avro;
using Avro.Specific;

namespace Pipeline.Platform;

/// <summary>A compiled constructor of the generated class (record) or collection (array, map) a schema reads into,
/// built once per schema (the type found by <see cref="SpecificTypes"/>): Apache.Avro's <see cref="ObjectCreator"/> looks
/// the type up by name and creates it with reflection at every call. Shared by <see cref="CompiledAvroReader"/> and <see cref="ResolvedSpecificReader{T}"/>.</summary>
internal static class SpecificConstructors
{
    private static readonly ConcurrentDictionary<(string Schema, Schema.Type Tag), Func<object>> Built = new();

    public static Func<object> Of(Schema schema) =>
        Built.GetOrAdd((schema.ToString(), schema.Tag), _ =>
            Expression.Lambda<Func<object>>(Expression.Convert(Expression.New(SpecificTypes.Of(schema)), typeof(object))).Compile());
}
