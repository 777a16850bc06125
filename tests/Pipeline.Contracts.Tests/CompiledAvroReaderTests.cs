using Avro;
using Avro.IO;
using Avro.Specific;
using Pipeline.Platform;

namespace Pipeline.Contracts.Tests;

/// <summary>The platform's compiled Avro reader (issue 11) reads every contract back to what Apache.Avro reads, through
/// the bounded decoder: fully populated, with non-ASCII text and local timestamps, and with every optional value null
/// and every collection empty. A truncated record or an unknown union branch is refused.</summary>
public class CompiledAvroReaderTests
{
    [Theory]
    [MemberData(nameof(Catalog.RecordTypeNames), MemberType = typeof(Catalog))]
    public void Every_contract_reads_back_to_what_Apache_Avro_reads(string typeName)
    {
        var type = Catalog.TypeNamed(typeName);
        var schema = Schemas.Of(type);
        var read = CompiledAvroReader.Compile(schema);

        foreach (var record in CompiledAvroWriterTests.Variants(type, schema, local: true)) AssertReadsBack(type, schema, read, record);
    }

    [Fact]
    public void A_truncated_record_and_an_unknown_union_branch_are_refused()
    {
        var schema = Schemas.Of<ReportRejected>();
        var bytes = AvroTestData.WriteSpecific((ReportRejected)CompiledAvroWriterTests.Populated(typeof(ReportRejected), schema));
        var read = CompiledAvroReader.Compile(schema);

        Assert.Throws<AvroPayloadException>(() => read(new BoundedAvroDecoder(bytes.AsMemory(0, bytes.Length - 3))));
        var union = CompiledAvroReader.Compile(Schema.Parse("""["null","string"]"""));
        Assert.Throws<AvroException>(() => union(new BoundedAvroDecoder(new byte[] { 4 })));
    }

    private static void AssertReadsBack(Type type, Schema schema, CompiledAvroReader.ReadItem read, ISpecificRecord record)
    {
        var bytes = Write(type, record);
        var compiled = (ISpecificRecord)read(new BoundedAvroDecoder(bytes))!;
        var apache = (ISpecificRecord)AvroTestData.ReadSpecific(type, schema, schema, bytes);
        Assert.IsType(type, compiled);
        Assert.Equal(Convert.ToHexString(Write(type, apache)), Convert.ToHexString(Write(type, compiled)));
        AvroTestData.AssertDeepEqual(AvroTestData.ReadGeneric(schema, schema, Write(type, apache)), AvroTestData.ReadGeneric(schema, schema, Write(type, compiled)));
    }

    private static byte[] Write(Type type, ISpecificRecord record) =>
        (byte[])typeof(AvroTestData).GetMethod(nameof(AvroTestData.WriteSpecific))!.MakeGenericMethod(type).Invoke(null, [record])!;
}
