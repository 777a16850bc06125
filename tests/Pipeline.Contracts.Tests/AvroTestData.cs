using System.Collections;
using Avro;
using Avro.Generic;
using Avro.IO;
using Avro.Specific;

namespace Pipeline.Contracts.Tests;

/// <summary>Helpers shared by the tests: repository paths, populated generic data, Avro binary encoding, deep comparison.</summary>
internal static class AvroTestData
{
    public static string SchemasDir { get; } = FindSchemasDir();

    private static string FindSchemasDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "schemas");
            if (File.Exists(Path.Combine(candidate, "README.md")) && Directory.Exists(Path.Combine(candidate, "common")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("schemas/ not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Released versions of an event: (version folder, schema).</summary>
    public static IEnumerable<(string Version, Schema Schema)> ReleasedVersions(string eventName)
    {
        var released = Path.Combine(SchemasDir, "released");
        if (!Directory.Exists(released))
        {
            yield break;
        }

        foreach (var versionDir in Directory.EnumerateDirectories(released).Order(StringComparer.Ordinal))
        {
            var file = Path.Combine(versionDir, eventName + ".avsc");
            if (File.Exists(file))
            {
                yield return (Path.GetFileName(versionDir), Schema.Parse(File.ReadAllText(file)));
            }
        }
    }

    /// <summary>
    /// A datum for <paramref name="schema"/> in Apache.Avro's generic representation with every field populated
    /// (unions take their non-null branch, collections hold two elements, timestamps are UTC with millisecond precision).
    /// </summary>
    public static object? Populate(Schema schema, string path = "x")
    {
        switch (schema)
        {
            case RecordSchema record:
                var rec = new GenericRecord(record);
                foreach (var field in record.Fields)
                {
                    rec.Add(field.Name, Populate(field.Schema, path + "." + field.Name));
                }

                return rec;
            case EnumSchema e:
                // Not the first symbol, so a mix-up of symbol order or of default values shows.
                return new GenericEnum(e, e.Symbols[Math.Min(1, e.Symbols.Count - 1)]);
            case ArraySchema a:
                return new object?[] { Populate(a.ItemSchema, path + "[0]"), Populate(a.ItemSchema, path + "[1]") };
            case MapSchema m:
                return new Dictionary<string, object?>
                {
                    ["iccam"] = Populate(m.ValueSchema, path + "{iccam}"),
                    ["ncmec"] = Populate(m.ValueSchema, path + "{ncmec}"),
                };
            case UnionSchema u:
                var branch = u.Schemas.FirstOrDefault(s => s.Tag != Schema.Type.Null) ?? u.Schemas[0];
                return Populate(branch, path);
            case LogicalSchema l when l.LogicalTypeName == "timestamp-millis":
                return new DateTime(2024, 5, 6, 7, 8, 9, 123, DateTimeKind.Utc).AddMilliseconds(Stable(path) % 1_000_000_000L);
            case LogicalSchema l:
                throw new NotSupportedException("logical type " + l.LogicalTypeName + " at " + path);
            case FixedSchema f:
                return new GenericFixed(f, Enumerable.Range(0, f.Size).Select(i => (byte)i).ToArray());
            case PrimitiveSchema p:
                return p.Tag switch
                {
                    Schema.Type.Null => null,
                    Schema.Type.Boolean => Stable(path) % 2 == 0,
                    Schema.Type.Int => (int)(Stable(path) % 100_000) + 1,
                    Schema.Type.Long => Stable(path) + 64496L,
                    Schema.Type.Float => 1.5f,
                    Schema.Type.Double => 2.25d,
                    Schema.Type.Bytes => new byte[] { 0x00, 0x01, 0xfe, 0xff, (byte)(Stable(path) % 256) },
                    Schema.Type.String => SampleString(path),
                    _ => throw new NotSupportedException(p.Tag + " at " + path),
                };
            default:
                throw new NotSupportedException(schema.Tag + " at " + path);
        }
    }

    /// <summary>Synthetic values only (documentation hosts, IP ranges and ASNs).</summary>
    private static string SampleString(string path)
    {
        var leaf = path[(path.LastIndexOf('.') + 1)..];
        if (leaf.StartsWith("url", StringComparison.OrdinalIgnoreCase) || leaf.EndsWith("Url", StringComparison.Ordinal) || leaf == "caseKey" || leaf == "normalizedUrl")
        {
            return "https://files.example/a/" + Stable(path).ToString("x", System.Globalization.CultureInfo.InvariantCulture) + ".jpg";
        }

        if (leaf.StartsWith("ips", StringComparison.Ordinal) || leaf == "originIp")
        {
            return "192.0.2." + (Stable(path) % 250 + 1);
        }

        return leaf + "-" + Stable(path).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A deterministic number per path (string.GetHashCode is randomised per process).</summary>
    private static long Stable(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (var c in s)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        return (long)(h >> 20);
    }

    public static byte[] WriteGeneric(Schema writer, object? datum)
    {
        using var ms = new MemoryStream();
        new GenericDatumWriter<object?>(writer).Write(datum, new BinaryEncoder(ms));
        return ms.ToArray();
    }

    public static object ReadGeneric(Schema writer, Schema reader, byte[] bytes)
    {
        using var ms = new MemoryStream(bytes);
        return new GenericDatumReader<object>(writer, reader).Read(null!, new BinaryDecoder(ms));
    }

    public static byte[] WriteSpecific<T>(T datum)
        where T : ISpecificRecord
    {
        using var ms = new MemoryStream();
        new SpecificDatumWriter<T>(datum.Schema).Write(datum, new BinaryEncoder(ms));
        return ms.ToArray();
    }

    public static object ReadSpecific(Type type, Schema writer, Schema reader, byte[] bytes)
    {
        var readerType = typeof(SpecificDatumReader<>).MakeGenericType(type);
        var datumReader = Activator.CreateInstance(readerType, writer, reader)!;
        using var ms = new MemoryStream(bytes);
        var read = readerType.GetMethod("Read", [type, typeof(Decoder)])!;
        return read.Invoke(datumReader, [null, new BinaryDecoder(ms)])!;
    }

    /// <summary>Deep equality of generic Avro values; on a difference, names the path.</summary>
    public static void AssertDeepEqual(object? expected, object? actual, string path = "$")
    {
        switch (expected)
        {
            case null:
                Assert.True(actual is null, $"{path}: expected null, got {actual}");
                return;
            case GenericRecord er:
                var ar = Assert.IsType<GenericRecord>(actual);
                foreach (var field in er.Schema.Fields)
                {
                    // Only fields both schemas know: a field the reader dropped is not read, a field it added has its default.
                    if (ar.Schema.Contains(field.Name))
                    {
                        AssertDeepEqual(er[field.Name], ar[field.Name], path + "." + field.Name);
                    }
                }

                return;
            case GenericEnum ee:
                Assert.True(actual is GenericEnum ae && ae.Value == ee.Value, $"{path}: expected {ee.Value}, got {actual}");
                return;
            case GenericFixed ef:
                Assert.True(actual is GenericFixed af && af.Value.SequenceEqual(ef.Value), $"{path}: fixed differs");
                return;
            case byte[] eb:
                Assert.True(actual is byte[] ab && ab.SequenceEqual(eb), $"{path}: bytes differ");
                return;
            case DateTime ed:
                var ad = Assert.IsType<DateTime>(actual);
                Assert.True(ed.ToUniversalTime() == ad.ToUniversalTime() && ad.Kind == DateTimeKind.Utc, $"{path}: expected {ed:O}, got {ad:O} ({ad.Kind})");
                return;
            case IDictionary ed2:
                var adict = Assert.IsAssignableFrom<IDictionary>(actual);
                Assert.Equal(ed2.Count, adict.Count);
                foreach (DictionaryEntry entry in ed2)
                {
                    Assert.True(adict.Contains(entry.Key), $"{path}: missing key {entry.Key}");
                    AssertDeepEqual(entry.Value, adict[entry.Key], path + "{" + entry.Key + "}");
                }

                return;
            case IList el when expected is not string:
                var al = Assert.IsAssignableFrom<IList>(actual);
                Assert.Equal(el.Count, al.Count);
                for (var i = 0; i < el.Count; i++)
                {
                    AssertDeepEqual(el[i], al[i], path + "[" + i + "]");
                }

                return;
            default:
                Assert.True(Equals(expected, actual), $"{path}: expected {expected}, got {actual}");
                return;
        }
    }
}
