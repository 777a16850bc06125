using Avro;

namespace Pipeline.Contracts.Tests;

/// <summary>
/// BACKWARD compatibility check: can a reader with <c>reader</c> read data written with <c>writer</c>?
/// Apache.Avro's <see cref="Schema.CanRead"/> covers records, fields, defaults, type promotion and unions, but
/// (in 1.12.2) <see cref="EnumSchema.CanRead"/> deliberately defers symbol checks to read time ("the writer may
/// never use that symbol"), so a removed enum symbol passes it. The symbol rule is added here: every writer symbol
/// must exist in the reader's enum of the same name, unless the reader's enum has a default symbol.
/// </summary>
internal static class BackwardCompatibility
{
    public static IReadOnlyList<string> Problems(Schema reader, Schema writer)
    {
        var problems = new List<string>();
        if (!reader.CanRead(writer))
        {
            problems.Add($"{reader.Fullname}: Avro schema resolution fails (new field without default, incompatible type change, renamed type, ...)");
        }

        var readerEnums = Enums(reader);
        foreach (var (name, writerEnum) in Enums(writer))
        {
            if (!readerEnums.TryGetValue(name, out var readerEnum) || readerEnum.Default is not null)
            {
                continue;
            }

            foreach (var symbol in writerEnum.Symbols.Where(s => !readerEnum.Contains(s)))
            {
                problems.Add($"enum {name}: symbol {symbol} was removed and the enum has no default symbol");
            }
        }

        return problems;
    }

    private static Dictionary<string, EnumSchema> Enums(Schema schema)
    {
        var result = new Dictionary<string, EnumSchema>(StringComparer.Ordinal);
        Walk(schema, result, new HashSet<string>(StringComparer.Ordinal));
        return result;
    }

    private static void Walk(Schema schema, Dictionary<string, EnumSchema> enums, HashSet<string> seen)
    {
        switch (schema)
        {
            case EnumSchema e:
                enums.TryAdd(e.Fullname, e);
                break;
            case RecordSchema r when seen.Add(r.Fullname):
                foreach (var f in r.Fields)
                {
                    Walk(f.Schema, enums, seen);
                }

                break;
            case ArraySchema a:
                Walk(a.ItemSchema, enums, seen);
                break;
            case MapSchema m:
                Walk(m.ValueSchema, enums, seen);
                break;
            case UnionSchema u:
                foreach (var s in u.Schemas)
                {
                    Walk(s, enums, seen);
                }

                break;
        }
    }
}
