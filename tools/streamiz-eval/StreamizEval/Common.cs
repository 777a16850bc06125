using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Pipeline.Platform.Embedded;
using Streamiz.Kafka.Net;
using Streamiz.Kafka.Net.SerDes;

namespace StreamizEval;

/// <summary>Shared helpers: cluster, configs, producer/consumer, logging. Synthetic data only, 127.0.0.1 only.</summary>
internal static class Common
{
    public static readonly Stopwatch Clock = Stopwatch.StartNew();

    public static void Log(string msg) => Console.WriteLine($"[{Clock.Elapsed.TotalSeconds,8:F2}s] {msg}");

    public static string StateRoot => Path.Combine(AppContext.BaseDirectory, "state");

    public static StreamConfig<StringSerDes, StringSerDes> Config(EmbeddedKafkaCluster cluster, string appId, LogLevel minLevel = LogLevel.Warning)
    {
        var c = new StreamConfig<StringSerDes, StringSerDes>
        {
            ApplicationId = appId,
            BootstrapServers = cluster.BootstrapServers,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            SessionTimeoutMs = 3000,
            HeartbeatIntervalMs = 750,
            StateDir = Path.Combine(StateRoot, appId),
            NumStreamThreads = 1,
            CommitIntervalMs = 1000,
            Logger = LoggerFactory.Create(b => b.SetMinimumLevel(minLevel).AddProvider(new LineLoggerProvider(minLevel))),
        };
        return c;
    }

    public static void WaitFor(Func<bool> cond, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!cond())
        {
            if (sw.Elapsed > timeout) { Log($"TIMEOUT waiting for {what} after {timeout.TotalSeconds:F0}s"); return; }
            Thread.Sleep(50);
        }
        Log($"ok: {what} after {sw.Elapsed.TotalSeconds:F2}s");
    }

    /// <summary>Starts the stream (without awaiting the whole start) and waits for RUNNING or ERROR.</summary>
    public static KafkaStream.State StartAndWait(KafkaStream stream, TimeSpan timeout)
    {
        KafkaStream.State? last = null;
        var gate = new object();
        stream.StateChanged += (o, n) => { lock (gate) last = n; Log($"streamiz state {o} -> {n}"); };
        _ = Task.Run(() => stream.StartAsync());
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            lock (gate)
                if (last == KafkaStream.State.RUNNING || last == KafkaStream.State.ERROR) return last;
            Thread.Sleep(50);
        }
        lock (gate) { Log($"state after {timeout.TotalSeconds:F0}s: {last}"); return last ?? KafkaStream.State.CREATED; }
    }

    public static void Produce(EmbeddedKafkaCluster cluster, string topic, int count, Func<int, (string key, string value)> gen, long? tsBase = null, long tsStepMs = 0)
    {
        using var p = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            LingerMs = 5,
            Acks = Acks.All,
            EnableIdempotence = true,
        }).Build();
        for (var i = 0; i < count; i++)
        {
            var (k, v) = gen(i);
            var msg = new Message<string, string> { Key = k, Value = v };
            if (tsBase is long b) msg.Timestamp = new Timestamp(b + i * tsStepMs, TimestampType.CreateTime);
            while (true)
            {
                try { p.Produce(topic, msg); break; }
                catch (ProduceException<string, string> e) when (e.Error.Code == ErrorCode.Local_QueueFull) { p.Poll(TimeSpan.FromMilliseconds(50)); }
            }
        }
        p.Flush(TimeSpan.FromSeconds(60));
    }

    /// <summary>Reads a topic from the beginning with a fresh group until <paramref name="expected"/> records or idle.</summary>
    public static List<ConsumeResult<string, string>> ReadAll(EmbeddedKafkaCluster cluster, string topic, int expected, TimeSpan idle, IsolationLevel iso = IsolationLevel.ReadUncommitted)
    {
        using var c = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            GroupId = "reader-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            SessionTimeoutMs = 3000,
            HeartbeatIntervalMs = 750,
            IsolationLevel = iso,
        }).Build();
        c.Subscribe(topic);
        var list = new List<ConsumeResult<string, string>>();
        var lastMsg = Stopwatch.StartNew();
        while (list.Count < expected && lastMsg.Elapsed < idle)
        {
            var r = c.Consume(TimeSpan.FromMilliseconds(200));
            if (r is null || r.IsPartitionEOF) continue;
            list.Add(r);
            lastMsg.Restart();
        }
        c.Close();
        return list;
    }
}

internal sealed class LineLoggerProvider(LogLevel min) : ILoggerProvider
{
    public static readonly ConcurrentQueue<string> Errors = new();

    public ILogger CreateLogger(string categoryName) => new L(categoryName, min);
    public void Dispose() { }

    private sealed class L(string cat, LogLevel min) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= min;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var text = formatter(state, exception);
            if (text.Length > 600) text = text[..600] + "...";
            var line = $"  [streamiz {logLevel}] {cat.Split('.').Last()}: {text}" + (exception is null ? "" : $" | EX {exception.GetType().Name}: {exception.Message}" + (exception.InnerException is null ? "" : $" | INNER {exception.InnerException.GetType().Name}: {exception.InnerException.Message}"));
            if (logLevel >= LogLevel.Error) Errors.Enqueue(line);
            Common.Log(line);
        }
    }
}
