using System.Reflection;
using System.Runtime.InteropServices;

namespace Pipeline.Platform.Embedded;

/// <summary>
/// Locates the librdkafka build that Confluent.Kafka ships and binds the mock-cluster C API to that same file.
/// On Debian the default <c>librdkafka.so</c> needs <c>libsasl2.so.3</c>, which Debian 12 lacks, so we fall back
/// to the CentOS 8 build exactly as Confluent.Kafka does; both Confluent and our P/Invokes then use one library.
/// </summary>
internal static class LibRdKafka
{
    private const string Lib = "librdkafka";
    private static readonly Lock Gate = new();
    private static IntPtr handle;
    private static string? path;

    public static string LoadedPath
    {
        get
        {
            EnsureLoaded();
            return path!;
        }
    }

    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (handle != IntPtr.Zero) return;
            // Let Confluent.Kafka pick and load its build first (it falls back to the CentOS 8 build on Debian),
            // then bind to exactly the file it mapped, so there is only one librdkafka in the process.
            _ = Confluent.Kafka.Library.Version;
            path = MappedLibrdkafka() ?? Candidates().FirstOrDefault(c => File.Exists(c) && NativeLibrary.TryLoad(c, out _));
            if (path is null || !NativeLibrary.TryLoad(path, out handle))
                throw new DllNotFoundException(
                    "Could not load librdkafka for the embedded Kafka cluster. Fix: restore the Confluent.Kafka package " +
                    "(librdkafka.redist) so runtimes/<rid>/native/ sits next to the application.");
            NativeLibrary.SetDllImportResolver(typeof(LibRdKafka).Assembly, Resolve);
        }
    }

    private static string? MappedLibrdkafka()
    {
        try
        {
            return File.ReadLines("/proc/self/maps")
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length >= 6 && f[^1].EndsWith("librdkafka.so", StringComparison.Ordinal))
                .Select(f => f[^1])
                .FirstOrDefault();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == Lib ? handle : IntPtr.Zero;

    private static IEnumerable<string> Candidates()
    {
        var rid = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.Arm64 => "linux-arm64",
            _ => "linux-x64",
        };
        foreach (var baseDir in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(Confluent.Kafka.Library).Assembly.Location) ?? "" })
        {
            var native = Path.Combine(baseDir, "runtimes", rid, "native");
            yield return Path.Combine(native, "librdkafka.so");
            yield return Path.Combine(native, "centos8-librdkafka.so");
            yield return Path.Combine(native, "alpine-librdkafka.so");
            yield return Path.Combine(baseDir, "librdkafka.so");
        }
    }

    // rd_kafka_type_t
    public const int RdKafkaProducer = 0;

    [DllImport(Lib)] public static extern IntPtr rd_kafka_conf_new();
    [DllImport(Lib)] public static extern int rd_kafka_conf_set(IntPtr conf, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, byte[] errstr, UIntPtr errstrSize);
    [DllImport(Lib)] public static extern IntPtr rd_kafka_new(int type, IntPtr conf, byte[] errstr, UIntPtr errstrSize);
    [DllImport(Lib)] public static extern void rd_kafka_destroy(IntPtr rk);
    [DllImport(Lib)] public static extern IntPtr rd_kafka_err2str(int err);

    [DllImport(Lib)] public static extern IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);
    [DllImport(Lib)] public static extern void rd_kafka_mock_cluster_destroy(IntPtr mcluster);
    [DllImport(Lib)] public static extern IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr mcluster);
    [DllImport(Lib)] public static extern int rd_kafka_mock_topic_create(IntPtr mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic, int partitions, int replicationFactor);
    [DllImport(Lib)] public static extern int rd_kafka_mock_broker_set_down(IntPtr mcluster, int brokerId);
    [DllImport(Lib)] public static extern int rd_kafka_mock_broker_set_up(IntPtr mcluster, int brokerId);
    [DllImport(Lib)] public static extern int rd_kafka_mock_broker_set_rtt(IntPtr mcluster, int brokerId, int rttMs);
    [DllImport(Lib)] public static extern int rd_kafka_mock_partition_set_leader(IntPtr mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic, int partition, int brokerId);
    [DllImport(Lib)] public static extern int rd_kafka_mock_partition_delete_records(IntPtr mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic, int partition, long beforeOffset);
    [DllImport(Lib)] public static extern void rd_kafka_mock_push_request_errors_array(IntPtr mcluster, short apiKey, UIntPtr count, int[] errors);
    [DllImport(Lib)] public static extern void rd_kafka_mock_clear_request_errors(IntPtr mcluster, short apiKey);
    [DllImport(Lib)] public static extern void rd_kafka_mock_group_initial_rebalance_delay_ms(IntPtr mcluster, int delayMs);
    [DllImport(Lib)] public static extern int rd_kafka_mock_set_apiversion(IntPtr mcluster, short apiKey, short minVersion, short maxVersion);

    public static string ErrorString(int err) => Marshal.PtrToStringUTF8(rd_kafka_err2str(err)) ?? err.ToString();
}
