using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Pipeline.Platform;

/// <summary>
/// One idempotent producer for all the stages of a process (issue 11): where several stages run together (the demo,
/// the bench, a pod that runs more than one stage), each used to have a producer of its own, with a librdkafka thread
/// per broker and batches of one or two records each. They now lease one producer per connection setting, so the
/// process has one set of broker threads and fuller batches. Stages in <c>Kafka:Transactions</c> mode keep a
/// transactional producer of their own (a transaction belongs to one producer).
/// <para>The producer is reference-counted: it is destroyed when the last lease goes, never while a stage thread may
/// still produce through it (Confluent.Kafka does not count references on its handle; a handle destroyed under a
/// thread inside it is a native crash: issue 16). A fatal error reaches every stage that holds a lease (each stops
/// without committing, as with a producer of its own), and a new lease taken afterwards gets a new producer.</para>
/// <para>A stage no longer calls <c>Flush</c> on it to wait for its outputs (that would wait for every other stage's
/// too, and under steady load might never see an empty queue); it waits for its own deliveries, counted per stage
/// (<see cref="ProcessorHost"/>).</para>
/// </summary>
public static class SharedProducer
{
    private static readonly object Gate = new();
    private static readonly Dictionary<string, Handle> Producers = [];

    /// <summary>Leases the process's producer for <paramref name="config"/> (same settings, same producer). The lease's
    /// <paramref name="onFatal"/> hears a fatal error of the producer until the lease is disposed; other errors (brokers
    /// away, retried by the client) are logged once for all stages.</summary>
    public static Lease Acquire(ProducerConfig config, Action<Error> onFatal, ILogger log)
    {
        var key = string.Join('\n', config.Where(p => p.Key != "client.id").OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value));
        lock (Gate)
        {
            if (!Producers.TryGetValue(key, out var handle) || handle.Poisoned)
            {
                handle = new Handle(key, config, log);
                Producers[key] = handle;
            }
            return handle.Add(onFatal);
        }
    }

    /// <summary>The producers the process holds now for <paramref name="bootstrapServers"/>, each with its number of
    /// leases (for tests).</summary>
    internal static List<int> LeasesFor(string bootstrapServers)
    {
        lock (Gate) return [.. Producers.Values.Where(h => h.BootstrapServers == bootstrapServers).Select(h => h.Leases)];
    }

    internal sealed class Handle
    {
        private readonly string key;
        private readonly List<Lease> leases = [];
        public IProducer<byte[]?, byte[]?> Producer { get; }
        public bool Poisoned { get; private set; }
        public string? BootstrapServers { get; }
        public int Leases => leases.Count;

        public Handle(string key, ProducerConfig config, ILogger log)
        {
            this.key = key;
            BootstrapServers = config.BootstrapServers;
            var shared = new ProducerConfig(config.ToDictionary(p => p.Key, p => p.Value)) { ClientId = $"pipeline-{Environment.ProcessId}-producer" };
            Producer = new ProducerBuilder<byte[]?, byte[]?>(shared)
                .SetErrorHandler((_, e) =>
                {
                    log.LogWarning("shared producer: {Reason}", e.Reason);
                    if (!e.IsFatal) return;
                    Lease[] listeners;
                    lock (Gate)
                    {
                        Poisoned = true;
                        listeners = [.. leases];
                    }
                    foreach (var lease in listeners) lease.Heard(e);
                })
                .SetLogHandler((_, m) => { if (m.Level <= SyslogLevel.Warning) log.LogDebug("shared producer librdkafka: {Message}", m.Message); })
                .Build();
        }

        public Lease Add(Action<Error> onFatal)
        {
            var lease = new Lease(this, onFatal);
            leases.Add(lease);
            return lease;
        }

        public void Remove(Lease lease)
        {
            bool last;
            lock (Gate)
            {
                if (!leases.Remove(lease)) return;
                last = leases.Count == 0;
                if (last && Producers.TryGetValue(key, out var current) && ReferenceEquals(current, this)) Producers.Remove(key);
            }
            if (last) Producer.Dispose();
        }
    }

    /// <summary>A stage's use of the shared producer; disposing it gives the producer back (the last one destroys it).</summary>
    public sealed class Lease : IDisposable
    {
        private readonly Handle handle;
        private readonly Action<Error> onFatal;

        internal Lease(Handle handle, Action<Error> onFatal) => (this.handle, this.onFatal) = (handle, onFatal);

        public IProducer<byte[]?, byte[]?> Producer => handle.Producer;

        internal void Heard(Error e) => onFatal(e);

        public void Dispose() => handle.Remove(this);
    }
}
