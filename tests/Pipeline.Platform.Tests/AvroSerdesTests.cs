using System.Buffers.Binary;
using Avro.Generic;
using Confluent.Kafka;
using Confluent.SchemaRegistry.Serdes;
using Pipeline.Contracts;
using Pipeline.Platform.Embedded;

namespace Pipeline.Platform.Tests;

public class AvroSerdesTests
{
    private static ReportSubmitted Sample() => new()
    {
        eventId = "ev-1",
        caseKey = null,
        submittedAt = new DateTime(2026, 11, 2, 8, 0, 0, DateTimeKind.Utc),
        report = new Report
        {
            reportId = "r-1", sourceHotline = "nl-hotline", sourceReference = "NL-1",
            externalIds = new Dictionary<string, string> { ["a"] = "b" },
            receivedAt = new DateTime(2026, 11, 2, 8, 0, 0, DateTimeKind.Utc), reportedAt = null,
            url = "https://site1.nl-swift.example/x.jpg", parentUrl = null, isSourceUrl = true,
            contentType = ContentType.IMAGE, siteType = SiteType.IMAGE_HOST, commercial = false,
            hashes = new ContentHashes { sha256 = new string('a', 64), md5 = null },
            reporterType = ReporterType.ANONYMOUS, reporterContact = null, assessment = null, hops = ["x", "y"],
        },
    };

    [Fact]
    public async Task Keeps_the_Confluent_wire_format_both_ways()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync();
        using var clients = PipelineClients.For(runtime);
        var ours = clients.Serdes.Serialize(Sample(), Topics.ReportsSubmitted);
        var context = new SerializationContext(MessageComponentType.Value, Topics.ReportsSubmitted);
        var confluent = await new AvroSerializer<ReportSubmitted>(clients.Registry, new AvroSerializerConfig { AutoRegisterSchemas = false }).SerializeAsync(Sample(), context);

        Assert.Equal(confluent, ours);
        var read = await new AvroDeserializer<ReportSubmitted>(clients.Registry).DeserializeAsync(ours, false, context);
        Assert.Equal("r-1", read.report.reportId);
        var back = clients.Serdes.Deserialize<ReportSubmitted>(confluent, Topics.ReportsSubmitted);
        Assert.Equal(["x", "y"], back.report.hops);
        Assert.Equal("b", back.report.externalIds["a"]);
        Assert.Equal(Sample().submittedAt, back.submittedAt);
    }

    /// <summary>A record written with another schema (here an older one without the optional caseKey) is read through
    /// schema resolution, not the compiled reader (which serves records written with the class's own schema).</summary>
    [Fact]
    public async Task A_record_written_with_another_schema_is_read_through_schema_resolution()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync();
        using var clients = PipelineClients.For(runtime);
        var current = System.Text.Json.Nodes.JsonNode.Parse(Schemas.Of<ReportSubmitted>().ToString())!;
        var fields = current["fields"]!.AsArray();
        fields.Remove(fields.First(f => (string?)f!["name"] == "caseKey"));
        var older = (Avro.RecordSchema)Avro.Schema.Parse(current.ToJsonString());
        var id = await clients.Registry.RegisterSchemaAsync(Topics.ReportsSubmitted + "-value", new Confluent.SchemaRegistry.Schema(older.ToString(), Confluent.SchemaRegistry.SchemaType.Avro));

        var ours = clients.Serdes.Serialize(Sample(), Topics.ReportsSubmitted);
        var generic = new GenericDatumReader<GenericRecord>(Schemas.Of<ReportSubmitted>(), older).Read(null!, new Avro.IO.BinaryDecoder(new MemoryStream(ours, 5, ours.Length - 5)));
        using var body = new MemoryStream();
        body.WriteByte(0);
        var framedId = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(framedId, id);
        body.Write(framedId);
        new GenericDatumWriter<GenericRecord>(older).Write(generic, new Avro.IO.BinaryEncoder(body));

        Assert.NotEqual(BinaryPrimitives.ReadInt32BigEndian(ours.AsSpan(1, 4)), id);
        var read = clients.Serdes.Deserialize<ReportSubmitted>(body.ToArray(), Topics.ReportsSubmitted);
        Assert.Null(read.caseKey);
        Assert.Equal(["x", "y"], read.report.hops);
        Assert.Equal(Sample().submittedAt, read.submittedAt);
    }

    [Fact]
    public async Task An_unknown_schema_id_or_broken_framing_is_undeserialisable_with_a_reason()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync();
        using var clients = PipelineClients.For(runtime);
        var bytes = clients.Serdes.Serialize(Sample(), Topics.ReportsSubmitted);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1, 4), 999_999);
        var unknown = Assert.Throws<UndeserialisableException>(() => clients.Serdes.Deserialize<ReportSubmitted>(bytes, Topics.ReportsSubmitted));
        Assert.False(TransientErrors.IsTransient(unknown));
        var junk = Assert.Throws<UndeserialisableException>(() => clients.Serdes.Deserialize<ReportSubmitted>("{\"url\":1}"u8.ToArray(), Topics.ReportsSubmitted));
        Assert.Contains("not Confluent-framed Avro", junk.Message, StringComparison.Ordinal);
        Assert.Contains("tombstone", Assert.Throws<UndeserialisableException>(() => clients.Serdes.Deserialize<ReportSubmitted>(null, Topics.ReportsSubmitted)).Message, StringComparison.Ordinal);
    }

    /// <summary>Issue 15: 250 B – 2 KB payloads whose length prefixes claim far more than follows made Apache.Avro's
    /// decoder allocate 0.9–5.4 GiB. Each must now be refused, having allocated about what the payload holds.</summary>
    [Fact]
    public async Task Crafted_length_prefixes_are_refused_without_allocating_what_they_claim()
    {
        await using var runtime = await EmbeddedRuntime.StartAsync();
        using var clients = PipelineClients.For(runtime);
        var valid = clients.Serdes.Serialize(Sample(), Topics.ReportsSubmitted);
        clients.Serdes.Deserialize<ReportSubmitted>(valid, Topics.ReportsSubmitted); // the reader is built once per schema id: not part of the cost
        var header = valid[..5];
        var padding = Enumerable.Repeat((byte)'A', 1500).ToArray();
        var crafted = new Dictionary<string, byte[]>
        {
            // eventId: a string of int.MaxValue bytes
            ["string"] = [.. header, .. Long(int.MaxValue), .. padding],
            // eventId, caseKey null, reportId, sourceHotline, sourceReference, then externalIds: a map of 10^9 entries
            ["map"] = [.. header, .. Str("e"), .. Long(0), .. Str("r"), .. Str("h"), .. Str("s"), .. Long(1_000_000_000), .. padding],
            // the same, the map's block as a negative count with a byte size far beyond the payload
            ["map block size"] = [.. header, .. Str("e"), .. Long(0), .. Str("r"), .. Str("h"), .. Str("s"), .. Long(-3), .. Long(1L << 40), .. padding],
            // a map whose first key claims 2 GiB
            ["map key"] = [.. header, .. Str("e"), .. Long(0), .. Str("r"), .. Str("h"), .. Str("s"), .. Long(1), .. Long(int.MaxValue - 1), .. padding],
        };
        foreach (var (name, payload) in crafted)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var error = Assert.Throws<UndeserialisableException>(() => clients.Serdes.Deserialize<ReportSubmitted>(payload, Topics.ReportsSubmitted));
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 256 * 1024, $"{name}: {allocated:N0} bytes allocated for a {payload.Length}-byte payload");
            Assert.Contains("could not be read as ReportSubmitted", error.Message, StringComparison.Ordinal);
            Assert.Contains("follow", error.Message, StringComparison.Ordinal);
            Assert.False(TransientErrors.IsTransient(error));
        }
    }

    [Fact]
    public void Arrays_of_empty_items_are_bounded_by_the_item_budget()
    {
        // An array of nulls costs no bytes per item, so the bytes alone cannot bound it: a billion of them in 6 bytes.
        var schema = Avro.Schema.Parse("""{"type":"record","name":"Probe","fields":[{"name":"a","type":{"type":"array","items":"null"}}]}""");
        var reader = new GenericDatumReader<GenericRecord>(schema, schema);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<AvroPayloadException>(() => reader.Read(null!, new BoundedAvroDecoder(Long(1_000_000_000), new AvroDecodeLimits { MaxItems = 10_000 })));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 256 * 1024);
        Assert.Contains("at most 10,000", error.Message, StringComparison.Ordinal);

        var fine = reader.Read(null!, new BoundedAvroDecoder((byte[])[.. Long(3), .. Long(0)]));
        Assert.Equal(3, ((object[])fine["a"]).Length);
    }

    [Fact]
    public void A_payload_is_judged_by_its_bytes_and_entries_only_not_by_how_long_the_decoding_thread_was_held_up()
    {
        // CI on a loaded machine: the first decode after a restart (JIT included) was descheduled for over a second and
        // a legitimate takedown request was dead-lettered as "decoding took longer than 1,000 ms". The same payload must
        // get the same verdict whatever the load, so nothing the decoder or its limits hold may measure time: the
        // decoder's whole state is its bytes, its limits, its position and its item count.
        Type[] clocks = [typeof(TimeSpan), typeof(DateTime), typeof(DateTimeOffset), typeof(System.Diagnostics.Stopwatch), typeof(TimeProvider), typeof(CancellationToken)];
        const System.Reflection.BindingFlags all = System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static
            | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic;
        var decoderState = typeof(BoundedAvroDecoder).GetFields(all).Select(f => f.FieldType).ToList();
        Type[] expected = [typeof(ReadOnlyMemory<byte>), typeof(AvroDecodeLimits), typeof(int), typeof(long)];
        Assert.Equal(expected.Select(t => t.FullName).Order(), decoderState.Select(t => t.FullName).Order());
        Assert.DoesNotContain(typeof(AvroDecodeLimits).GetFields(all), f => clocks.Contains(f.FieldType) || f.FieldType == typeof(long) && f.Name.Contains("tick", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(typeof(AvroDecodeLimits).GetProperties(), p => clocks.Contains(p.PropertyType));

        var schema = Avro.Schema.Parse("""{"type":"record","name":"Probe","fields":[{"name":"a","type":{"type":"array","items":"long"}}]}""");
        var read = new GenericDatumReader<GenericRecord>(schema, schema).Read(null!, new BoundedAvroDecoder((byte[])[.. Long(3), .. Long(1), .. Long(2), .. Long(3), .. Long(0)]));
        Assert.Equal([1L, 2L, 3L], ((object[])read["a"]).Cast<long>());
    }

    private static byte[] Long(long value)
    {
        var zigzag = (ulong)((value << 1) ^ (value >> 63));
        var bytes = new List<byte>();
        while (zigzag >= 0x80)
        {
            bytes.Add((byte)(zigzag | 0x80));
            zigzag >>= 7;
        }
        bytes.Add((byte)zigzag);
        return [.. bytes];
    }

    private static byte[] Str(string s) => [.. Long(System.Text.Encoding.UTF8.GetByteCount(s)), .. System.Text.Encoding.UTF8.GetBytes(s)];
}
