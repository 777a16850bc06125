using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Prometheus;

namespace Pipeline.Operations.Tests;

/// <summary>
/// Every metric an alert rule, a rule test or a Grafana dashboard queries is one a service really exports, so a renamed
/// metric cannot silently turn an alert off or empty a panel. What is exported is read from the code that creates
/// the metrics: every static prometheus-net collector of the services, the platform and the CLI (reading the field
/// runs the static initialiser that registers it), with the series names Prometheus gets from it (a histogram's
/// _bucket, _sum and _count).
/// </summary>
public sealed partial class MetricNameTests
{
    private static readonly Lazy<IReadOnlyList<Collector>> Collectors = new(FindCollectors);

    /// <summary>Series name → the labels it carries.</summary>
    private static readonly Lazy<Dictionary<string, HashSet<string>>> Exported = new(() => Collectors.Value
        .SelectMany(c => SeriesNames(c).Select(n => (Name: n, Labels: Labels(c, n))))
        .GroupBy(s => s.Name, StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.SelectMany(s => s.Labels).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal));

    /// <summary>Labels Prometheus adds to every scraped series.</summary>
    private static readonly string[] TargetLabels = ["instance", "job"];

    private static readonly string Dashboards = Repository.PathOf("infra", "grafana", "dashboards");

    public static TheoryData<string> DashboardFiles() => new(Directory.GetFiles(Dashboards, "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    [Fact]
    public void Every_metric_in_the_rules_and_their_tests_is_exported_by_a_service()
    {
        var prometheus = Repository.PathOf("infra", "prometheus");
        var files = Directory.GetFiles(Path.Combine(prometheus, "rules"), "*.yml").Concat(Directory.GetFiles(Path.Combine(prometheus, "tests"), "*.yml")).ToList();
        Assert.NotEmpty(files);

        var used = files.SelectMany(f => Metric().Matches(File.ReadAllText(f)).Select(m => m.Value)).ToList();
        var problems = files.SelectMany(f => Problems(File.ReadAllText(f), Path.GetFileName(f))).Distinct().ToList();

        Assert.Contains("pipeline_processor_up", used);
        Assert.True(problems.Count == 0, "metrics or labels queried but exported by no service:\n" + string.Join("\n", problems));
    }

    [Theory]
    [MemberData(nameof(DashboardFiles))]
    public void Every_query_of_a_dashboard_asks_for_metrics_a_service_exports(string file)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dashboards, file)));
        var queries = Queries(json.RootElement).ToList();
        Assert.NotEmpty(queries);

        var problems = new List<string>();
        foreach (var (where, expr) in queries)
        {
            if (!Metric().IsMatch(expr)) problems.Add($"{where}: queries no pipeline metric: {expr}");
            problems.AddRange(Problems(expr, where));
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void The_exported_metrics_are_every_collector_the_code_creates()
    {
        var created = Directory.EnumerateFiles(Repository.PathOf("services"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Sum(f => Creation().Count(File.ReadAllText(f)));

        // A metric created anywhere but in a static field would be missed by the reflection above: say so.
        Assert.Equal(created, Collectors.Value.Count);
        Assert.Contains("le", Exported.Value["pipeline_processor_processing_seconds_bucket"]);
        Assert.Contains("hoster", Exported.Value["pipeline_sla_hoster_within_norm_ratio"]);
    }

    /// <summary>Metrics in <paramref name="text"/> no service exports, and label matchers (<c>metric{label="…"}</c>) on
    /// labels the metric does not have.</summary>
    private static IEnumerable<string> Problems(string text, string where)
    {
        foreach (Match m in Metric().Matches(text))
        {
            if (!Exported.Value.TryGetValue(m.Value, out var labels)) { yield return $"{where}: {m.Value} is exported by no service"; continue; }
            var selector = Selector().Match(text, m.Index + m.Length);
            if (!selector.Success || selector.Index != m.Index + m.Length) continue;
            foreach (Match matcher in Matcher().Matches(selector.Groups[1].Value))
                if (!labels.Contains(matcher.Groups[1].Value) && !TargetLabels.Contains(matcher.Groups[1].Value))
                    yield return $"{where}: {m.Value} has no label '{matcher.Groups[1].Value}' (it has {string.Join(", ", labels.Order(StringComparer.Ordinal))})";
        }
    }

    /// <summary>Every PromQL expression of a dashboard: panel targets (also in rows) and template variable queries.</summary>
    private static IEnumerable<(string Where, string Expr)> Queries(JsonElement dashboard)
    {
        IEnumerable<JsonElement> Panels(JsonElement parent) =>
            parent.TryGetProperty("panels", out var panels) ? panels.EnumerateArray().SelectMany(p => Panels(p).Prepend(p)) : [];

        foreach (var panel in Panels(dashboard))
            if (panel.TryGetProperty("targets", out var targets))
                foreach (var target in targets.EnumerateArray())
                    yield return ($"panel '{panel.GetProperty("title").GetString()}' {target.GetProperty("refId").GetString()}", target.GetProperty("expr").GetString()!);
        if (dashboard.TryGetProperty("templating", out var templating))
            foreach (var variable in templating.GetProperty("list").EnumerateArray().Where(v => v.GetProperty("type").GetString() == "query"))
            {
                var query = variable.GetProperty("query");
                yield return ($"variable ${variable.GetProperty("name").GetString()}", query.ValueKind == JsonValueKind.String ? query.GetString()! : query.GetProperty("query").GetString()!);
            }
    }

    private static IReadOnlyList<Collector> FindCollectors() =>
        PipelineServices.Folders.Select(PipelineServices.Assembly)
            .Append(typeof(Pipeline.Platform.ProcessorMetrics).Assembly).Append(typeof(Pipeline.Cli.PipelineCommandLine).Assembly)
            .Append(typeof(Pipeline.Audit.AuditProcessor).Assembly).Append(typeof(Pipeline.Geolocation.HostingLocator).Assembly).Distinct()
            .SelectMany(a => a.GetTypes()).Where(t => !t.ContainsGenericParameters)
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(f => typeof(Collector).IsAssignableFrom(f.FieldType))
            .Select(f => (Collector)f.GetValue(null)!)
            .Distinct()
            .ToList();

    private static IEnumerable<string> SeriesNames(Collector collector) => collector switch
    {
        Histogram => [collector.Name + "_bucket", collector.Name + "_sum", collector.Name + "_count"],
        Summary => [collector.Name, collector.Name + "_sum", collector.Name + "_count"],
        _ => [collector.Name],
    };

    private static IEnumerable<string> Labels(Collector collector, string series) =>
        series.EndsWith("_bucket", StringComparison.Ordinal) ? collector.LabelNames.Append("le")
        : collector is Summary && series == collector.Name ? collector.LabelNames.Append("quantile")
        : collector.LabelNames;

    [GeneratedRegex(@"\{([^{}]*)\}", RegexOptions.CultureInvariant)]
    private static partial Regex Selector();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*[""']", RegexOptions.CultureInvariant)]
    private static partial Regex Matcher();

    [GeneratedRegex(@"\bpipeline_[a-z0-9_]+", RegexOptions.CultureInvariant)]
    private static partial Regex Metric();

    [GeneratedRegex(@"\bMetrics\s*\.\s*Create(?:Counter|Gauge|Histogram|Summary)\s*\(", RegexOptions.CultureInvariant)]
    private static partial Regex Creation();
}
