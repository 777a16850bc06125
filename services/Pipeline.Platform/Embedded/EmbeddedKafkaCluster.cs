using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;

namespace Pipeline.Platform.Embedded;

/// <summary>
/// An in-process Kafka cluster on librdkafka's mock cluster: the real Kafka wire protocol on loopback, with
/// consumer groups, idempotent producers and fault injection. Limits (shared/EMBEDDED-KAFKA.md): topics are
/// created through the C API (no CreateTopics admin call), transactions are not exactly-once, each partition
/// keeps about 5 MiB, and the cluster lives in memory only.
/// </summary>
public sealed class EmbeddedKafkaCluster : IDisposable
{
    private readonly Lock gate = new();
    private IntPtr rk;
    private IntPtr mcluster;
    private readonly Dictionary<string, int> topics = new(StringComparer.Ordinal);

    private EmbeddedKafkaCluster(IntPtr rk, IntPtr mcluster, int brokers)
    {
        this.rk = rk;
        this.mcluster = mcluster;
        BrokerCount = brokers;
        BootstrapServers = Marshal.PtrToStringUTF8(LibRdKafka.rd_kafka_mock_cluster_bootstraps(mcluster))
            ?? throw new InvalidOperationException("The mock cluster returned no bootstrap servers.");
    }

    /// <summary>Comma-separated <c>127.0.0.1:port</c> list, usable by any Kafka client, also from other processes.</summary>
    public string BootstrapServers { get; }

    public int BrokerCount { get; }

    public IReadOnlyCollection<string> Topics
    {
        get { lock (gate) return topics.Keys.ToArray(); }
    }

    /// <summary>The partition count a topic was created with.</summary>
    public int PartitionCount(string topic)
    {
        lock (gate)
            return topics.TryGetValue(topic, out var n) ? n : throw new ArgumentException($"The embedded cluster has no topic {topic}.", nameof(topic));
    }

    /// <summary>Starts a cluster of <paramref name="brokers"/> brokers. The group initial-rebalance delay is removed
    /// so that consumers join at once. OffsetForLeaderEpoch is not offered (<see cref="OffsetForLeaderEpoch"/>).</summary>
    public static EmbeddedKafkaCluster Start(int brokers = 3)
    {
        if (brokers < 1) throw new ArgumentOutOfRangeException(nameof(brokers), "An embedded cluster needs at least one broker.");
        LibRdKafka.EnsureLoaded();
        var errstr = new byte[512];
        var conf = LibRdKafka.rd_kafka_conf_new();
        foreach (var (name, value) in new[] { ("log_level", "3"), ("client.id", "embedded-kafka") })
        {
            if (LibRdKafka.rd_kafka_conf_set(conf, name, value, errstr, (UIntPtr)errstr.Length) != 0)
                throw new InvalidOperationException($"rd_kafka_conf_set {name}: " + Encoding.UTF8.GetString(errstr).TrimEnd('\0'));
        }
        var rk = LibRdKafka.rd_kafka_new(LibRdKafka.RdKafkaProducer, conf, errstr, (UIntPtr)errstr.Length);
        if (rk == IntPtr.Zero)
            throw new InvalidOperationException("rd_kafka_new failed: " + Encoding.UTF8.GetString(errstr).TrimEnd('\0'));
        var mcluster = LibRdKafka.rd_kafka_mock_cluster_new(rk, brokers);
        if (mcluster == IntPtr.Zero)
        {
            LibRdKafka.rd_kafka_destroy(rk);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed.");
        }
        LibRdKafka.rd_kafka_mock_group_initial_rebalance_delay_ms(mcluster, 0);
        var disabled = LibRdKafka.rd_kafka_mock_set_apiversion(mcluster, OffsetForLeaderEpoch, -1, -1);
        if (disabled != 0)
        {
            LibRdKafka.rd_kafka_mock_cluster_destroy(mcluster);
            LibRdKafka.rd_kafka_destroy(rk);
            throw new InvalidOperationException("rd_kafka_mock_set_apiversion OffsetForLeaderEpoch: " + LibRdKafka.ErrorString(disabled));
        }
        return new EmbeddedKafkaCluster(rk, mcluster, brokers);
    }

    /// <summary>
    /// The Kafka API key of OffsetForLeaderEpoch, which this cluster does not offer. After a partition leader moves,
    /// librdkafka validates each consumer's position with it (KIP-320). A real broker answers with the end offset of the
    /// largest leader epoch at or below the one asked; librdkafka's mock broker answers only for an epoch that still has
    /// record batches, and -1 otherwise (a leader that moved twice with nothing written between, or an epoch whose
    /// records were evicted or deleted), which the client takes for a log truncation: it resets the position to the
    /// partition's beginning and reads every kept record again (the fault run's "No epoch found" resets). The mock's
    /// brokers share one log, so a leader move here never truncates anything: without the API the client skips the
    /// validation ("not supported by broker") and goes on from its position. Real clusters keep it.
    /// </summary>
    public const short OffsetForLeaderEpoch = 23;

    /// <summary>
    /// The broker that coordinates consumer group <paramref name="group"/>. librdkafka's mock picks it by hashing the
    /// group's name (CRC-32, modulo the broker count, in the order the brokers were made: 1…N) and never moves it, not
    /// even while that broker is down, where a real cluster hands the group to the new leader of its __consumer_offsets
    /// partition: a group whose coordinator is down can neither join nor commit until it is back.
    /// </summary>
    public int GroupCoordinator(string group) =>
        (int)(System.IO.Hashing.Crc32.HashToUInt32(Encoding.UTF8.GetBytes(group)) % (uint)BrokerCount) + 1;

    public void CreateTopic(string name, int partitions, int replicationFactor = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var replication = Math.Min(replicationFactor, BrokerCount);
        lock (gate)
        {
            ThrowIfDisposed();
            if (!topics.TryAdd(name, partitions)) return;
            Check(LibRdKafka.rd_kafka_mock_topic_create(mcluster, name, partitions, replication), $"create topic {name}");
        }
    }

    /// <summary>Creates every topic of the catalog (infra/kafka/topics.json).</summary>
    public void CreateTopics(IEnumerable<TopicDefinition> definitions, Func<string, string>? rename = null)
    {
        foreach (var t in definitions)
            CreateTopic(rename?.Invoke(t.Name) ?? t.Name, t.Partitions, t.ReplicationFactor);
    }

    public void SetBrokerDown(int brokerId) => Do(m => LibRdKafka.rd_kafka_mock_broker_set_down(m, brokerId), $"broker {brokerId} down");

    public void SetBrokerUp(int brokerId) => Do(m => LibRdKafka.rd_kafka_mock_broker_set_up(m, brokerId), $"broker {brokerId} up");

    public void SetBrokerRtt(int brokerId, TimeSpan rtt) =>
        Do(m => LibRdKafka.rd_kafka_mock_broker_set_rtt(m, brokerId, (int)rtt.TotalMilliseconds), $"broker {brokerId} rtt");

    public void SetPartitionLeader(string topic, int partition, int brokerId) =>
        Do(m => LibRdKafka.rd_kafka_mock_partition_set_leader(m, topic, partition, brokerId), $"leader of {topic}[{partition}]");

    /// <summary>Deletes a partition's records before <paramref name="beforeOffset"/> (Kafka's DeleteRecords, through the mock
    /// cluster's C API: its admin handler is not implemented). The partition's start offset moves there.</summary>
    public void DeleteRecords(string topic, int partition, long beforeOffset) =>
        Do(m => LibRdKafka.rd_kafka_mock_partition_delete_records(m, topic, partition, beforeOffset), $"delete records of {topic}[{partition}] before {beforeOffset}");

    /// <summary>Makes the next requests of one API (e.g. 0 = Produce, 1 = Fetch) fail with the given errors, in order.</summary>
    public void PushRequestErrors(short apiKey, params ErrorCode[] errors)
    {
        lock (gate)
        {
            ThrowIfDisposed();
            var codes = errors.Select(e => (int)e).ToArray();
            LibRdKafka.rd_kafka_mock_push_request_errors_array(mcluster, apiKey, (UIntPtr)codes.Length, codes);
        }
    }

    public void ClearRequestErrors(short apiKey)
    {
        lock (gate)
        {
            ThrowIfDisposed();
            LibRdKafka.rd_kafka_mock_clear_request_errors(mcluster, apiKey);
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            if (mcluster != IntPtr.Zero) LibRdKafka.rd_kafka_mock_cluster_destroy(mcluster);
            if (rk != IntPtr.Zero) LibRdKafka.rd_kafka_destroy(rk);
            mcluster = IntPtr.Zero;
            rk = IntPtr.Zero;
        }
    }

    private void Do(Func<IntPtr, int> call, string what)
    {
        lock (gate)
        {
            ThrowIfDisposed();
            Check(call(mcluster), what);
        }
    }

    private static void Check(int err, string what)
    {
        if (err != 0) throw new InvalidOperationException($"Embedded Kafka: {what} failed: {LibRdKafka.ErrorString(err)}");
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(mcluster == IntPtr.Zero, this);
}
