using Avro;
using Avro.Specific;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

/// <summary>The generated types found by name are the ones Apache.Avro's ObjectCreator finds, for every record, enum,
/// fixed, array and map in every contract.</summary>
public sealed class SpecificTypesTests
{
    public static TheoryData<string> Contracts()
    {
        var data = new TheoryData<string>();
        foreach (var type in Schemas.EventTypes) data.Add(type.FullName!);
        return data;
    }

    [Theory]
    [MemberData(nameof(Contracts))]
    public void Every_type_a_contract_reads_into_is_the_one_apache_avro_finds(string contract)
    {
        var schema = Schemas.Of(Schemas.EventTypes.Single(t => t.FullName == contract));
        var checkedSchemas = 0;
        foreach (var s in Walk(schema, []))
        {
            Assert.Equal(ObjectCreator.Instance.GetType(s), SpecificTypes.Of(s));
            checkedSchemas++;
        }
        Assert.True(checkedSchemas > 0);
    }

    [Fact]
    public void A_name_no_assembly_has_is_still_asked_of_apache_avro_which_names_it_in_its_error()
    {
        var unknown = Schema.Parse("""{"type":"record","name":"NoSuchRecord","namespace":"Nowhere.Test","fields":[]}""");
        var e = Assert.Throws<AvroException>(() => SpecificTypes.Of(unknown));
        Assert.Contains("Nowhere.Test.NoSuchRecord", e.Message);
    }

    private static IEnumerable<Schema> Walk(Schema schema, HashSet<string> seen)
    {
        switch (schema)
        {
            case RecordSchema r when seen.Add(r.Fullname):
                yield return r;
                foreach (var f in r.Fields)
                    foreach (var s in Walk(f.Schema, seen)) yield return s;
                break;
            case EnumSchema or FixedSchema when seen.Add(((NamedSchema)schema).Fullname):
                yield return schema;
                break;
            case ArraySchema a:
                yield return a;
                foreach (var s in Walk(a.ItemSchema, seen)) yield return s;
                break;
            case MapSchema m:
                yield return m;
                foreach (var s in Walk(m.ValueSchema, seen)) yield return s;
                break;
            case UnionSchema u:
                foreach (var b in u.Schemas)
                    foreach (var s in Walk(b, seen)) yield return s;
                break;
        }
    }
}
