using Avro;
using Avro.Specific;
using Pipeline.Audit;
using Pipeline.Platform;

namespace Pipeline.Contracts.Tests;

/// <summary>The audit stage decodes its inputs without the fields it never copies (<see cref="AuditMapper.Unread"/>,
/// issue 11). Every name in that projection is a field of a contract (a misspelt one would silently skip nothing), and
/// for every input of the stage, populated, varied and emptied, the audit record made from the projected decode is the
/// one made from the whole record.</summary>
public class AuditProjectionTests
{
    private static readonly AuditMapper Mapper = new(new CaseTokens([.. Enumerable.Range(1, 32).Select(i => (byte)i)]));

    public static TheoryData<string> AuditInputs() =>
    [
        .. typeof(AuditProcessor).GetInterfaces()
            .Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IProcessor<>))
            .Select(i => i.GetGenericArguments()[0].Name),
    ];

    [Fact]
    public void Every_skipped_name_is_a_field_of_a_contract_record()
    {
        var fields = Catalog.RecordTypes().Select(Schemas.Of).OfType<RecordSchema>()
            .SelectMany(r => r.Fields.Select(f => (r.Name, f.Name))).ToHashSet();
        Assert.Equal(18, AuditInputs().Count);
        Assert.All(AuditMapper.Unread.Fields, skipped => Assert.Contains(skipped, fields));
    }

    [Theory]
    [MemberData(nameof(AuditInputs))]
    public void An_input_decoded_without_the_unread_fields_gives_the_same_audit_record(string typeName)
    {
        var type = Catalog.TypeNamed(typeName);
        var schema = Schemas.Of(type);
        var projected = CompiledAvroReader.Compile(schema, AuditMapper.Unread);
        var checkedRecords = 0;
        foreach (var record in CompiledAvroWriterTests.Variants(type, schema, local: false))
        {
            if (record is NoticeDelivery delivery) delivery.status = DeliveryStatus.MOVED; // a decision, with the new hosting and the notice
            var bytes = (byte[])typeof(AvroTestData).GetMethod(nameof(AvroTestData.WriteSpecific))!.MakeGenericMethod(type).Invoke(null, [record])!;
            var whole = Mapper.Map(record, "topic.v1", "stage");
            var fromProjection = Mapper.Map((ISpecificRecord)projected(new BoundedAvroDecoder(bytes))!, "topic.v1", "stage");
            Assert.Equal(whole is null, fromProjection is null);
            if (whole is null) continue;
            Assert.Equal(Convert.ToHexString(AvroTestData.WriteSpecific(whole)), Convert.ToHexString(AvroTestData.WriteSpecific(fromProjection!)));
            checkedRecords++;
        }
        // Routine checks and retries map to nothing; each type is compared as a decision at least once.
        Assert.True(checkedRecords > 0, $"{typeName}: no audit record to compare");
    }
}
