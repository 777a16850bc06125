using Confluent.SchemaRegistry;
using Pipeline.Cli;
using Pipeline.Cli.Demo;
using Pipeline.Platform;

var parsed = new Args(args);
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
try
{
    return parsed.Words.FirstOrDefault() switch
    {
        "demo" => await DemoCommand.RunAsync(DemoCommand.Parse(parsed), cts.Token),
        "topics" when parsed.Words.ElementAtOrDefault(1) == "list" => ListTopics(),
        "topics" when parsed.Words.ElementAtOrDefault(1) == "apply" => await Pipeline.Cli.Commands.TopicsCommand.RunAsync(parsed, cts.Token),
        "schemas" when parsed.Words.ElementAtOrDefault(1) == "register" && (parsed.Text("dry-run") ?? parsed.Text("partners")) is not null => await Pipeline.Cli.Commands.SchemasCommand.RunAsync(parsed),
        "schemas" when parsed.Words.ElementAtOrDefault(1) == "register" => await RegisterSchemas(parsed),
        "bench" when parsed.Words.ElementAtOrDefault(1) == "geolocation" => await Pipeline.Cli.Commands.BenchGeolocationCommand.RunAsync(parsed, cts.Token),
        "bench" when parsed.Words.ElementAtOrDefault(1) == "http-load" => await Pipeline.Cli.Commands.BenchIntakeCommand.RunLoadAsync(parsed, cts.Token),
        "bench" when parsed.Words.ElementAtOrDefault(1) == "intake" => await Pipeline.Cli.Commands.BenchIntakeCommand.RunAsync(parsed, cts.Token),
        "bench" when parsed.Words.ElementAtOrDefault(1) == "recheck" => await Pipeline.Cli.Commands.BenchRecheckCommand.RunAsync(parsed, cts.Token),
        "bench" when parsed.Words.ElementAtOrDefault(1) == "pipeline" => await Pipeline.Cli.Commands.BenchPipelineCommand.RunAsync(parsed, cts.Token),
        "bench" when parsed.Words.ElementAtOrDefault(1) == "takedown" => await Pipeline.Cli.Commands.BenchTakedownCommand.RunAsync(parsed, cts.Token),
        "bench" => await Pipeline.Cli.Commands.BenchCommand.RunAsync(parsed, cts.Token),
        "hashes" => await Pipeline.Cli.Commands.HashesCommand.RunAsync(parsed, cts.Token),
        "sla" => await Pipeline.Cli.Commands.SlaCommand.RunAsync(parsed, cts.Token),
        _ => Usage(),
    };
}
catch (ArgumentException e)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 2;
}
catch (OperationCanceledException)
{
    return 130;
}

static int ListTopics()
{
    foreach (var t in TopicCatalog.All)
        Console.WriteLine($"{t.Name,-32} {t.Partitions,3} partitions  rf {t.ReplicationFactor}  {t.CleanupPolicy,-7}  {t.ValueType}");
    return 0;
}

static async Task<int> RegisterSchemas(Args a)
{
    var url = a.Text("registry") ?? Environment.GetEnvironmentVariable("Kafka__SchemaRegistryUrl")
        ?? throw new ArgumentException("No registry given. Fix: pass --registry http://host:8081 or set Kafka__SchemaRegistryUrl.");
    using var client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = url });
    foreach (var r in await SchemaRegistration.RegisterAllAsync(client))
        Console.WriteLine($"{r.Subject,-40} id {r.Id,4}  {r.ValueType}");
    return 0;
}

static int Usage()
{
    Console.WriteLine("""
        pipeline <command>
          demo [--rate 100] [--duration 20] [--speed 3600] [--drain 40] [--port 9400] [--seed 1] [--known 2000] [--raw-bench 100000] [--stop-when-done]
                 every service in one process on the embedded Kafka cluster and Schema Registry, fed with synthetic
                 reports; --rate 0 feeds as fast as possible; --speed is how much faster the simulated clock runs
          topics list                      the topics of infra/kafka/topics.json
          topics apply [--bootstrap HOST:PORT] [--dry-run] [--partners id1,id2] [--min-brokers 1] [--timeout 30]
                 creates/updates every topic (partitions, rf capped at the broker count, cleanup.policy, retention.ms,
                 min.insync.replicas) and exchange.inbound.<partner>.v1; --dry-run prints the difference only
          schemas register --registry URL [--dry-run] [--partners id1,id2]
                 registers every topic's value schema (idempotent); --dry-run prints new/changed/incompatible subjects
          bench geolocation [--hosts 2000] [--reports 200000] [--lookups 2000000]
                 geolocation processor throughput with a warm cache (loopback DNS/RDAP, generated .mmdb) and .mmdb lookups/s
          hashes import|retract|generate   hash banks on hashes.known.v1 (run `pipeline hashes` for the options)
          sla hosters [--since 30d] [--json] [--bootstrap HOST:PORT --registry URL]  per-hoster scorecards from the event history, worst first
          bench intake [--reports 50000] [--urls 10000] [--http-requests 20000] [--clients 32]  intake reports/s (Kafka) and HTTP submissions/s with p50/p99,
                 the HTTP load coming from a second process (bench http-load)
          bench recheck [--urls 10000] [--hosts 500] [--concurrency 64] [--per-host-concurrency 2] [--per-host-spacing-ms 0]
                 rechecks/s: HEAD to a simulated hoster web server on 127.0.0.1, observations acknowledged on Kafka
          bench takedown [--notices 2000]  notices delivered/s by e-mail (SMTP) and webhook to listeners on 127.0.0.1
          bench pipeline [--rate 0] [--duration 20] [--warmup 5] [--in-flight 500] [--speed 3600] [--raw-bench 100000]
                 every stage in one process on the embedded runtime: end-to-end reports/s (closed loop, or --rate N
                 reports/s), raw cluster rates in the same run, hops per report, hop efficiency, submitted → first
                 notice in real milliseconds
          bench match [--entries 10000000] PDQ index against brute force: queries/s/core, bytes/entry, build and load rates
        """);
    return 64;
}
