using System.Collections;
using Avro;
using Avro.Specific;
using Pipeline.Platform;

namespace Pipeline.Contracts.Tests;

/// <summary>A projected read (<see cref="AvroProjection"/>, issue 11) steps over the skipped fields of every record,
/// at any depth, and reads every other field exactly as the whole read does; a skipped field is left as a new instance
/// of the class has it.
/// Skipping still goes through the bounded decoder: a payload that claims too much is refused all the same.</summary>
public class ProjectedReadTests
{
    [Theory]
    [MemberData(nameof(Catalog.RecordTypeNames), MemberType = typeof(Catalog))]
    public void Every_contract_read_with_every_other_field_skipped_has_the_rest_as_read_whole(string typeName)
    {
        var type = Catalog.TypeNamed(typeName);
        var schema = Schemas.Of(type);
        foreach (var odd in new[] { true, false })
        {
            // Every second field of every record reachable from this one: strings, arrays, maps, unions, nested
            // records, enums, longs and timestamps are all skipped somewhere, and read right after.
            var projection = Alternate(schema, odd);
            var read = CompiledAvroReader.Compile(schema, projection);
            foreach (var record in CompiledAvroWriterTests.Variants(type, schema, local: false)) AssertProjected(schema, projection, record, read);
        }
    }

    [Fact]
    public void A_skipped_field_is_bounded_like_a_read_one()
    {
        var schema = Schemas.Of<TakedownNotice>();
        var notice = (TakedownNotice)CompiledAvroWriterTests.Populated(typeof(TakedownNotice), schema);
        notice.ips = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];
        var bytes = AvroTestData.WriteSpecific(notice);
        var skipIps = CompiledAvroReader.Compile(schema, AvroProjection.Skip("TakedownNotice", "ips", "text"));

        var read = (TakedownNotice)skipIps(new BoundedAvroDecoder(bytes))!;
        Assert.Null(read.ips);
        Assert.Null(read.text);
        Assert.Equal(notice.xarf, read.xarf);
        Assert.Equal(notice.issuedAt, read.issuedAt);
        // Three entries against a budget of two: refused although the array is only stepped over.
        var tight = new AvroDecodeLimits { MaxItems = 2 };
        Assert.Throws<AvroPayloadException>(() => skipIps(new BoundedAvroDecoder(bytes, tight)));
        // A skipped string cut short is refused, not read past the end.
        var cut = bytes.AsSpan().IndexOf("192.0.2.1"u8) + 3; // inside the first skipped address
        Assert.Throws<AvroPayloadException>(() => skipIps(new BoundedAvroDecoder(bytes.AsMemory(0, cut))));
    }

    private static AvroProjection Alternate(Schema schema, bool odd)
    {
        var records = new Dictionary<string, RecordSchema>(StringComparer.Ordinal);
        Collect(schema, records);
        AvroProjection? projection = null;
        foreach (var record in records.Values)
        {
            var fields = record.Fields.Where(f => f.Pos % 2 == (odd ? 1 : 0)).Select(f => f.Name).ToArray();
            if (fields.Length == 0) continue;
            projection = projection is null ? AvroProjection.Skip(record.Name, fields) : projection.And(record.Name, fields);
        }
        return projection ?? AvroProjection.Skip("None", "none");
    }

    private static void Collect(Schema schema, Dictionary<string, RecordSchema> records)
    {
        switch (schema)
        {
            case RecordSchema r when records.TryAdd(r.Fullname, r):
                foreach (var f in r.Fields) Collect(f.Schema, records);
                break;
            case ArraySchema a: Collect(a.ItemSchema, records); break;
            case MapSchema m: Collect(m.ValueSchema, records); break;
            case UnionSchema u:
                foreach (var s in u.Schemas) Collect(s, records);
                break;
        }
    }

    private static void AssertProjected(Schema schema, AvroProjection projection, ISpecificRecord record, CompiledAvroReader.ReadItem read)
    {
        var bytes = (byte[])typeof(AvroTestData).GetMethod(nameof(AvroTestData.WriteSpecific))!.MakeGenericMethod(record.GetType()).Invoke(null, [record])!;
        var whole = CompiledAvroReader.Compile(schema)(new BoundedAvroDecoder(bytes));
        var projected = read(new BoundedAvroDecoder(bytes));
        AssertSame(schema, projection, whole, projected, "$");
    }

    private static void AssertSame(Schema schema, AvroProjection projection, object? whole, object? projected, string path)
    {
        switch (schema)
        {
            case RecordSchema r:
                var (w, p) = ((ISpecificRecord)whole!, (ISpecificRecord)projected!);
                Assert.IsType(w.GetType(), p);
                foreach (var f in r.Fields)
                {
                    if (projection.Skips(r.Name, f.Name))
                        Assert.Equal(((ISpecificRecord)Activator.CreateInstance(p.GetType())!).Get(f.Pos), p.Get(f.Pos)); // as a new instance has it
                    else AssertSame(f.Schema, projection, w.Get(f.Pos), p.Get(f.Pos), $"{path}.{f.Name}");
                }
                break;
            case UnionSchema u:
                if (whole is null)
                {
                    Assert.Null(projected);
                    break;
                }
                var branch = u.Schemas.FirstOrDefault(s => s is RecordSchema rs && whole is ISpecificRecord sr && sr.Schema.Fullname == rs.Fullname)
                    ?? u.Schemas.FirstOrDefault(s => s is ArraySchema && whole is IList)
                    ?? u.Schemas.FirstOrDefault(s => s is MapSchema && whole is IDictionary)
                    ?? u.Schemas.First(s => s.Tag != Schema.Type.Null);
                AssertSame(branch, projection, whole, projected, path);
                break;
            case ArraySchema a:
                var (wl, pl) = ((IList)whole!, (IList)projected!);
                Assert.Equal(wl.Count, pl.Count);
                for (var i = 0; i < wl.Count; i++) AssertSame(a.ItemSchema, projection, wl[i], pl[i], $"{path}[{i}]");
                break;
            case MapSchema m:
                var (wm, pm) = ((IDictionary)whole!, (IDictionary)projected!);
                Assert.Equal(wm.Count, pm.Count);
                foreach (DictionaryEntry e in wm) AssertSame(m.ValueSchema, projection, e.Value, pm[e.Key], $"{path}[{e.Key}]");
                break;
            default:
                Assert.True(Equals(whole, projected) || (whole is byte[] wb && projected is byte[] pb && wb.SequenceEqual(pb)),
                    $"{path}: read whole {whole}, projected {projected}");
                break;
        }
    }
}
