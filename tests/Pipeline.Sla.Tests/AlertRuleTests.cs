using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Pipeline.Sla.Tests;

/// <summary>The Prometheus rules in infra/prometheus/rules, run through promtool (Debian's prometheus package).</summary>
public partial class AlertRuleTests
{
    public static TheoryData<string> TestFiles => [.. Directory.GetFiles(Path.Combine(RepoPaths.Prometheus, "tests"), "*.yml").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    public static TheoryData<string> RuleFiles => [.. Directory.GetFiles(Path.Combine(RepoPaths.Prometheus, "rules"), "*.yml").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(TestFiles))]
    public void Promtool_unit_tests_pass(string file)
    {
        var (code, output) = Run(Promtool.Path, "test", "rules", Path.Combine("tests", file));
        Assert.True(code == 0, $"promtool test rules tests/{file} failed (exit {code}):\n{output}");
    }

    [Theory]
    [MemberData(nameof(RuleFiles))]
    public void Rule_files_are_valid_and_every_one_is_unit_tested(string file)
    {
        var (code, output) = Run(Promtool.Path, "check", "rules", Path.Combine("rules", file));
        Assert.True(code == 0, $"promtool check rules rules/{file} failed (exit {code}):\n{output}");
        var tested = Directory.GetFiles(Path.Combine(RepoPaths.Prometheus, "tests"), "*.yml")
            .Where(t => File.ReadAllText(t).Contains("../rules/" + file, StringComparison.Ordinal)).ToList();
        Assert.True(tested.Count > 0, $"rules/{file} is not loaded by any file in infra/prometheus/tests");
        var testText = string.Concat(tested.Select(File.ReadAllText));
        foreach (Match alert in AlertName().Matches(File.ReadAllText(Path.Combine(RepoPaths.Prometheus, "rules", file))))
        {
            var name = alert.Groups[1].Value;
            Assert.True(FiringExpectation(name).IsMatch(testText), $"alert {name} ({file}) has no promtool test case that expects it to fire");
            Assert.Contains($"## {name}", File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "operations.md")), StringComparison.Ordinal);
        }
    }

    private static Regex FiringExpectation(string alert) =>
        new($@"alertname: {Regex.Escape(alert)}\s*\n\s*exp_alerts:\s*\n\s*- exp_labels", RegexOptions.CultureInvariant);

    [GeneratedRegex(@"^\s*- alert: *(\S+)", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    internal static partial Regex AlertName();

    private static (int Code, string Output) Run(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { WorkingDirectory = RepoPaths.Prometheus, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }
}

/// <summary>Finds promtool; when it is missing and the tests run as root, installs Debian's prometheus package once.</summary>
internal static class Promtool
{
    private static readonly Lazy<string> Found = new(Locate);

    public static string Path => Found.Value;

    private static string? OnPath() => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(d => System.IO.Path.Combine(d, "promtool")).FirstOrDefault(File.Exists);

    private static string Locate()
    {
        if (OnPath() is { } path) return path;
        if (Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root")
        {
            var log = new System.Text.StringBuilder();
            foreach (var args in new[] { "update -qq", "install -y -qq prometheus" })
            {
                var psi = new ProcessStartInfo("apt-get", args) { RedirectStandardOutput = true, RedirectStandardError = true };
                psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
                using var p = Process.Start(psi)!;
                var stdout = p.StandardOutput.ReadToEndAsync();
                log.Append(p.StandardError.ReadToEnd());
                p.WaitForExit();
                log.Append(stdout.Result);
            }
            if (OnPath() is { } installed) return installed;
            throw new InvalidOperationException("promtool is missing and `apt-get install -y prometheus` did not provide it:\n" + log);
        }
        throw new InvalidOperationException(
            "promtool is missing. Fix: install Debian's prometheus package (sudo apt-get update && sudo apt-get install -y prometheus); .ci/run does this in CI.");
    }
}
