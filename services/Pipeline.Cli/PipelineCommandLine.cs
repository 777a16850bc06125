using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using Pipeline.Classification.Pdq;
using Pipeline.Cli.Commands;
using Pipeline.Cli.Demo;

namespace Pipeline.Cli;

/// <summary>
/// The `pipeline` command line: every command, its typed options and their defaults, on System.CommandLine. The
/// commands receive plain settings records; parsing, help and the error convention live here.
/// </summary>
/// <remarks>
/// Exit codes: 0 done; 1 a command's own failure (e.g. invalid lines in an import); 2 a usage error, printed as
/// <c>error: …</c> on stderr: an unknown command or option, a value that does not parse, or an ArgumentException from
/// a command; 64 a command that needs a subcommand was given none (its help is printed); 130 cancelled (Ctrl+C).
/// </remarks>
public static class PipelineCommandLine
{
    public const int UsageError = 2;
    public const int MissingCommand = 64;
    public const int Cancelled = 130;

    /// <summary>Parses <paramref name="args"/> and runs the command. Parse errors are printed here (the parser's own
    /// error action would exit 1 and print the whole help), so every usage error looks and exits the same.</summary>
    public static async Task<int> InvokeAsync(IReadOnlyList<string> args, InvocationConfiguration configuration, CancellationToken ct = default)
    {
        var result = Create().Parse(args);
        if (result.Action is ParseErrorAction)
        {
            foreach (var error in result.Errors) await configuration.Error.WriteLineAsync("error: " + error.Message);
            var what = result.CommandResult.Command.Subcommands.Count > 0 ? "commands and options" : "options";
            await configuration.Error.WriteLineAsync($"Run '{PathOf(result.CommandResult)} --help' to see its {what}.");
            return UsageError;
        }
        return await result.InvokeAsync(configuration, ct);
    }

    /// <summary>"pipeline bench pipeline" for the command a parse ended on.</summary>
    public static string PathOf(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? r = command; r is CommandResult c; r = r.Parent)
            names.Insert(0, c.Command is RootCommand ? "pipeline" : c.Command.Name);
        return string.Join(' ', names);
    }

    public static RootCommand Create()
    {
        var root = new RootCommand("The `pipeline` command: the demo, topic and schema provisioning, hash banks, per-hoster SLA scorecards, report traces, the transparency report and benchmarks. "
            + "Synthetic data only. Run `pipeline <command> --help` for a command's options.")
        {
            Demo(),
            Group("topics", "The topics of infra/kafka/topics.json.", TopicsList(), TopicsApply()),
            Group("schemas", "The value schemas of the topics in the Schema Registry.", SchemasRegister()),
            Group("bench", "Benchmarks: print figures, never fail on timing. Synthetic data only.",
                BenchChain(), BenchGeolocation(), BenchHttpLoad(), BenchHop(), BenchIntake(), BenchRecheck(), BenchPipeline(), BenchRestore(), BenchTakedown(), BenchMatch()),
            Group("hashes", "Hash banks on hashes.known.v1.", HashesImport(), HashesRetract(), HashesGenerate()),
            Group("sla", "SLA scorecards from the event history.", SlaHosters()),
            Group("contacts", "The abuse contact directory on contacts.directory.v1: approval, police flag, send windows, aliases.",
                ContactsList(), ContactsApprove(), ContactsSet(), ContactsSeed()),
            Group("console", "The operator console (services/Pipeline.Console).", ConsoleHashPassword()),
            Trace(),
            Group("retention", "Retention of finished cases' data (Retention:ClosedCaseAfter).", RetentionRun()),
            Report(),
        };
        root.SetAction(ShowHelp);
        return root;
    }

    private static Command Demo()
    {
        var rate = Value("--rate", 100.0, "Synthetic reports per second; 0 feeds as fast as possible.");
        var duration = Value("--duration", 20.0, "Seconds of feeding reports (at a fixed rate: rate × duration reports, however long a loaded machine takes).");
        var speed = Value("--speed", 3600.0, "How much faster the simulated clock runs than real time.");
        var drain = Value("--drain", 40.0, "Seconds after the feed for every report to reach an outcome and for hosters and rechecks to act.");
        var port = Value("--port", 9400, "Port of the status page, /metrics and /health on 127.0.0.1; 0 takes a free port and prints it.");
        var seed = Value("--seed", 1, "Seed of the synthetic reports, web and hash bank.");
        var known = Value("--known", 2000, "Synthetic entries in the hash bank.");
        var rawBench = Value("--raw-bench", 100_000, "Messages for the embedded cluster's raw produce/consume measurement; 0 skips it.");
        var stopWhenDone = Flag("--stop-when-done", "Stop once every report has an outcome and notices have begun to go out, instead of draining for --drain seconds.");
        var report = Text("--report", "PATH", $"Where the run's transparency report (HTML) is written (default: {DemoCommand.DefaultReportPath}).");
        var consolePort = Value("--console-port", 9401, "Port of the operator console on 127.0.0.1 (demo accounts printed at start); 0 takes a free port and prints it; -1 serves no console.");
        var command = new Command("demo", "Every service in one process on the embedded Kafka cluster and Schema Registry, fed with synthetic reports.")
        {
            rate, duration, speed, drain, port, seed, known, rawBench, stopWhenDone, report, consolePort,
        };
        Run(command, (r, ct) => DemoCommand.RunAsync(new DemoCommand.Settings(r.GetValue(rate), r.GetValue(duration), r.GetValue(speed), r.GetValue(drain),
            r.GetValue(port), r.GetValue(seed), r.GetValue(known), r.GetValue(rawBench), r.GetValue(stopWhenDone), r.GetValue(report) ?? DemoCommand.DefaultReportPath,
            r.GetValue(consolePort)), ct));
        return command;
    }

    private static Command TopicsList()
    {
        var command = new Command("list", "Prints the topics of infra/kafka/topics.json: partitions, replication, cleanup policy, value type.");
        command.SetAction(r => TopicsCommand.List(r.InvocationConfiguration.Output));
        return command;
    }

    private static Command TopicsApply()
    {
        var bootstrap = Bootstrap();
        var dryRun = Flag("--dry-run", "Print the difference only; change nothing.");
        var partners = Partners("Partner hotlines whose inbound topic exchange.inbound.<partner>.v1 to create (default: PIPELINE_PARTNERS).");
        var minBrokers = Value("--min-brokers", 1, "Wait until this many brokers answer (rf is capped at the broker count).");
        var timeout = Value("--timeout", 30, "Seconds to wait for the brokers.");
        var command = new Command("apply", "Creates/updates every topic (partitions, rf capped at the broker count, cleanup.policy, retention.ms, "
            + "min.insync.replicas) and exchange.inbound.<partner>.v1. Idempotent.")
        {
            bootstrap, dryRun, partners, minBrokers, timeout,
        };
        Run(command, (r, ct) => TopicsCommand.RunAsync(new TopicsCommand.ApplySettings(r.GetValue(bootstrap), r.GetValue(dryRun), r.GetValue(partners),
            r.GetValue(minBrokers), r.GetValue(timeout)), ct));
        return command;
    }

    private static Command SchemasRegister()
    {
        var registry = Registry();
        var dryRun = Flag("--dry-run", "Print new, changed and incompatible subjects only; register nothing (exit 1 if any is incompatible).");
        var partners = Partners("Also the schemas of these partners' inbound topics (with --partners or --dry-run, the default is PIPELINE_PARTNERS).");
        var command = new Command("register", "Registers every topic's value schema (idempotent).") { registry, dryRun, partners };
        Run(command, (r, _) =>
        {
            var settings = new SchemasCommand.Settings(r.GetValue(registry), r.GetValue(dryRun), r.GetValue(partners));
            return settings.DryRun || settings.Partners is not null ? SchemasCommand.RunAsync(settings) : SchemasCommand.RegisterAllAsync(settings.Registry);
        });
        return command;
    }

    private static Command BenchGeolocation()
    {
        var hosts = Value("--hosts", 2000, "Distinct host names (every fifth behind a CNAME, every third IPv6).");
        var reports = Value("--reports", 200_000, "Reports through the geolocation processor.");
        var lookups = Value("--lookups", 2_000_000, "Raw .mmdb lookups.");
        var command = new Command("geolocation", "Geolocation processor throughput with a warm cache (loopback DNS/RDAP, generated .mmdb) and .mmdb lookups/s.")
        {
            hosts, reports, lookups,
        };
        Run(command, (r, ct) => BenchGeolocationCommand.RunAsync(new BenchGeolocationCommand.Settings(r.GetValue(hosts), r.GetValue(reports), r.GetValue(lookups)), ct));
        return command;
    }

    private static Command BenchHttpLoad()
    {
        var url = Text("--url", "URL", "The intake API's base address, e.g. http://127.0.0.1:8080 (required).");
        var requests = Value("--requests", 20_000, "POST /v1/reports requests.");
        var clients = Value("--clients", 32, "Concurrent connections.");
        var urls = Value("--urls", 10_000, "Distinct reported URLs.");
        var command = new Command("http-load", "The HTTP client side of `bench intake`, run by it as a second process; the API key comes from PIPELINE_BENCH_API_KEY.")
        {
            url, requests, clients, urls,
        };
        Run(command, (r, ct) => BenchIntakeCommand.RunLoadAsync(new BenchIntakeCommand.LoadSettings(r.GetValue(url), r.GetValue(requests), r.GetValue(clients), r.GetValue(urls)), ct));
        return command;
    }

    private static Command BenchIntake()
    {
        var reports = Value("--reports", 50_000, "ReportSubmitted produced before intake starts.");
        var urls = Value("--urls", 10_000, "Distinct reported URLs.");
        var httpRequests = Value("--http-requests", 20_000, "POST /v1/reports requests; 0 skips the HTTP measurement.");
        var clients = Value("--clients", 32, "Concurrent HTTP connections.");
        var command = new Command("intake", "Intake reports/s through Kafka and HTTP submissions/s with p50/p99, the HTTP load coming from a second process (bench http-load).")
        {
            reports, urls, httpRequests, clients,
        };
        Run(command, (r, ct) => BenchIntakeCommand.RunAsync(new BenchIntakeCommand.Settings(r.GetValue(reports), r.GetValue(urls), r.GetValue(httpRequests), r.GetValue(clients)), ct));
        return command;
    }

    private static Command BenchRecheck()
    {
        var urls = Value("--urls", 10_000, "Noticed URLs, all due at once.");
        var hosts = Value("--hosts", 500, "Host names the URLs are spread over.");
        var concurrency = Value("--concurrency", 64, "Checks in flight.");
        var perHost = Value("--per-host-concurrency", 2, "Checks in flight per host (at most --concurrency).");
        var spacing = Value("--per-host-spacing-ms", 0, "Milliseconds between checks of one host; 0 is off.");
        var command = new Command("recheck", "Rechecks/s: HEAD to a simulated hoster web server on 127.0.0.1, observations acknowledged on Kafka.")
        {
            urls, hosts, concurrency, perHost, spacing,
        };
        Run(command, (r, ct) => BenchRecheckCommand.RunAsync(new BenchRecheckCommand.Settings(r.GetValue(urls), r.GetValue(hosts), r.GetValue(concurrency),
            r.GetValue(perHost), r.GetValue(spacing)), ct));
        return command;
    }

    private static Command BenchPipeline()
    {
        var rate = Value("--rate", 0.0, "Offered reports/s; 0 is a closed loop (at most --in-flight reports without an outcome).");
        var duration = Value("--duration", 20.0, "Seconds of feeding reports, warm-up included.");
        var warmup = Value("--warmup", 5.0, "Seconds at the start that are not measured.");
        var drain = Value("--drain", 30.0, "Seconds after the feed for the remaining reports to reach an outcome.");
        var inFlight = Value("--in-flight", 500, "Closed loop: reports without an outcome at most.");
        var maxOpen = Value("--max-open", 15_000, "Fixed rate: the feed is held at this many open reports.");
        var speed = Value("--speed", 3600.0, "How much faster the stage clock runs than real time.");
        var rawBench = Value("--raw-bench", 100_000, "Messages for each of the embedded cluster's raw produce/consume measurements (1000–150000): four are made, the first left out as a warm-up, the median of the others is the hop efficiency's denominator.");
        var seed = Value("--seed", 1, "Seed of the synthetic reports and web.");
        var partitions = Value("--partitions", 0, "Partitions of every topic; 0 keeps the topic catalog's (infra/kafka/topics.json, mostly 6).");
        var brokers = Value("--brokers", 3, "Brokers of the embedded cluster (every topic's replication is capped at it).");
        var keepConsumed = Flag("--keep-consumed", "Keep every record: do not delete what every consumer group has committed (the mock broker then walks all of a partition's kept batches for each fetch, which real Kafka does not).");
        var command = new Command("pipeline", "Every stage in one process on the embedded runtime: end-to-end reports/s (closed loop, or --rate N reports/s), raw "
            + "cluster rates in the same run, hops per report, hop efficiency, submitted → first notice in real milliseconds.")
        {
            rate, duration, warmup, drain, inFlight, maxOpen, speed, rawBench, seed, partitions, brokers, keepConsumed,
        };
        Run(command, (r, ct) => BenchPipelineCommand.RunAsync(new BenchPipelineCommand.Settings(r.GetValue(rate), r.GetValue(duration), r.GetValue(warmup), r.GetValue(drain),
            r.GetValue(inFlight), r.GetValue(maxOpen), r.GetValue(speed), r.GetValue(rawBench), r.GetValue(seed), r.GetValue(partitions), r.GetValue(keepConsumed), r.GetValue(brokers)), ct));
        return command;
    }

    private static Command BenchChain()
    {
        var hops = Value("--hops", 9, $"Pass-through hops in the chain (1–{BenchChainCommand.MaxHops}); the pipeline has nine stages.");
        var inFlight = Value("--in-flight", 500, "Records at most between the feed and the end of the chain (closed loop), as bench pipeline bounds its reports.");
        var duration = Value("--duration", 15, "Seconds measured per chain.");
        var warmup = Value("--warmup", 5, "Seconds run before each measurement.");
        var partitions = Value("--partitions", 6, "Partitions of every chain topic (the topic catalog's is mostly 6).");
        var brokers = Value("--brokers", 3, "Brokers of the embedded cluster.");
        var mode = new Option<string>("--mode") { Description = "raw (Confluent.Kafka only), platform (the stage host) or both, one after the other.", DefaultValueFactory = _ => "both" };
        var rawBench = Value("--raw-bench", 100_000, "Messages for each of the embedded cluster's raw produce/consume measurements (1000–150000).");
        var command = new Command("chain", "The hop efficiency of a chain of pass-through hops that do no work, with raw Confluent.Kafka clients and with the platform's stage host: the ceiling of bench pipeline on this cluster.")
        {
            hops, inFlight, duration, warmup, partitions, brokers, mode, rawBench,
        };
        Run(command, (r, ct) => BenchChainCommand.RunAsync(new BenchChainCommand.Settings(r.GetValue(hops), r.GetValue(inFlight), r.GetValue(duration), r.GetValue(warmup),
            r.GetValue(partitions), r.GetValue(brokers), r.GetValue(mode)!, r.GetValue(rawBench)), ct));
        return command;
    }

    private static Command BenchHop()
    {
        var records = Value("--records", 200_000, $"Records through the pass-through stage (1000–{BenchHopCommand.MaxRecords}).");
        var brokers = Value("--brokers", 3, "Brokers of the embedded cluster.");
        var rawBench = Value("--raw-bench", 100_000, "Messages for each of the embedded cluster's raw produce/consume measurements (1000–150000): four are made, the first left out, the median of the others printed beside the stage's rate.");
        var command = new Command("hop", "One topic hop through the platform without a stage's work: a pass-through stage's records/s and CPU per record beside the embedded cluster's raw rates in the same run.")
        {
            records, brokers, rawBench,
        };
        Run(command, (r, ct) => BenchHopCommand.RunAsync(new BenchHopCommand.Settings(r.GetValue(records), r.GetValue(brokers), r.GetValue(rawBench)), ct));
        return command;
    }

    private static Command BenchRestore()
    {
        var records = Value("--records", 200_000, $"State records written to the changelog (1000–{BenchRestoreCommand.MaxRecords} at 24 partitions, about 10,000 a partition).");
        var keys = Value("--keys", 100_000, "Distinct keys among them (each key written records ÷ keys times, as a stage rewrites an entry at each change).");
        var partitions = Value("--partitions", 24, "Partitions of the changelog (1–48).");
        var rounds = Value("--rounds", 3, "Restores of the whole changelog, each by a new store (1–10).");
        var batch = Value("--batch", 0, "At most this many records per producer batch (0: full batches), as a running stage writes its changelog a few records per linger.");
        var command = new Command("restore", "A stateful stage's state restore: records/s and CPU per record of the platform's store reading its changelog.")
        {
            records, keys, partitions, rounds, batch,
        };
        Run(command, (r, ct) => BenchRestoreCommand.RunAsync(new BenchRestoreCommand.Settings(r.GetValue(records), r.GetValue(keys), r.GetValue(partitions), r.GetValue(rounds), r.GetValue(batch)), ct));
        return command;
    }

    private static Command BenchTakedown()
    {
        var notices = Value("--notices", 2000, "Notices per channel.");
        var command = new Command("takedown", "Notices delivered/s by e-mail (SMTP) and webhook to listeners on 127.0.0.1.") { notices };
        Run(command, (r, ct) => BenchTakedownCommand.RunAsync(new BenchTakedownCommand.Settings(r.GetValue(notices)), ct));
        return command;
    }

    private static Command BenchMatch()
    {
        var entries = Value("--entries", 10_000_000, "PDQ entries in the synthetic bank.");
        var queries = Value("--queries", 20_000, "Queries, half random, half near-duplicates of an entry.");
        var brute = Value("--brute", 20, "Queries timed by brute force (a linear scan costs the same for every query).");
        var radius = Value("--radius", PdqIndex.DefaultRadius, "Match radius in bits, 0..256.");
        var loadEntries = Value("--load-entries", 200_000, "Entries loaded through the embedded Kafka cluster into a bank; 0 skips it.");
        var shape = Value("--shape", "both", "The bank: uniform, clustered or both.");
        shape.HelpName = "uniform|clustered|both";
        var command = new Command("match", "PDQ index against brute force: queries/s/core, bytes/entry, build and load rates.")
        {
            entries, queries, brute, radius, loadEntries, shape,
        };
        Run(command, (r, ct) => BenchCommand.RunAsync(new BenchCommand.Settings(r.GetValue(entries), r.GetValue(queries), r.GetValue(brute), r.GetValue(radius),
            r.GetValue(loadEntries), r.GetValue(shape)!), ct));
        return command;
    }

    private static Command HashesImport()
    {
        var bank = Text("--bank", "B", "The bank, e.g. police-nl (required).");
        var file = Text("--file", "F.csv|F.json", "CSV lines algorithm,value[,category[,reference]], a JSON array or JSON Lines (required).");
        var addedBy = Text("--added-by", "NAME", "Recorded as addedBy (default: import:<file name>).");
        var (bootstrap, registry) = (Bootstrap(), Registry());
        var command = new Command("import", "Publishes every new entry of a file to the bank; duplicates are reported, invalid lines listed (exit 1 if any).")
        {
            bank, file, addedBy, bootstrap, registry,
        };
        Run(command, (r, ct) => HashesCommand.ImportAsync(new HashesCommand.ImportSettings(r.GetValue(bank), r.GetValue(file), r.GetValue(addedBy),
            new HashesCommand.Connection(r.GetValue(bootstrap), r.GetValue(registry))), ct));
        return command;
    }

    private static Command HashesRetract()
    {
        var bank = Text("--bank", "B", "The bank, e.g. police-nl (required).");
        var file = Text("--file", "F.csv|F.json", "The entries to retract (or --algorithm and --value).");
        var algorithm = Text("--algorithm", "md5|sha1|sha256|pdq", "The algorithm of --value.");
        var value = Text("--value", "HEX", "One hash to retract.");
        var (bootstrap, registry) = (Bootstrap(), Registry());
        var command = new Command("retract", "Writes tombstones for entries that are in the bank and reports the others.")
        {
            bank, file, algorithm, value, bootstrap, registry,
        };
        Run(command, (r, ct) => HashesCommand.RetractAsync(new HashesCommand.RetractSettings(r.GetValue(bank), r.GetValue(file), r.GetValue(algorithm), r.GetValue(value),
            new HashesCommand.Connection(r.GetValue(bootstrap), r.GetValue(registry))), ct));
        return command;
    }

    private static Command HashesGenerate()
    {
        var count = Value("--count", 1000, "Hashes to write.");
        var output = Text("--out", "F.csv", "The CSV file to write (required).");
        var algorithm = Value("--algorithm", "pdq", "pdq, sha256, md5, sha1, or mixed (all four in turn).");
        algorithm.HelpName = "pdq|sha256|md5|sha1|mixed";
        var seed = Value("--seed", 1, "Seed of the random hashes.");
        var category = Value("--category", "A", "The category column.");
        var command = new Command("generate", "Writes random synthetic hashes (no imagery) for tests and benchmarks.") { count, output, algorithm, seed, category };
        Run(command, (r, _) => Task.FromResult(HashesCommand.Generate(new HashesCommand.GenerateSettings(r.GetValue(count), r.GetValue(output),
            r.GetValue(algorithm)!, r.GetValue(seed), r.GetValue(category)!))));
        return command;
    }

    private static Command SlaHosters()
    {
        var (bootstrap, registry) = (Bootstrap(), Registry());
        var since = Value("--since", "30d", "Window: cases first noticed in the last 30d / 12h / 90m (open and overdue count whatever their age).");
        since.HelpName = "30d|12h|90m";
        var repeat = Value("--repeat-breaches", 3, "A hoster with at least this many breaches in the window is a repeat offender (as is any re-upload).");
        var top = new Option<int?>("--top") { Description = "Print only the N worst hosters (default: all).", HelpName = "N" };
        var json = Flag("--json", "Print JSON instead of a table.");
        var command = new Command("hosters", "Per-hoster scorecards from the event history, worst first.") { bootstrap, registry, since, repeat, top, json };
        Run(command, (r, ct) => SlaCommand.HostersAsync(new SlaCommand.HostersSettings(r.GetValue(bootstrap), r.GetValue(registry), r.GetValue(since)!,
            r.GetValue(repeat), r.GetValue(top), r.GetValue(json)), r.InvocationConfiguration.Output, ct));
        return command;
    }

    private static Argument<string?> ContactId() =>
        new("id") { Description = "The contact: channel:address, e.g. email:abuse@hoster.example.", Arity = ArgumentArity.ExactlyOne };

    private static Command ContactsList()
    {
        var (bootstrap, registry) = (Bootstrap(), Registry());
        var json = Flag("--json", "Print JSON instead of text.");
        var command = new Command("list", "Every contact of the directory: approval, police flag, send window, aliases, domains.") { bootstrap, registry, json };
        Run(command, (r, ct) => ContactsCommand.ListAsync(new ContactsCommand.ListSettings(r.GetValue(json), new HashesCommand.Connection(r.GetValue(bootstrap), r.GetValue(registry))), ct));
        return command;
    }

    private static Command ContactsApprove()
    {
        var id = ContactId();
        var by = Text("--by", "USER", "Who approves (recorded; required).");
        var (bootstrap, registry) = (Bootstrap(), Registry());
        var command = new Command("approve", "Approves a contact (an RDAP-found one too): the notices held for it are issued.") { id, by, bootstrap, registry };
        Run(command, (r, ct) => ContactsCommand.ApproveAsync(new ContactsCommand.ApproveSettings(r.GetValue(id), r.GetValue(by),
            new HashesCommand.Connection(r.GetValue(bootstrap), r.GetValue(registry))), ct));
        return command;
    }

    private static Command ContactsSet()
    {
        var id = ContactId();
        var by = Text("--by", "USER", "Who changes it (recorded; required).");
        var hoster = Text("--hoster", "ID", "The hoster id it speaks for (\"\" clears).");
        var aliases = Text("--aliases", "a,b", "Other addresses of the same party (\"\" clears).");
        var domains = Text("--domains", "d1,d2", "Domains it is responsible for (\"\" clears).");
        var grouping = new Option<double?>("--grouping-hours") { Description = "Batching window in hours for this contact (0: the configured one).", HelpName = "H" };
        var template = Text("--template", "NAME", "The notice template it wants: standard (the full text) or brief (two lines; the X-ARF report carries the details); \"\" clears.");
        var language = Text("--language", "nl|en|…", "The language of its notices (\"\" clears).");
        var police = new Option<bool?>("--police") { Description = "true: its notices need the police's consent first.", HelpName = "true|false" };
        var approved = new Option<bool?>("--approved") { Description = "Approve (true) or withdraw the approval (false).", HelpName = "true|false" };
        var days = Text("--days", "Mon,Tue,…", "Send window: working days.");
        var opens = Text("--opens", "HH:mm", "Send window: local start of the working hours.");
        var closes = Text("--closes", "HH:mm", "Send window: local end of the working hours.");
        var zone = Text("--time-zone", "ZONE", "Send window: IANA time zone, e.g. Europe/Amsterdam.");
        var holidays = Text("--holidays", "yyyy-MM-dd,…", "Send window: local dates on which nothing is sent.");
        var clearWindow = Flag("--clear-window", "Use the default send window (Takedown:SendWindow) again.");
        var (bootstrap, registry) = (Bootstrap(), Registry());
        var command = new Command("set", "Creates or changes a contact's entry: approval, police flag, send window, grouping, template, language, aliases, domains.")
        {
            id, by, hoster, aliases, domains, grouping, template, language, police, approved, days, opens, closes, zone, holidays, clearWindow, bootstrap, registry,
        };
        Run(command, (r, ct) => ContactsCommand.SetAsync(new ContactsCommand.SetSettings(r.GetValue(id), r.GetValue(by), r.GetValue(hoster), r.GetValue(aliases),
            r.GetValue(domains), r.GetValue(grouping), r.GetValue(template), r.GetValue(language), r.GetValue(police), r.GetValue(approved), r.GetValue(days),
            r.GetValue(opens), r.GetValue(closes), r.GetValue(zone), r.GetValue(holidays), r.GetValue(clearWindow),
            new HashesCommand.Connection(r.GetValue(bootstrap), r.GetValue(registry))), ct));
        return command;
    }

    private static Command ContactsSeed()
    {
        var config = Text("--config", "FILE.json", "A file with Geolocation:Networks (e.g. the geolocation service's appsettings.json; required).");
        var by = Text("--by", "USER", "Recorded as the approver (default: seed:config).");
        var (bootstrap, registry) = (Bootstrap(), Registry());
        var command = new Command("seed", "An approved entry for every abuse address of the configured hosting directory; existing entries are left as they are.")
        {
            config, by, bootstrap, registry,
        };
        Run(command, (r, ct) => ContactsCommand.SeedAsync(new ContactsCommand.SeedSettings(r.GetValue(config), r.GetValue(by),
            new HashesCommand.Connection(r.GetValue(bootstrap), r.GetValue(registry))), ct));
        return command;
    }

    private static Command RetentionRun()
    {
        var (bootstrap, registry) = (Bootstrap(), Registry());
        var dryRun = Flag("--dry-run", "Print what would be removed; write nothing.");
        var period = Value("--closed-case-after", "180d", "How long finished cases are kept (as Retention:ClosedCaseAfter): 180d, 12h, or a TimeSpan.");
        var now = Text("--now", "TIME", "Judge as of this time (UTC; default: now).");
        var json = Flag("--json", "Print JSON instead of text.");
        var command = new Command("run", "State entries of cases finished longer ago than the period (tombstoned here unless --dry-run; the owning stages do it on "
            + "schedule), and each event topic's retention.")
        {
            bootstrap, registry, dryRun, period, now, json,
        };
        Run(command, (r, ct) => RetentionCommand.RunAsync(new RetentionCommand.Settings(r.GetValue(bootstrap), r.GetValue(registry), r.GetValue(dryRun),
            r.GetValue(period)!, r.GetValue(now), r.GetValue(json)), r.InvocationConfiguration.Output, ct));
        return command;
    }

    private static Command Trace()
    {
        var id = new Argument<string>("id") { Description = "A report id, a URL, a case key (normalised URL) or a notice id." };
        id.HelpName = "report id | URL | case key | notice id";
        var (bootstrap, registry) = (Bootstrap(), Registry());
        var json = Flag("--json", "Print one JSON document instead of text.");
        var command = new Command("trace", "One report's whole path across every topic in time order (time, topic, stage, rule, key fields), its timeline "
            + "(received, assessed, police, notice, reminders, removed) and where it stands; every report a URL or case key matches. Exit 1 if none.")
        {
            id, bootstrap, registry, json,
        };
        Run(command, (r, ct) => TraceCommand.RunAsync(new TraceCommand.Settings(r.GetValue(id), r.GetValue(bootstrap), r.GetValue(registry), r.GetValue(json)),
            r.InvocationConfiguration.Output, r.InvocationConfiguration.Error, ct));
        return command;
    }

    private static Command Report()
    {
        var from = Text("--from", "DATE", "First day of the period, e.g. 2026-01-01 (UTC), or an ISO 8601 time (required).");
        var to = Text("--to", "DATE", "Last day of the period, included, e.g. 2026-12-31 (UTC), or an ISO 8601 time, excluded (required).");
        var format = Value("--format", "html", "html (one self-contained page with charts), csv (section,key,value,share) or json.");
        format.HelpName = "html|csv|json";
        var output = Text("--out", "PATH", "The file to write (default: standard output).");
        var anonymous = Flag("--anonymous", "Leave out every URL, host, IP address and hash (the per-case list of slowest removals).");
        var source = Value("--source", "topics", "topics (every event, 7–180 days back) or audit (the audit log's decisions, 5 years back, anonymous).");
        source.HelpName = "topics|audit";
        var (bootstrap, registry) = (Bootstrap(), Registry());
        var command = new Command("report", "The transparency report of a period, computed from the topics: reports received, rejected, assessed illegal, "
            + "new vs known, hosting countries and hosters, notices, reminders, escalations, time to removal, partner forwards, police referrals.")
        {
            from, to, format, output, anonymous, source, bootstrap, registry,
        };
        Run(command, (r, ct) => ReportCommand.RunAsync(new ReportCommand.Settings(r.GetValue(from), r.GetValue(to), r.GetValue(format)!, r.GetValue(output),
            r.GetValue(anonymous), r.GetValue(bootstrap), r.GetValue(registry), r.GetValue(source)!), r.InvocationConfiguration.Output, ct));
        return command;
    }

    /// <summary>`pipeline console hash-password`: the password, read from standard input (never an argument, which would
    /// stay in the shell's history), hashed as Console:Users:N:PasswordHash expects.</summary>
    private static Command ConsoleHashPassword()
    {
        var command = new Command("hash-password", "Reads a password from standard input and prints its hash for Console:Users:N:PasswordHash (ASP.NET Core Identity's PasswordHasher).");
        Run(command, async (r, ct) =>
        {
            var password = (await System.Console.In.ReadLineAsync(ct))?.TrimEnd('\r', '\n') ?? "";
            if (password.Length < 12) throw new ArgumentException("The password on standard input has fewer than 12 characters. Fix: e.g. `openssl rand -base64 18 | pipeline console hash-password`.");
            await r.InvocationConfiguration.Output.WriteLineAsync(Pipeline.Operator.PasswordHashes.Hash(password));
            return 0;
        });
        return command;
    }

    private static Command Group(string name, string description, params Command[] subcommands)
    {
        var command = new Command(name, description);
        foreach (var s in subcommands) command.Subcommands.Add(s);
        command.SetAction(ShowHelp);
        return command;
    }

    /// <summary>A command that needs a subcommand, given none: its help, and 64 as the hand-written usage text returned.</summary>
    private static int ShowHelp(ParseResult result)
    {
        new HelpAction().Invoke(result);
        return MissingCommand;
    }

    /// <summary>The error convention of every command: an ArgumentException is a usage error (`error: …`, exit 2),
    /// cancellation exits 130.</summary>
    private static void Run(Command command, Func<ParseResult, CancellationToken, Task<int>> action) =>
        command.SetAction(async (result, ct) =>
        {
            try
            {
                return await action(result, ct);
            }
            catch (ArgumentException e)
            {
                await result.InvocationConfiguration.Error.WriteLineAsync("error: " + e.Message);
                return UsageError;
            }
            catch (OperationCanceledException)
            {
                return Cancelled;
            }
        });

    private static Option<T> Value<T>(string name, T defaultValue, string description) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = typeof(T) == typeof(string) ? null : "N" };

    private static Option<string?> Text(string name, string helpName, string description) =>
        new(name) { Description = description, HelpName = helpName };

    private static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    private static Option<string?> Bootstrap() =>
        Text("--bootstrap", "HOST:PORT", "Kafka bootstrap servers (default: Kafka__BootstrapServers).");

    private static Option<string?> Registry() =>
        Text("--registry", "URL", "Schema Registry URL (default: Kafka__SchemaRegistryUrl).");

    private static Option<string?> Partners(string description) => Text("--partners", "id1,id2", description);
}
