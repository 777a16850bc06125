using System.Text.RegularExpressions;

namespace Pipeline.Operations.Tests;

/// <summary>
/// The root Dockerfile and .dockerignore, checked without Docker (there is no Docker engine here): the build context
/// holds every file a service build reads — including those outside services/ that project files reach with
/// ../../ (schemas, the schema generator, the topic definition) — and none of the host's bin/obj output; the image
/// runs as the unprivileged user on 8080 with a shell-less entry point.
/// </summary>
public sealed partial class DockerfileTests
{
    private static readonly string[] Lines = JoinContinuations(File.ReadAllLines(Repository.PathOf("Dockerfile")));
    private static readonly Regex[] Ignored = File.ReadAllLines(Repository.PathOf(".dockerignore"))
        .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).Select(IgnorePattern).ToArray();

    [Fact]
    public void Build_on_the_SDK_run_on_the_ASP_NET_runtime_as_a_non_root_user_on_port_8080()
    {
        var from = Lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build", "FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime"], from);
        var runtime = Lines.SkipWhile(l => !l.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet", StringComparison.Ordinal)).ToList();
        Assert.Contains("USER $APP_UID", runtime);
        Assert.Contains("EXPOSE 8080", runtime);
        Assert.Contains("ENTRYPOINT [\"/app/entrypoint\"]", runtime);
        Assert.Contains(runtime, l => l.StartsWith("COPY --from=build /app", StringComparison.Ordinal));
        Assert.DoesNotContain(runtime, l => l.StartsWith("RUN ", StringComparison.Ordinal)); // nothing installed into the runtime image
        var publish = Assert.Single(Lines, l => l.Contains("dotnet publish", StringComparison.Ordinal));
        Assert.Contains("\"services/Pipeline.${SERVICE}/Pipeline.${SERVICE}.csproj\" -c Release -o /app", publish, StringComparison.Ordinal);
        Assert.Contains("ln -s \"${assembly}\" /app/entrypoint", publish, StringComparison.Ordinal);
    }

    [Fact]
    public void The_build_context_holds_every_file_a_service_build_reads_and_no_host_build_output()
    {
        var copied = Lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from", StringComparison.Ordinal))
            .SelectMany(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1]).ToList();
        // What the build reads: the root build settings, the code, and what project files reach outside services/.
        var needed = new List<string> { "global.json", "Directory.Build.props", "Directory.Packages.props" };
        foreach (var project in Directory.GetFiles(Repository.PathOf("services"), "*.csproj", SearchOption.AllDirectories)
                     .Concat(Directory.GetFiles(Repository.PathOf("tools"), "*.csproj", SearchOption.AllDirectories)))
        {
            var dir = Path.GetDirectoryName(project)!;
            foreach (Match m in OutsidePath().Matches(File.ReadAllText(project)))
                needed.Add(Path.GetRelativePath(Repository.Root, Path.GetFullPath(Path.Combine(dir, m.Value))).Replace('\\', '/'));
            needed.Add(Path.GetRelativePath(Repository.Root, project).Replace('\\', '/'));
        }
        Assert.Contains("schemas", needed);
        Assert.Contains("infra/kafka/topics.json", needed);

        var notCopied = needed.Where(n => !copied.Any(c => n == c.TrimEnd('/') || n.StartsWith(c.TrimEnd('/') + "/", StringComparison.Ordinal))).ToList();
        Assert.Empty(notCopied);
        var sources = needed.Concat(
                new[] { "services", "tools", "schemas" }.SelectMany(d => Directory.GetFiles(Repository.PathOf(d), "*", SearchOption.AllDirectories))
                    .Select(f => Path.GetRelativePath(Repository.Root, f).Replace('\\', '/'))
                    .Where(f => !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal))
                    .Where(f => BuildInputs.Contains(Path.GetExtension(f))))
            .ToList();
        var ignored = sources.Where(IsIgnored).ToList();
        Assert.Empty(ignored);
        Assert.All(new[] { "services/Pipeline.Routing/bin/Debug/x.dll", "services/Pipeline.Routing/obj/project.assets.json", "tools/Pipeline.SchemaGen/obj/a", ".git/HEAD", "tests/Pipeline.Operations.Tests/ComposeTests.cs" },
            p => Assert.True(IsIgnored(p), p + " should not be sent to the Docker daemon"));
    }

    [Fact]
    public void Every_service_compose_builds_is_a_project_the_Dockerfile_can_publish()
    {
        var compose = Repository.LoadYaml(Repository.PathOf("compose", "docker-compose.yml"));
        var built = compose.Get("services").Entries().Select(s => s.Value.Get("build")?.Get("args")?.Text("SERVICE")).OfType<string>().Distinct().ToList();
        Assert.NotEmpty(built);
        Assert.All(built, s => Assert.True(File.Exists(Repository.PathOf("services", "Pipeline." + s, $"Pipeline.{s}.csproj")), s));
    }

    private static readonly HashSet<string> BuildInputs = [".cs", ".csproj", ".avsc", ".json", ".props", ".targets", ".mmdb", ".csv"];

    private static bool IsIgnored(string path) => Ignored.Any(r => r.IsMatch(path));

    /// <summary>The .dockerignore subset used here: '**/' any directories, '*' within a name, a trailing '/' a directory.</summary>
    private static Regex IgnorePattern(string pattern)
    {
        var dir = pattern.EndsWith('/');
        var body = Regex.Escape(pattern.TrimEnd('/')).Replace(@"\*\*/", "(.*/)?", StringComparison.Ordinal).Replace(@"\*", "[^/]*", StringComparison.Ordinal);
        return new Regex("^" + body + (dir ? "/" : "(/|$)"), RegexOptions.CultureInvariant);
    }

    private static string[] JoinContinuations(string[] lines)
    {
        var result = new List<string>();
        var current = "";
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (current.Length == 0 && (line.Length == 0 || line.StartsWith('#'))) continue;
            if (current.Length > 0 && line.StartsWith('#')) continue;
            if (line.EndsWith('\\')) { current += line[..^1] + " "; continue; }
            result.Add(current + line);
            current = "";
        }
        return [.. result];
    }

    [GeneratedRegex(@"\.\./\.\./[A-Za-z0-9_./-]+")]
    private static partial Regex OutsidePath();
}
