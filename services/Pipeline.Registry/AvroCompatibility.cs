using Avro;

namespace Pipeline.Registry;

/// <summary>
/// Avro schema resolution (the rules of the Avro specification, as Java's <c>SchemaCompatibility</c> applies them):
/// can data written with <c>writer</c> be read with <c>reader</c>? Unlike Apache.Avro's <see cref="Schema.CanRead"/>
/// this also checks enum symbols and reports the first incompatibility with its path in the reader schema.
/// </summary>
public static class AvroCompatibility
{
    /// <summary>Returns null when <paramref name="reader"/> can read everything written with <paramref name="writer"/>,
    /// otherwise a message naming the first incompatibility.</summary>
    public static string? FindIncompatibility(Schema reader, Schema writer)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(writer);
        return Check(reader, writer, "/", []);
    }

    /// <summary>BACKWARD: the new schema (reader) can read data written with the previous one (writer).</summary>
    public static bool IsBackwardCompatible(Schema newSchema, Schema previous) => FindIncompatibility(newSchema, previous) is null;

    private static string? Check(Schema reader, Schema writer, string path, HashSet<(string Reader, string Writer)> inProgress)
    {
        // Logical types are read through their underlying type (Avro readers fall back to it too).
        if (reader is LogicalSchema lr) reader = lr.BaseSchema;
        if (writer is LogicalSchema lw) writer = lw.BaseSchema;

        if (writer is UnionSchema writerUnion)
        {
            // Every branch the writer may have used must be readable.
            for (var i = 0; i < writerUnion.Count; i++)
            {
                var problem = Check(reader, writerUnion[i], path, inProgress);
                if (problem is not null) return problem;
            }
            return null;
        }

        if (reader is UnionSchema readerUnion)
        {
            for (var i = 0; i < readerUnion.Count; i++)
            {
                if (Check(readerUnion[i], writer, Join(path, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), inProgress) is null)
                    return null;
            }
            return $"TYPE_MISMATCH: the new schema's union at path '{path}' has no branch that can read the old schema's type {Describe(writer)}";
        }

        switch (reader.Tag)
        {
            case Schema.Type.Null:
            case Schema.Type.Boolean:
            case Schema.Type.Int:
            case Schema.Type.Long:
            case Schema.Type.Float:
            case Schema.Type.Double:
            case Schema.Type.Bytes:
            case Schema.Type.String:
                return CanPromote(writer.Tag, reader.Tag) ? null : Mismatch(reader, writer, path);

            case Schema.Type.Record:
            case Schema.Type.Error:
                if (writer is not RecordSchema writerRecord || reader is not RecordSchema readerRecord) return Mismatch(reader, writer, path);
                return CheckRecord(readerRecord, writerRecord, path, inProgress);

            case Schema.Type.Enumeration:
                if (writer is not EnumSchema writerEnum || reader is not EnumSchema readerEnum) return Mismatch(reader, writer, path);
                if (!NamesMatch(readerEnum, writerEnum)) return NameMismatch(readerEnum, writerEnum, path);
                if (readerEnum.Default is not null) return null;
                var missing = writerEnum.Symbols.Where(s => !readerEnum.Contains(s)).ToList();
                return missing.Count == 0
                    ? null
                    : $"MISSING_ENUM_SYMBOLS: the new schema's enum {readerEnum.Fullname} at path '{path}' is missing symbol(s) [{string.Join(", ", missing)}] of the old schema and has no default";

            case Schema.Type.Fixed:
                if (writer is not FixedSchema writerFixed || reader is not FixedSchema readerFixed) return Mismatch(reader, writer, path);
                if (!NamesMatch(readerFixed, writerFixed)) return NameMismatch(readerFixed, writerFixed, path);
                return readerFixed.Size == writerFixed.Size
                    ? null
                    : $"FIXED_SIZE_MISMATCH: the new schema's fixed {readerFixed.Fullname} at path '{path}' has size {readerFixed.Size}, the old schema's has size {writerFixed.Size}";

            case Schema.Type.Array:
                if (writer is not ArraySchema writerArray || reader is not ArraySchema readerArray) return Mismatch(reader, writer, path);
                return Check(readerArray.ItemSchema, writerArray.ItemSchema, Join(path, "items"), inProgress);

            case Schema.Type.Map:
                if (writer is not MapSchema writerMap || reader is not MapSchema readerMap) return Mismatch(reader, writer, path);
                return Check(readerMap.ValueSchema, writerMap.ValueSchema, Join(path, "values"), inProgress);

            default:
                return Mismatch(reader, writer, path);
        }
    }

    private static string? CheckRecord(RecordSchema reader, RecordSchema writer, string path, HashSet<(string Reader, string Writer)> inProgress)
    {
        if (!NamesMatch(reader, writer)) return NameMismatch(reader, writer, path);
        // Recursive types: a pair already being checked further up is assumed compatible.
        if (!inProgress.Add((reader.Fullname, writer.Fullname))) return null;
        try
        {
            foreach (var field in reader.Fields)
            {
                var fieldPath = Join(Join(path, "fields"), field.Pos.ToString(System.Globalization.CultureInfo.InvariantCulture));
                var writerField = FindWriterField(field, writer);
                if (writerField is null)
                {
                    if (field.DefaultValue is not null) continue;
                    return $"READER_FIELD_MISSING_DEFAULT_VALUE: the field '{field.Name}' at path '{fieldPath}' in the new schema has no default value and is missing in the old schema";
                }
                var problem = Check(field.Schema, writerField.Schema, Join(fieldPath, "type"), inProgress);
                if (problem is not null) return problem;
            }
            return null;
        }
        finally
        {
            inProgress.Remove((reader.Fullname, writer.Fullname));
        }
    }

    private static Field? FindWriterField(Field readerField, RecordSchema writer)
    {
        if (writer.TryGetField(readerField.Name, out var found)) return found;
        if (readerField.Aliases is { } aliases)
        {
            foreach (var alias in aliases)
            {
                if (writer.TryGetField(alias, out found)) return found;
            }
        }
        return null;
    }

    /// <summary>As Java does: unqualified names equal, or the writer's full name among the reader's aliases.</summary>
    private static bool NamesMatch(NamedSchema reader, NamedSchema writer) =>
        reader.Name == writer.Name || reader.Fullname == writer.Fullname || ReaderAliases(reader).Any(a => a == writer.Fullname || a == writer.Name);

    /// <summary>Apache.Avro keeps a named schema's aliases protected; they are read back from its JSON form.</summary>
    private static IEnumerable<string> ReaderAliases(NamedSchema reader)
    {
        if (System.Text.Json.Nodes.JsonNode.Parse(reader.ToString()) is not System.Text.Json.Nodes.JsonObject json
            || json["aliases"] is not System.Text.Json.Nodes.JsonArray aliases)
        {
            return [];
        }
        return aliases
            .Select(a => a?.GetValue<string>() ?? "")
            .Select(a => a.Contains('.', StringComparison.Ordinal) || string.IsNullOrEmpty(reader.Namespace) ? a : reader.Namespace + "." + a);
    }

    private static bool CanPromote(Schema.Type writer, Schema.Type reader) =>
        writer == reader || (writer, reader) switch
        {
            (Schema.Type.Int, Schema.Type.Long or Schema.Type.Float or Schema.Type.Double) => true,
            (Schema.Type.Long, Schema.Type.Float or Schema.Type.Double) => true,
            (Schema.Type.Float, Schema.Type.Double) => true,
            (Schema.Type.String, Schema.Type.Bytes) => true,
            (Schema.Type.Bytes, Schema.Type.String) => true,
            _ => false,
        };

    private static string Mismatch(Schema reader, Schema writer, string path) =>
        $"TYPE_MISMATCH: the type at path '{path}' in the new schema is {Describe(reader)}, which cannot read the old schema's {Describe(writer)}";

    private static string NameMismatch(NamedSchema reader, NamedSchema writer, string path) =>
        $"NAME_MISMATCH: the type at path '{path}' is named {reader.Fullname} in the new schema and {writer.Fullname} in the old schema";

    private static string Describe(Schema schema) => schema switch
    {
        NamedSchema named => $"{schema.Tag.ToString().ToUpperInvariant()} {named.Fullname}",
        _ => schema.Tag.ToString().ToUpperInvariant(),
    };

    private static string Join(string path, string segment) => path.EndsWith('/') ? path + segment : path + "/" + segment;
}
