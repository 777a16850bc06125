using System.Text.RegularExpressions;

namespace Pipeline.Sla.Tests;

/// <summary>Every metric an alert rule queries is one a service really exports (its name appears as a string literal in
/// services/ source), so a renamed metric cannot silently turn an alert off.</summary>
public partial class MetricNameTests
{
    [Fact]
    public void Every_metric_in_the_rules_and_their_tests_is_exported_by_a_service()
    {
        var exported = Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "services"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                     && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => Literal().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal);
        var files = Directory.GetFiles(Path.Combine(RepoPaths.Prometheus, "rules"), "*.yml")
            .Concat(Directory.GetFiles(Path.Combine(RepoPaths.Prometheus, "tests"), "*.yml")).ToList();
        Assert.NotEmpty(files);
        var used = files.SelectMany(f => Used().Matches(File.ReadAllText(f)).Select(m => (Metric: m.Value, File: Path.GetFileName(f)))).ToList();
        Assert.Contains(used, u => u.Metric == "pipeline_processor_up");
        var missing = used.Where(u => !exported.Contains(u.Metric)).Select(u => $"{u.Metric} (in {u.File})").Distinct().ToList();
        Assert.True(missing.Count == 0, "metrics queried but exported by no service:\n" + string.Join("\n", missing));
    }

    [GeneratedRegex(@"""(pipeline_[a-z0-9_]+)""", RegexOptions.CultureInvariant)]
    private static partial Regex Literal();

    [GeneratedRegex(@"\bpipeline_[a-z0-9_]+", RegexOptions.CultureInvariant)]
    private static partial Regex Used();
}
