using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Pipeline.Contracts;
using Pipeline.Platform;
using Xunit.Abstractions;
using Pipeline.TestSupport;

namespace Pipeline.Intake.Tests;

/// <summary>
/// Fuzz suite (issue 15): hostile HTTP submissions against the real API and fuzzed payloads straight onto
/// reports.submitted.v1 through the real intake stage. Every input must be accepted, rejected with a reason code or
/// dead-lettered; no 5xx. CI runs a small size; <c>PIPELINE_FUZZ=full</c> runs 1,000 HTTP and 100,000 Kafka inputs.
/// Figures are printed, never asserted on timing.
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private static readonly bool Full = Environment.GetEnvironmentVariable("PIPELINE_FUZZ") == "full";

    private static readonly string[] HostileUrls =
    [
        "http://ｅｘａｍｐｌｅ.test/a.jpg", "http://ﬁle.test/a", "http://ẞ.test/", "http://ⓔⓧⓐⓜⓟⓛⓔ.test/", "http://4294967296/", "http://192.0.2.999/",
        "http://0x7f.1/", "http://[fe80::1%25eth0]/", "http://[2001:db8::1]/x", "javascript:alert(1)", "ftp://files.example/", "http:///x",
        "http://a..b.example/", "http://exa mple.test/", "http://192.0.2.1./x", "http://198.51.100.7:0/", "http://203.0.113.9:99999/",
        "http://files.example/" + new string('a', 9000), "http://files.example/" + string.Concat(Enumerable.Repeat("é", 3000)),
        "http://u:p@files.example/%2e%2e/%zz", "http://files.example/\u200B\u00AD", "http://\u0000.example/", "http://xn--/", "http://xn--zca.test/",
        "HTTP://FILES.EXAMPLE:80/A", "http://files.example/?q=%F0%9F%92%A9#frag", "http://-bad-.example/", "http://files.example\\evil.test/",
        "http://%65xample.test/", "http://ｅｘａｍｐｌｅ／.test/", "\t http://files.example/ \n", "",
    ];

    [Fact]
    public async Task Hostile_inputs_never_crash_vanish_or_5xx_and_every_refusal_has_a_reason()
    {
        var httpCount = Full ? 1_000 : 300;
        var kafkaCount = Full ? 100_000 : 3_000;
        var rng = new Random(15);
        await using var h = await IntakeHarness.StartAsync();
        var (_, url) = await h.StartIntakeAsync(new Dictionary<string, string?> { ["Intake:Api:MaxConcurrentSubmissions"] = "1024" });

        // ---- Kafka: fuzzed payloads, outcomes counted live (the embedded cluster keeps only ~5 MiB per partition) ----
        var outcomes = new Outcomes(h);
        using var stop = new CancellationTokenSource();
        var watching = outcomes.RunAsync(stop.Token);
        await outcomes.Ready.Task.WaitAsync(TimeSpan.FromSeconds(120));

        var seeds = new List<byte[]>();
        for (var i = 0; i < HostileUrls.Length * 2; i++)
        {
            var s = IntakeHarness.Submitted($"fuzz-seed-{i}", HostileUrls[i % HostileUrls.Length]);
            if (i >= HostileUrls.Length) s.report.parentUrl = HostileUrls[(i * 7) % HostileUrls.Length];
            if (i % 5 == 0) s.report.receivedAt = new DateTime(1582, 10, 15, 0, 0, 0, DateTimeKind.Utc);
            if (i % 7 == 0) s.report.externalIds = new Dictionary<string, string> { [new string('k', 200)] = "v" };
            seeds.Add(await h.Serdes.SerializeAsync(s, Topics.ReportsSubmitted));
        }
        var produced = new ConcurrentDictionary<(int, long), bool>();
        using var producer = KafkaClients.Producer(h.Kafka, "fuzz-producer");
        long worstTicks = 0, worstAlloc = 0, decodeFailures = 0;
        var pending = new List<Task>();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < kafkaCount; i++)
        {
            var payload = Mutate(seeds[rng.Next(seeds.Count)], rng);
            // The decoder's cost on this payload, on this thread (what the stage pays per message).
            var alloc0 = GC.GetAllocatedBytesForCurrentThread();
            var t0 = Stopwatch.GetTimestamp();
            try { await h.Serdes.DeserializeAsync<ReportSubmitted>(payload, Topics.ReportsSubmitted); }
            catch (Exception) { decodeFailures++; }
            worstTicks = Math.Max(worstTicks, Stopwatch.GetTimestamp() - t0);
            worstAlloc = Math.Max(worstAlloc, GC.GetAllocatedBytesForCurrentThread() - alloc0);
            pending.Add(producer.ProduceAsync(Topics.ReportsSubmitted, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes($"fuzz-{i}"), Value = payload })
                .ContinueWith(t => { if (t.IsCompletedSuccessfully) produced[(t.Result.Partition.Value, t.Result.Offset.Value)] = true; }, TaskScheduler.Default));
            if (pending.Count >= 2_000)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }
        await Task.WhenAll(pending);
        Assert.Equal(kafkaCount, produced.Count);
        try
        {
            await Polling.Until(() => outcomes.Total >= kafkaCount, TimeSpan.FromSeconds(Full ? 1200 : 300), () => $"{outcomes.Total} of {kafkaCount} payloads with an outcome");
        }
        catch (TimeoutException)
        {
            // reported below as "vanished", with the figures
        }
        var kafkaSeconds = sw.Elapsed.TotalSeconds;
        var vanished = kafkaCount - outcomes.Total;
        output.WriteLine($"kafka: {kafkaCount} payloads in {kafkaSeconds:0.0} s; accepted (to grouping) {outcomes.Accepted}, rejected {outcomes.Rejected.Count}, " +
                         $"dead-lettered {outcomes.DeadLettered.Count}, vanished {vanished}; decoder failures (test thread) {decodeFailures}");
        output.WriteLine("rejected by reason: " + string.Join(", ", outcomes.Reasons.OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value}")));
        output.WriteLine($"worst decode: {worstTicks * 1000.0 / Stopwatch.Frequency:0.000} ms, {worstAlloc:N0} bytes allocated");
        Assert.Equal(0, vanished);
        Assert.Empty(outcomes.Rejected.Keys.Intersect(outcomes.DeadLettered.Keys));
        Assert.All(outcomes.Rejected.Keys.Concat(outcomes.DeadLettered.Keys), o => Assert.True(produced.ContainsKey(o), $"outcome for an input never sent: {o}"));
        Assert.DoesNotContain(outcomes.Reasons.Keys, string.IsNullOrWhiteSpace);

        // ---- HTTP: hostile submissions against the real API ----
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16 });
        var statuses = new ConcurrentDictionary<int, int>();
        var codes = new ConcurrentDictionary<string, int>();
        var latencies = new ConcurrentBag<double>();
        var missingCode = 0;
        var serverErrors = new ConcurrentBag<string>();
        var requests = Enumerable.Range(0, httpCount).Select(i => HostileRequest(url, i, new Random(1500 + i))).ToList();
        await Parallel.ForEachAsync(requests, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (request, ct) =>
        {
            var t0 = Stopwatch.GetTimestamp();
            using var response = await http.SendAsync(request, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            statuses.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
            if ((int)response.StatusCode >= 500) serverErrors.Add($"{(int)response.StatusCode} {text}");
            if (response.StatusCode != HttpStatusCode.Accepted)
            {
                string? code = null;
                try { code = JsonSerializer.Deserialize<JsonElement>(text).GetProperty("code").GetString(); } catch (Exception) { }
                if (string.IsNullOrEmpty(code)) Interlocked.Increment(ref missingCode);
                else codes.AddOrUpdate(code, 1, (_, n) => n + 1);
            }
        });
        var sorted = latencies.Order().ToArray();
        output.WriteLine($"http: {httpCount} requests; " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}")));
        output.WriteLine("refused by code: " + string.Join(", ", codes.OrderByDescending(c => c.Value).Select(c => $"{c.Key} {c.Value}")));
        output.WriteLine($"http p50 {sorted[sorted.Length / 2]:0.0} ms, p99 {sorted[(int)(sorted.Length * 0.99)]:0.0} ms, max {sorted[^1]:0.0} ms");
        Assert.Empty(serverErrors);
        Assert.Equal(0, missingCode);
        stop.Cancel();
        await watching;
    }

    /// <summary>One fuzzed payload. Among them, huge length prefixes: before the bounded decoder (BoundedAvroDecoder) one
    /// of those cost up to 30 s and gigabytes, in the stage too.</summary>
    private static byte[] Mutate(byte[] seed, Random rng)
    {
        var kind = rng.Next(6);
        switch (kind)
        {
            case 0: return seed;
            case 1:
            {
                var b = (byte[])seed.Clone();
                for (var n = rng.Next(1, 9); n > 0; n--) b[rng.Next(5, b.Length)] = (byte)rng.Next(256);
                return b;
            }
            case 2: return seed[..rng.Next(0, seed.Length)];
            case 3:
            {
                var b = new byte[5 + rng.Next(0, 2000)];
                rng.NextBytes(b);
                seed.AsSpan(0, 5).CopyTo(b); // a valid header, random body
                return b;
            }
            case 4:
            {
                // A huge length prefix where the first string starts: the decoder must not believe it.
                var b = (byte[])seed.Clone();
                byte[] huge = [0xFE, 0xFF, 0xFF, 0xFF, 0x0F];
                huge.CopyTo(b.AsSpan(5));
                return b;
            }
            default:
            {
                var b = new byte[rng.Next(0, 600)];
                rng.NextBytes(b);
                return b;
            }
        }
    }

    private static HttpRequestMessage HostileRequest(Uri baseUrl, int i, Random rng)
    {
        var reference = $"FUZZ-{i % 97}"; // references repeat: 409 and idempotent 202 both occur
        var target = HostileUrls[rng.Next(HostileUrls.Length)];
        string body = rng.Next(12) switch
        {
            0 => $$"""{"reference": "{{reference}}", "url": {{JsonSerializer.Serialize(target)}}}""",
            1 => $$"""{"reference": "{{reference}}", "url": "http://files.example/{{i}}", "externalIds": {"a": null} }""",
            2 => $$"""{"reference": "{{reference}}", "url": "http://files.example/{{i}}", "receivedAt": "{{rng.Next(1, 3000):0000}}-01-01T00:00:00Z"}""",
            3 => $$"""{"reference": {}, "url": 12, "hashes": [], "pdqQuality": 1e400}""",
            4 => new string('[', 5000) + new string(']', 5000),
            5 => $$"""{"reference": "\ud800", "url": "http://files.example/\udfff"}""",
            6 => $$"""{"reference": "{{reference}}", "url": "http://files.example/{{new string('x', 70_000)}}"}""",
            7 => $$"""{"reference": "{{reference}}", "url": "http://files.example/{{i}}", "parentUrl": {{JsonSerializer.Serialize(target)}}, "hashes": {"pdq": "zz", "pdqQuality": 101} }""",
            8 => Encoding.UTF8.GetString(RandomBytes(rng, rng.Next(0, 300))),
            9 => $$"""{"reference": "{{reference}}", "url": "http://files.example/{{i}}", "contentType": "NOT_A_TYPE", "reporterType": 3}""",
            10 => $$"""{"reference": "{{reference}}-{{i}}", "url": "http://files.example/{{i}}.jpg", "externalIds": {"{{new string('k', 300)}}": "v"} }""",
            _ => $$"""{"reference": "{{reference}}-ok-{{i}}", "url": "http://files.example/{{i}}.jpg", "hashes": {"sha256": "{{IntakeHarness.RandomHex(32)}}"} }""",
        };
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", rng.Next(10) switch
        {
            0 => "application/jsonp", 1 => "text/plain", 2 => "application/json; charset=utf-16", 3 => "", _ => "application/json",
        });
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUrl, "/v1/reports")) { Content = content };
        var key = rng.Next(20) switch { 0 => null, 1 => "wrong", 2 => IntakeHarness.OtherKey, _ => IntakeHarness.Key };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    private static byte[] RandomBytes(Random rng, int n)
    {
        var b = new byte[n];
        rng.NextBytes(b);
        return b;
    }

    /// <summary>Live consumers of intake's three outcomes: rejected (by origin), dead letters (by origin), and the
    /// grouping commands of accepted reports (counted: they carry no origin, and nothing crashes to duplicate them).</summary>
    private sealed class Outcomes(IntakeHarness h)
    {
        public ConcurrentDictionary<(int, long), string> Rejected { get; } = new();
        public ConcurrentDictionary<(int, long), bool> DeadLettered { get; } = new();
        public ConcurrentDictionary<string, int> Reasons { get; } = new();
        /// <summary>Inputs accepted by intake, by origin (a report redirected by grouping to another case is a second
        /// command on intake.grouping, but from grouping, not from an input).</summary>
        public ConcurrentDictionary<string, bool> AcceptedInputs { get; } = new();
        public int Accepted => AcceptedInputs.Count;
        public int Total => Accepted + Rejected.Count + DeadLettered.Count;
        public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task RunAsync(CancellationToken ct) => Task.Factory.StartNew(async () =>
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
            {
                BootstrapServers = h.Kafka.BootstrapServers, GroupId = "fuzz-" + Guid.NewGuid(), AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false,
            }).Build();
            var deadLetters = Topics.DeadLetter(IntakeService.Stage);
            consumer.Assign(new[] { Topics.ReportsRejected, deadLetters, Topics.IntakeGrouping }
                .SelectMany(t => Enumerable.Range(0, TopicCatalog.Get(t).Partitions).Select(p => new TopicPartitionOffset(t, p, Offset.Beginning))));
            Ready.TrySetResult();
            while (!ct.IsCancellationRequested)
            {
                var r = consumer.Consume(TimeSpan.FromMilliseconds(50));
                if (r?.Message?.Value is null) continue;
                if (r.Topic == Topics.ReportsRejected)
                {
                    var v = await h.Serdes.DeserializeAsync<ReportRejected>(r.Message.Value, r.Topic);
                    if (v.originTopic == Topics.ReportsSubmitted && Rejected.TryAdd((v.originPartition, v.originOffset), v.reasonCode))
                        Reasons.AddOrUpdate(v.reasonCode, 1, (_, n) => n + 1);
                }
                else if (r.Topic == deadLetters)
                {
                    var v = await h.Serdes.DeserializeAsync<DeadLetter>(r.Message.Value, r.Topic);
                    if (v.originTopic == Topics.ReportsSubmitted) DeadLettered.TryAdd((v.originPartition, v.originOffset), true);
                }
                else
                {
                    var v = await h.Serdes.DeserializeAsync<CaseCommand>(r.Message.Value, r.Topic);
                    var origin = r.Message.Headers.TryGetLastBytes("pipeline.origin", out var o) ? System.Text.Encoding.UTF8.GetString(o) : "";
                    if (v.kind == CaseCommandKind.REPORT && origin.StartsWith(Topics.ReportsSubmitted + ":", StringComparison.Ordinal)) AcceptedInputs.TryAdd(origin, true);
                }
            }
            consumer.Close();
        }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }
}
