using System.Collections;
using Avro;
using Avro.Specific;
using Pipeline.Platform;

namespace Pipeline.Contracts.Tests;

/// <summary>The platform's compiled Avro writer (issue 11) writes exactly the bytes Apache.Avro's SpecificDatumWriter
/// writes, for every contract: fully populated, with every optional value null and every collection empty, with
/// non-ASCII text and with timestamps of every DateTimeKind.</summary>
public class CompiledAvroWriterTests
{
    [Theory]
    [MemberData(nameof(Catalog.RecordTypeNames), MemberType = typeof(Catalog))]
    public void Every_contract_is_written_byte_for_byte_as_Apache_Avro_writes_it(string typeName)
    {
        var type = Catalog.TypeNamed(typeName);
        var schema = Schemas.Of(type);
        var write = CompiledAvroWriter.Compile(schema);

        var populated = Populated(type, schema);
        AssertSameBytes(type, write, populated);

        Vary(populated, schema, text: "Tékst € 😀 \ud800 x", local: true);
        AssertSameBytes(type, write, populated);

        Empty(populated, schema);
        AssertSameBytes(type, write, populated);
    }

    [Fact]
    public void A_required_field_left_null_is_refused_as_Apache_Avro_refuses_it()
    {
        var schema = Schemas.Of<ReportRejected>();
        var rejected = (ReportRejected)Populated(typeof(ReportRejected), schema);
        var required = ((RecordSchema)schema).Fields.First(f => f.Schema.Tag == Schema.Type.String);
        rejected.Put(required.Pos, null);

        Assert.ThrowsAny<AvroException>(() => AvroTestData.WriteSpecific(rejected));
        Assert.Throws<AvroTypeException>(() => CompiledAvroWriter.Compile(schema)(rejected, new AvroOutput()));
    }

    /// <summary>One record of the type in the three states the Avro tests read and write, in turn: populated, then with
    /// non-ASCII text (and local timestamps if <paramref name="local"/>), then with every optional value null and every
    /// collection empty. The same instance each time, changed in place.</summary>
    internal static IEnumerable<ISpecificRecord> Variants(Type type, Schema schema, bool local)
    {
        var record = Populated(type, schema);
        yield return record;
        Vary(record, schema, text: "Tékst € 😀 x", local);
        yield return record;
        Empty(record, schema);
        yield return record;
    }

    internal static ISpecificRecord Populated(Type type, Schema schema) =>
        (ISpecificRecord)AvroTestData.ReadSpecific(type, schema, schema, AvroTestData.WriteGeneric(schema, AvroTestData.Populate(schema)));

    private static void AssertSameBytes(Type type, CompiledAvroWriter.WriteItem write, ISpecificRecord record)
    {
        var expected = (byte[])typeof(AvroTestData).GetMethod(nameof(AvroTestData.WriteSpecific))!.MakeGenericMethod(type).Invoke(null, [record])!;
        var output = new AvroOutput();
        write(record, output);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(output.ToArray()));
    }

    /// <summary>Every string becomes <paramref name="text"/>; with <paramref name="local"/> every timestamp a local time.</summary>
    internal static void Vary(ISpecificRecord record, Schema schema, string text, bool local)
    {
        foreach (var field in ((RecordSchema)schema).Fields)
        {
            var value = record.Get(field.Pos);
            var fieldSchema = field.Schema is UnionSchema u ? u.Schemas.First(s => s.Tag != Schema.Type.Null) : field.Schema;
            switch (value)
            {
                case string:
                    record.Put(field.Pos, text);
                    break;
                case DateTime d when local:
                    record.Put(field.Pos, d.ToLocalTime());
                    break;
                case ISpecificRecord inner:
                    Vary(inner, fieldSchema, text, local);
                    break;
                case IList list when fieldSchema is ArraySchema { ItemSchema: RecordSchema item }:
                    foreach (var element in list) Vary((ISpecificRecord)element!, item, text, local);
                    break;
            }
        }
    }

    /// <summary>Every optional value null, every array and map empty, all the way down.</summary>
    internal static void Empty(ISpecificRecord record, Schema schema)
    {
        foreach (var field in ((RecordSchema)schema).Fields)
        {
            var value = record.Get(field.Pos);
            if (field.Schema is UnionSchema) record.Put(field.Pos, null);
            else if (value is IList list) list.Clear();
            else if (value is IDictionary map) map.Clear();
            else if (value is ISpecificRecord inner) Empty(inner, field.Schema);
        }
    }
}

/// <summary>State that measures or schedules notices keeps them without their bodies (issue 11).</summary>
public class TakedownNoticeBodiesTests
{
    [Fact]
    public void A_notice_without_bodies_keeps_every_other_field_and_leaves_the_original_whole()
    {
        var schema = Schemas.Of<TakedownNotice>();
        var notice = (TakedownNotice)CompiledAvroWriterTests.Populated(typeof(TakedownNotice), schema);
        var (xarf, text) = (notice.xarf, notice.text);

        var slim = notice.WithoutBodies();

        Assert.Equal(("", ""), (slim.xarf, slim.text));
        Assert.Equal((xarf, text), (notice.xarf, notice.text));
        foreach (var field in ((RecordSchema)schema).Fields.Where(f => f.Name is not "xarf" and not "text"))
            Assert.Equal(notice.Get(field.Pos), slim.Get(field.Pos));
        slim.noticeId = "changed";
        Assert.NotEqual("changed", notice.noticeId);
    }
}
