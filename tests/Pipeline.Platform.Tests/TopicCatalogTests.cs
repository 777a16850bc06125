using System.Reflection;
using Pipeline.Contracts;

namespace Pipeline.Platform.Tests;

public sealed class TopicCatalogTests
{
    public static TheoryData<string> TopicConstants()
    {
        var data = new TheoryData<string>();
        foreach (var f in typeof(Topics).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral))
            data.Add((string)f.GetRawConstantValue()!);
        return data;
    }

    [Theory]
    [MemberData(nameof(TopicConstants))]
    public void Every_topic_constant_is_in_the_catalog(string topic) => Assert.Equal(topic, TopicCatalog.Get(topic).Name);

    [Fact]
    public void Every_catalog_value_type_is_a_generated_event_type()
    {
        Assert.NotEmpty(TopicCatalog.All);
        foreach (var topic in TopicCatalog.All)
        {
            var type = SchemaRegistration.ValueType(topic);
            Assert.Equal(topic.ValueType, type.Name);
            Assert.Contains(type, Schemas.EventTypes);
            Assert.Equal("Pipeline.Contracts." + topic.ValueType, Schemas.Of(type).Fullname);
        }
    }

    [Fact]
    public void Catalog_names_are_unique_and_every_real_stage_has_a_dead_letter_topic()
    {
        Assert.Equal(TopicCatalog.All.Count, TopicCatalog.All.Select(t => t.Name).Distinct().Count());
        foreach (var stage in new[] { "intake", "geolocation", "classification", "routing", "takedown", "recheck", "sla" })
            Assert.Equal(nameof(DeadLetter), TopicCatalog.Get(Topics.DeadLetter(stage)).ValueType);
        Assert.Throws<KeyNotFoundException>(() => TopicCatalog.Get("no.such.topic.v1"));
    }
}
