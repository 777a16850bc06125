using System.Buffers.Binary;
using System.Collections.Concurrent;
using Avro.IO;
using Avro.Specific;
using Confluent.SchemaRegistry;
using Pipeline.Contracts;

namespace Pipeline.Platform;

/// <summary>
/// Avro (de)serialisation through the Schema Registry. Values are framed the Confluent way (magic byte 0, 4-byte
/// big-endian schema id, Avro binary; subject &lt;topic&gt;-value), keys are plain UTF-8 strings.
/// <para>
/// The registry is asked once per (type, topic) for the id to write with and once per schema id for the schema to
/// read; after that both directions are synchronous calls on the caller's thread with a cached compiled
/// writer/reader (<see cref="CompiledAvroWriter"/>, <see cref="CompiledAvroReader"/>; schema resolution for other writer
/// schemas). Confluent's AvroSerializer/AvroDeserializer hopped to the thread pool on every message (their async
/// path ends in ContinueWith) and hashed the schema per call, while the stage thread blocked on them: 4–10 ms per
/// message (issue 11). Reading goes through <see cref="BoundedAvroDecoder"/>, so a crafted payload cannot make a
/// stage allocate more than its bytes justify (issue 15).
/// </para>
/// </summary>
public sealed class AvroSerdes(ISchemaRegistryClient registry, bool autoRegisterSchemas, AvroDecodeLimits? limits = null)
{
    private readonly ConcurrentDictionary<(Type Type, string Topic), object> writers = new();
    private readonly ConcurrentDictionary<int, Task<Avro.Schema>> writerSchemas = new();
    private readonly ConcurrentDictionary<(int SchemaId, Type Type, AvroProjection? Projection), object> readers = new();
    private readonly AvroDecodeLimits limits = limits ?? AvroDecodeLimits.Default;

    [ThreadStatic] private static MemoryStream? buffer;
    [ThreadStatic] private static AvroOutput? plan;

    public ISchemaRegistryClient Registry => registry;

    public AvroDecodeLimits Limits => limits;

    /// <summary>Serialises on the caller's thread; only the first call per (type, topic) waits for the registry.</summary>
    public byte[] Serialize<T>(T value, string topic) where T : class, ISpecificRecord
    {
        ArgumentNullException.ThrowIfNull(value);
        var writer = writers.TryGetValue((typeof(T), topic), out var cached)
            ? (Writer<T>)cached
            : LookUpWriterAsync<T>(topic).GetAwaiter().GetResult();
        return writer.Write(value);
    }

    public async Task<byte[]> SerializeAsync<T>(T value, string topic) where T : class, ISpecificRecord
    {
        ArgumentNullException.ThrowIfNull(value);
        var writer = writers.TryGetValue((typeof(T), topic), out var cached) ? (Writer<T>)cached : await LookUpWriterAsync<T>(topic);
        return writer.Write(value);
    }

    /// <summary>Deserialises on the caller's thread; only the first message of a schema id waits for the registry.</summary>
    /// <param name="projection">Fields the caller never reads, left out of the decode (see <see cref="AvroProjection"/>).</param>
    public T Deserialize<T>(byte[]? data, string topic, AvroProjection? projection = null) where T : class, ISpecificRecord
    {
        var id = SchemaId<T>(data, topic);
        var reader = readers.TryGetValue((id, typeof(T), projection), out var cached)
            ? (Reader<T>)cached
            : LookUpReaderAsync<T>(id, topic, projection).GetAwaiter().GetResult();
        return Read(reader, data!, topic);
    }

    public async Task<T> DeserializeAsync<T>(byte[]? data, string topic) where T : class, ISpecificRecord
    {
        var id = SchemaId<T>(data, topic);
        var reader = readers.TryGetValue((id, typeof(T), null), out var cached) ? (Reader<T>)cached : await LookUpReaderAsync<T>(id, topic, null);
        return Read(reader, data!, topic);
    }

    private static int SchemaId<T>(byte[]? data, string topic)
    {
        if (data is null) throw new UndeserialisableException($"The message on {topic} has no value (a tombstone), but {typeof(T).Name} was expected.");
        if (data.Length < 5 || data[0] != 0)
            throw new UndeserialisableException($"The message on {topic} is not Confluent-framed Avro (magic byte 0 + schema id); {data.Length} bytes starting 0x{Convert.ToHexString(data.AsSpan(0, Math.Min(8, data.Length)))}.");
        return BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(1, 4));
    }

    private T Read<T>(Reader<T> reader, byte[] data, string topic) where T : class, ISpecificRecord
    {
        try
        {
            return reader.Read(new BoundedAvroDecoder(data.AsMemory(5), limits));
        }
        catch (Exception e)
        {
            throw new UndeserialisableException($"The message on {topic} could not be read as {typeof(T).Name}: {e.Message}", e);
        }
    }

    private async Task<Writer<T>> LookUpWriterAsync<T>(string topic) where T : class, ISpecificRecord
    {
        var schema = Schemas.Of<T>();
        var subject = topic + "-value";
        int id;
        try
        {
            var registered = new Schema(schema.ToString(), SchemaType.Avro);
            id = autoRegisterSchemas
                ? await registry.RegisterSchemaAsync(subject, registered, normalize: false).ConfigureAwait(false)
                : (await registry.LookupSchemaAsync(subject, registered, ignoreDeletedSchemas: true, normalize: false).ConfigureAwait(false)).Id;
        }
        catch (Exception e) when (TransientErrors.IsTransient(e))
        {
            ProcessorMetrics.SchemaRegistryFailures.WithLabels("serialize").Inc();
            throw;
        }
        var writer = new Writer<T>(id, schema);
        writers[(typeof(T), topic)] = writer;
        return writer;
    }

    private async Task<Reader<T>> LookUpReaderAsync<T>(int id, string topic, AvroProjection? projection) where T : class, ISpecificRecord
    {
        Avro.Schema writerSchema;
        try
        {
            writerSchema = await writerSchemas.GetOrAdd(id, _ => FetchSchemaAsync(id, topic)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            writerSchemas.TryRemove(id, out _); // never cache a failure: the registry may be back on the next try
            if (!TransientErrors.IsTransient(e))
                throw new UndeserialisableException($"The message on {topic} could not be read as {typeof(T).Name}: {e.Message}", e);
            ProcessorMetrics.SchemaRegistryFailures.WithLabels("deserialize").Inc();
            throw new UndeserialisableException($"The Schema Registry could not be reached to read a {typeof(T).Name} on {topic}: {e.Message}", e);
        }
        Reader<T> reader;
        try
        {
            reader = new Reader<T>(writerSchema, Schemas.Of<T>(), projection);
        }
        catch (Exception e)
        {
            throw new UndeserialisableException($"The message on {topic} could not be read as {typeof(T).Name}: {e.Message}", e);
        }
        readers[(id, typeof(T), projection)] = reader;
        return reader;
    }

    private async Task<Avro.Schema> FetchSchemaAsync(int id, string topic)
    {
        var registered = await registry.GetSchemaBySubjectAndIdAsync(topic + "-value", id).ConfigureAwait(false);
        if (registered.SchemaType != SchemaType.Avro) throw new InvalidDataException($"Schema id {id} is a {registered.SchemaType} schema, not Avro.");
        return Avro.Schema.Parse(registered.SchemaString);
    }

    /// <summary>Reads with the plan <see cref="CompiledAvroReader"/> compiles when the record was written with the class's
    /// own schema (skipping what the projection names); through schema resolution otherwise, whole.</summary>
    private sealed class Reader<T> where T : class, ISpecificRecord
    {
        private readonly CompiledAvroReader.ReadItem? compiled;
        private readonly ResolvedSpecificReader<T>? resolving;

        public Reader(Avro.Schema writerSchema, Avro.Schema readerSchema, AvroProjection? projection)
        {
            if (writerSchema.ToString() == readerSchema.ToString())
            {
                try { compiled = CompiledAvroReader.Compile(readerSchema, projection); }
                catch (Exception) { } // not compiled (e.g. a fixed): schema resolution reads it, or reports what is wrong
            }
            if (compiled is null) resolving = new ResolvedSpecificReader<T>(writerSchema, readerSchema);
        }

        public T Read(Decoder decoder) => compiled is not null ? (T)compiled(decoder)! : resolving!.Read(null!, decoder);
    }

    /// <summary>Writes with the plan <see cref="CompiledAvroWriter"/> compiles for the schema, into a buffer reused per
    /// thread; with Apache.Avro's writer only if the schema has something the plan does not cover.</summary>
    private sealed class Writer<T>(int schemaId, Avro.Schema schema)
    {
        private readonly CompiledAvroWriter.WriteItem? compiled = Compile(schema);
        private SpecificDatumWriter<T>? fallback;

        private static CompiledAvroWriter.WriteItem? Compile(Avro.Schema schema)
        {
            try { return CompiledAvroWriter.Compile(schema); }
            catch (Exception) { return null; } // not compiled (e.g. a union of two records): Apache.Avro's writer
        }

        public byte[] Write(T value)
        {
            if (compiled is null) return WriteWithFallback(value);
            var output = plan ??= new AvroOutput();
            output.Reset();
            output.Byte(0);
            output.Int32BigEndian(schemaId);
            try
            {
                compiled(value, output);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new UnserialisableOutputException($"{typeof(T).Name} cannot be written as Avro: {e.GetType().Name}: {e.Message}", e);
            }
            var bytes = output.ToArray();
            if (output.Capacity > 1 << 20) plan = null; // don't keep a huge buffer per thread
            return bytes;
        }

        private byte[] WriteWithFallback(T value)
        {
            var stream = buffer ??= new MemoryStream(1024);
            stream.SetLength(0);
            stream.WriteByte(0);
            Span<byte> id = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(id, schemaId);
            stream.Write(id);
            try
            {
                (fallback ??= new SpecificDatumWriter<T>(schema)).Write(value, new BinaryEncoder(stream));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                buffer = null; // may hold a partial record
                throw new UnserialisableOutputException($"{typeof(T).Name} cannot be written as Avro: {e.GetType().Name}: {e.Message}", e);
            }
            var bytes = stream.ToArray();
            if (stream.Capacity > 1 << 20) buffer = null; // don't keep a huge buffer per thread
            return bytes;
        }
    }
}
