using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Cli;

namespace Pipeline.Operations.Tests;

/// <summary>The `pipeline` command line, run in-process through the same entry point as the executable, with its
/// output and errors captured: help on every command, unknown commands and options refused, values that do not parse
/// refused naming the option, and the options and defaults the hand-written parser had.</summary>
public sealed class CliParserTests
{
    /// <summary>Every command that runs something, with the options it had before System.CommandLine.</summary>
    public static TheoryData<string, string[]> Commands => new()
    {
        { "demo", ["--rate", "--duration", "--speed", "--drain", "--port", "--seed", "--known", "--raw-bench", "--stop-when-done", "--report", "--console-port"] },
        { "topics list", [] },
        { "topics apply", ["--bootstrap", "--dry-run", "--partners", "--min-brokers", "--timeout"] },
        { "schemas register", ["--registry", "--dry-run", "--partners"] },
        { "bench geolocation", ["--hosts", "--reports", "--lookups"] },
        { "bench http-load", ["--url", "--requests", "--clients", "--urls"] },
        { "bench chain", ["--hops", "--in-flight", "--duration", "--warmup", "--partitions", "--brokers", "--mode", "--raw-bench"] },
        { "bench hop", ["--records", "--brokers", "--raw-bench"] },
        { "bench intake", ["--reports", "--urls", "--http-requests", "--clients"] },
        { "bench recheck", ["--urls", "--hosts", "--concurrency", "--per-host-concurrency", "--per-host-spacing-ms"] },
        { "bench pipeline", ["--rate", "--duration", "--warmup", "--drain", "--in-flight", "--max-open", "--speed", "--raw-bench", "--seed", "--partitions", "--brokers", "--keep-consumed"] },
        { "bench restore", ["--records", "--keys", "--partitions", "--rounds", "--batch"] },
        { "bench takedown", ["--notices"] },
        { "bench match", ["--entries", "--queries", "--brute", "--radius", "--load-entries", "--shape"] },
        { "hashes import", ["--bank", "--file", "--added-by", "--bootstrap", "--registry"] },
        { "hashes retract", ["--bank", "--file", "--algorithm", "--value", "--bootstrap", "--registry"] },
        { "hashes generate", ["--count", "--out", "--algorithm", "--seed", "--category"] },
        { "sla hosters", ["--bootstrap", "--registry", "--since", "--repeat-breaches", "--top", "--json"] },
        { "trace", ["--bootstrap", "--registry", "--json"] },
        { "report", ["--from", "--to", "--format", "--out", "--anonymous", "--source", "--bootstrap", "--registry"] },
        { "retention run", ["--bootstrap", "--registry", "--dry-run", "--closed-case-after", "--now", "--json"] },
        { "contacts list", ["--bootstrap", "--registry", "--json"] },
        { "contacts approve", ["--by", "--bootstrap", "--registry"] },
        { "contacts set", ["--by", "--hoster", "--aliases", "--domains", "--grouping-hours", "--template", "--language", "--police", "--approved", "--days", "--opens",
            "--closes", "--time-zone", "--holidays", "--clear-window", "--bootstrap", "--registry"] },
        { "contacts seed", ["--config", "--by", "--bootstrap", "--registry"] },
        { "console hash-password", [] },
    };

    [Fact]
    public void The_parser_has_exactly_these_commands()
    {
        var leaves = new List<string>();
        void Walk(Command c, string path)
        {
            if (c.Subcommands.Count == 0) leaves.Add(path);
            foreach (var s in c.Subcommands) Walk(s, path.Length == 0 ? s.Name : path + " " + s.Name);
        }
        Walk(PipelineCommandLine.Create(), "");

        Assert.Equal(Commands.Select(row => (string)row[0]).Order(StringComparer.Ordinal), leaves.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Help_exits_0_and_lists_every_option_of_the_command(string command, string[] options)
    {
        var run = await RunAsync([.. Words(command), "--help"]);

        Assert.Equal(0, run.ExitCode);
        Assert.Empty(run.Error);
        Assert.Matches($@"Usage:\s+\S+ {Regex.Escape(command)}(?: <[^>]+>)* \[options\]", run.Output); // the executable's name: pipeline, or the test host here
        var listed = Regex.Matches(run.Output, @"^  (?:-\?, -h, )?(--[a-z-]+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(options.Append("--help").ToList(), listed);
        Assert.All(HelpLines(run.Output, options), line => Assert.Matches(@"--\S+(?: <[^>]+>)?\s{2,}\S", line)); // each with a description
    }

    [Theory]
    [InlineData("topics", "list", "apply")]
    [InlineData("schemas", "register")]
    [InlineData("bench", "geolocation", "http-load", "intake", "recheck", "pipeline", "takedown", "match")]
    [InlineData("hashes", "import", "retract", "generate")]
    [InlineData("sla", "hosters")]
    [InlineData("contacts", "list", "approve", "set", "seed")]
    [InlineData("console", "hash-password")]
    public async Task A_group_lists_its_subcommands_with_help_and_without_one(string group, params string[] subcommands)
    {
        foreach (var args in new[] { [group, "--help"], new[] { group } })
        {
            var run = await RunAsync(args);

            Assert.Equal(args.Length == 2 ? 0 : PipelineCommandLine.MissingCommand, run.ExitCode);
            Assert.Empty(run.Error);
            var commands = run.Output[run.Output.IndexOf("Commands:", StringComparison.Ordinal)..];
            Assert.All(subcommands, s => Assert.Matches(new Regex($@"^\s+{Regex.Escape(s)}(?: <[^>]+>)?\s{{2,}}\S", RegexOptions.Multiline), commands));
        }
    }

    [Fact]
    public async Task Pipeline_alone_prints_the_usage_with_every_command()
    {
        var run = await RunAsync([]);

        Assert.Equal(PipelineCommandLine.MissingCommand, run.ExitCode);
        Assert.Empty(run.Error);
        Assert.Contains("Usage:", run.Output, StringComparison.Ordinal);
        Assert.Contains("pipeline <command> --help", run.Output, StringComparison.Ordinal);
        var commands = run.Output[run.Output.IndexOf("Commands:", StringComparison.Ordinal)..];
        Assert.All(new[] { "demo", "topics", "schemas", "bench", "hashes", "sla", "trace", "report", "retention" }, c => Assert.Matches(new Regex($@"^\s+{c}(?: <[^>]+>)?\s{{2,}}\S", RegexOptions.Multiline), commands));
    }

    [Theory]
    [InlineData("demo --bogus 1", "--bogus", "pipeline demo --help")]
    [InlineData("demo --Rate 5", "--Rate", "pipeline demo --help")]
    [InlineData("topics apply --dryrun", "--dryrun", "pipeline topics apply --help")]
    [InlineData("sla hosters --since 30d --limit 3", "--limit", "pipeline sla hosters --help")]
    [InlineData("bench foo", "foo", "pipeline bench --help")]
    [InlineData("frobnicate", "frobnicate", "pipeline --help")]
    [InlineData("trace r-1 r-2", "r-2", "pipeline trace --help")]
    [InlineData("trace r-1 --since 30d", "--since", "pipeline trace --help")]
    [InlineData("--rate 5 demo", "--rate", "pipeline demo --help")]
    [InlineData("schemas register --dry-run maybe", "maybe", "pipeline schemas register --help")]
    public async Task An_unknown_option_or_command_is_refused_naming_it(string args, string unknown, string hint)
    {
        var run = await RunAsync(Words(args));

        Assert.Equal(PipelineCommandLine.UsageError, run.ExitCode);
        Assert.Empty(run.Output);
        Assert.Contains($"error: Unrecognized command or argument '{unknown}'.", run.Error, StringComparison.Ordinal);
        Assert.Contains($"Run '{hint}'", run.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bench pipeline --rate abc", "--rate", "abc")]
    [InlineData("demo --port 9400.5", "--port", "9400.5")]
    [InlineData("topics apply --timeout soon", "--timeout", "soon")]
    [InlineData("sla hosters --top all", "--top", "all")]
    [InlineData("bench match --entries 1e7", "--entries", "1e7")]
    public async Task A_value_that_does_not_parse_is_refused_naming_the_option(string args, string option, string value)
    {
        var run = await RunAsync(Words(args));

        Assert.Equal(PipelineCommandLine.UsageError, run.ExitCode);
        Assert.Empty(run.Output);
        var error = Assert.Single(run.Error.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains($"'{value}'", error, StringComparison.Ordinal);
        Assert.Contains($"'{option}'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("demo", "--rate", "100")]
    [InlineData("demo", "--duration", "20")]
    [InlineData("demo", "--speed", "3600")]
    [InlineData("demo", "--drain", "40")]
    [InlineData("demo", "--port", "9400")]
    [InlineData("demo", "--seed", "1")]
    [InlineData("demo", "--known", "2000")]
    [InlineData("demo", "--raw-bench", "100000")]
    [InlineData("demo", "--stop-when-done", "False")]
    [InlineData("report", "--format", "html")]
    [InlineData("report", "--anonymous", "False")]
    [InlineData("topics apply", "--min-brokers", "1")]
    [InlineData("topics apply", "--timeout", "30")]
    [InlineData("topics apply", "--dry-run", "False")]
    [InlineData("topics apply", "--partners", null)]
    [InlineData("schemas register", "--partners", null)]
    [InlineData("bench geolocation", "--hosts", "2000")]
    [InlineData("bench geolocation", "--reports", "200000")]
    [InlineData("bench geolocation", "--lookups", "2000000")]
    [InlineData("bench http-load", "--requests", "20000")]
    [InlineData("bench http-load", "--clients", "32")]
    [InlineData("bench http-load", "--urls", "10000")]
    [InlineData("bench chain", "--hops", "9")]
    [InlineData("bench chain", "--in-flight", "500")]
    [InlineData("bench chain", "--duration", "15")]
    [InlineData("bench chain", "--warmup", "5")]
    [InlineData("bench chain", "--partitions", "6")]
    [InlineData("bench chain", "--brokers", "3")]
    [InlineData("bench chain", "--mode", "both")]
    [InlineData("bench chain", "--raw-bench", "100000")]
    [InlineData("bench hop", "--records", "200000")]
    [InlineData("bench hop", "--brokers", "3")]
    [InlineData("bench hop", "--raw-bench", "100000")]
    [InlineData("bench restore", "--records", "200000")]
    [InlineData("bench restore", "--keys", "100000")]
    [InlineData("bench restore", "--partitions", "24")]
    [InlineData("bench restore", "--rounds", "3")]
    [InlineData("bench restore", "--batch", "0")]
    [InlineData("bench intake", "--reports", "50000")]
    [InlineData("bench intake", "--urls", "10000")]
    [InlineData("bench intake", "--http-requests", "20000")]
    [InlineData("bench intake", "--clients", "32")]
    [InlineData("bench recheck", "--urls", "10000")]
    [InlineData("bench recheck", "--hosts", "500")]
    [InlineData("bench recheck", "--concurrency", "64")]
    [InlineData("bench recheck", "--per-host-concurrency", "2")]
    [InlineData("bench recheck", "--per-host-spacing-ms", "0")]
    [InlineData("bench pipeline", "--rate", "0")]
    [InlineData("bench pipeline", "--duration", "20")]
    [InlineData("bench pipeline", "--warmup", "5")]
    [InlineData("bench pipeline", "--drain", "30")]
    [InlineData("bench pipeline", "--in-flight", "500")]
    [InlineData("bench pipeline", "--max-open", "15000")]
    [InlineData("bench pipeline", "--speed", "3600")]
    [InlineData("bench pipeline", "--raw-bench", "100000")]
    [InlineData("bench pipeline", "--seed", "1")]
    [InlineData("bench pipeline", "--partitions", "0")]
    [InlineData("bench takedown", "--notices", "2000")]
    [InlineData("bench match", "--entries", "10000000")]
    [InlineData("bench match", "--queries", "20000")]
    [InlineData("bench match", "--brute", "20")]
    [InlineData("bench match", "--radius", "31")]
    [InlineData("bench match", "--load-entries", "200000")]
    [InlineData("bench match", "--shape", "both")]
    [InlineData("hashes generate", "--count", "1000")]
    [InlineData("hashes generate", "--algorithm", "pdq")]
    [InlineData("hashes generate", "--seed", "1")]
    [InlineData("hashes generate", "--category", "A")]
    [InlineData("sla hosters", "--since", "30d")]
    [InlineData("sla hosters", "--repeat-breaches", "3")]
    [InlineData("sla hosters", "--top", null)]
    [InlineData("sla hosters", "--json", "False")]
    public void Defaults_are_the_ones_the_hand_written_parser_had(string command, string option, string? expected)
    {
        var result = PipelineCommandLine.Create().Parse(Words(command));

        Assert.Empty(result.Errors);
        Assert.Equal(expected, Text(result.GetValue<object>(option)));
    }

    [Theory]
    [InlineData("demo --rate=250.5 --stop-when-done --port 0", "--rate", "250.5")]
    [InlineData("demo --rate=250.5 --stop-when-done --port 0", "--stop-when-done", "True")]
    [InlineData("demo --rate=250.5 --stop-when-done --port 0", "--port", "0")]
    [InlineData("topics apply --dry-run --partners de-hotline,gb-hotline", "--dry-run", "True")]
    [InlineData("topics apply --dry-run --partners de-hotline,gb-hotline", "--partners", "de-hotline,gb-hotline")]
    [InlineData("sla hosters --json --top 5", "--top", "5")]
    [InlineData("bench pipeline --rate 1e3", "--rate", "1000")]
    [InlineData("trace r-1 --json --bootstrap 127.0.0.1:9092", "--json", "True")]
    [InlineData("trace r-1 --json --bootstrap 127.0.0.1:9092", "--bootstrap", "127.0.0.1:9092")]
    [InlineData("trace r-1", "--json", "False")]
    public void Values_are_typed(string args, string option, string expected)
    {
        var result = PipelineCommandLine.Create().Parse(Words(args));

        Assert.Empty(result.Errors);
        Assert.Equal(expected, Text(result.GetValue<object>(option)));
    }

    [Fact]
    public async Task An_ArgumentException_from_a_command_prints_error_and_exits_2()
    {
        var run = await RunAsync(["hashes", "generate", "--count", "3"]);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("error: --out is missing. Fix: --out hashes.csv." + Environment.NewLine, run.Error);
    }

    [Fact]
    public async Task Trace_names_what_it_traces_in_its_help_and_refuses_to_run_without_it()
    {
        var help = await RunAsync(["trace", "--help"]);
        Assert.Contains("trace <id> [options]", help.Output, StringComparison.Ordinal);
        Assert.Matches(@"\n  <report id \| URL \| case key \| notice id>\s{2,}\S", help.Output);

        var run = await RunAsync(["trace"]);

        Assert.Equal(PipelineCommandLine.UsageError, run.ExitCode);
        Assert.Empty(run.Output);
        Assert.StartsWith("error: Required argument missing for command: 'trace'.", run.Error, StringComparison.Ordinal);
        Assert.Contains("Run 'pipeline trace --help'", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_command_writes_to_the_invocation_output()
    {
        var run = await RunAsync(["topics", "list"]);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(Pipeline.Platform.TopicCatalog.All.Count, run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Matches(@"^hashes\.known\.v1 +6 partitions  rf 3  compact  KnownHash", run.Output.Split('\n').Single(l => l.StartsWith("hashes.known.v1", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_cancelled_command_exits_130()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        var run = await RunAsync(["topics", "apply", "--bootstrap", "127.0.0.1:9", "--timeout", "30"], cts.Token);

        Assert.Equal(130, run.ExitCode);
        Assert.Empty(run.Error);
    }

    private static string? Text(object? value) => value is null ? null : Convert.ToString(value, CultureInfo.InvariantCulture);

    private static string[] Words(string args) => args.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static IEnumerable<string> HelpLines(string help, IEnumerable<string> options) =>
        options.Select(o => help.Split('\n').Single(l => Regex.IsMatch(l, $@"^  {Regex.Escape(o)}\b(?!-)")));

    [Fact]
    public async Task Contacts_set_refuses_a_template_no_notice_can_be_written_with_and_names_the_fix()
    {
        var run = await RunAsync(["contacts", "set", "email:abuse@desk.example", "--by", "analyst@hotline.example", "--template", "fancy", "--bootstrap", "127.0.0.1:9"]);

        Assert.Equal(PipelineCommandLine.UsageError, run.ExitCode);
        Assert.Equal("error: --template 'fancy' is not a notice template. Fix: one of standard, brief (or empty for standard)." + Environment.NewLine, run.Error);
    }

    internal sealed record Run(int ExitCode, string Output, string Error);

    /// <summary>The `pipeline` command line in-process, as the executable runs it.</summary>
    internal static async Task<Run> RunAsync(string[] args, CancellationToken ct = default)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await PipelineCommandLine.InvokeAsync(args, new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null }, ct);
        return new Run(code, output.ToString(), error.ToString());
    }
}
