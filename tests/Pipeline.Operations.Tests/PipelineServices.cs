using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Pipeline.Platform;

namespace Pipeline.Operations.Tests;

/// <summary>
/// The services of the design, and each one built the way its Program.cs builds it — with a deployment's environment
/// (compose or Kubernetes) over its appsettings.json — so that a deployment can be checked against what the code
/// really does: its options validators, its stages (consumer groups and input topics) and the HTTP endpoints it serves.
/// </summary>
internal static partial class PipelineServices
{
    /// <summary>Every project under services/ whose Program.cs builds a PipelineHost, by folder name without "Pipeline.".</summary>
    public static IReadOnlyList<string> Folders { get; } = FindFolders();

    public static TheoryData<string> All() => new(Folders);

    public static Assembly Assembly(string folder) => System.Reflection.Assembly.Load("Pipeline." + folder);

    /// <summary>The service's assembly and the pipeline assemblies it references (a stage hosted from a library of its
    /// own, e.g. the sla service's audit stage from Pipeline.Audit).</summary>
    public static Assembly[] Assemblies(string folder) =>
        [Assembly(folder), .. Assembly(folder).GetReferencedAssemblies()
            .Where(n => n.Name!.StartsWith("Pipeline.", StringComparison.Ordinal)).Select(System.Reflection.Assembly.Load)];

    /// <summary>Keys that are not options: the platform's extra config file, and the runtime's own settings.</summary>
    public static bool IsHostSetting(string key) =>
        key == "PIPELINE_CONFIG" || key.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || key.StartsWith("DOTNET_", StringComparison.Ordinal)
        || key.StartsWith("Logging__", StringComparison.Ordinal);

    /// <summary>The service as its Program.cs builds it: the extension methods it calls on the builder
    /// (e.g. .AddTakedown().AddNoticeDelivery()) and on the built app (e.g. .MapIntakeApi()), with
    /// <paramref name="environment"/> and the JSON file <paramref name="configFile"/> (its PIPELINE_CONFIG) layered over
    /// its appsettings.json. Nothing is started.</summary>
    public static BuiltService Build(string folder, IReadOnlyDictionary<string, string> environment, string? configFile)
    {
        var builder = PipelineHost.CreateBuilder(["--contentRoot", Repository.PathOf("services", "Pipeline." + folder)]);
        if (configFile is not null) builder.Configuration.AddJsonFile(configFile, optional: false);
        builder.Configuration.AddInMemoryCollection(environment.Where(e => !IsHostSetting(e.Key))
            .Select(e => KeyValuePair.Create(e.Key.Replace("__", ":", StringComparison.Ordinal), (string?)e.Value)));
        var program = File.ReadAllText(Repository.PathOf("services", "Pipeline." + folder, "Program.cs"));
        var calls = ExtensionCall().Matches(program).Select(m => m.Groups[1].Value).ToList();
        Assert.Contains(calls, c => c.StartsWith("Add", StringComparison.Ordinal));
        foreach (var call in calls.Where(c => c.StartsWith("Add", StringComparison.Ordinal)))
            Extension(folder, call, typeof(PipelineHostBuilder)).Invoke(null, [builder]);
        var app = builder.Build();
        foreach (var call in calls.Where(c => c.StartsWith("Map", StringComparison.Ordinal)))
            Extension(folder, call, typeof(WebApplication)).Invoke(null, [app]);
        return new BuiltService(folder, builder, app);
    }

    private static MethodInfo Extension(string folder, string name, Type on) =>
        Assemblies(folder).SelectMany(a => a.GetTypes()).SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Single(m => m.Name == name && m.GetParameters() is [{ } p] && p.ParameterType == on);

    private static List<string> FindFolders()
    {
        var data = new List<string>();
        foreach (var dir in Directory.GetDirectories(Repository.PathOf("services"), "Pipeline.*").Order(StringComparer.Ordinal))
        {
            var program = Path.Combine(dir, "Program.cs");
            if (File.Exists(program) && File.ReadAllText(program).Contains("PipelineHost.", StringComparison.Ordinal))
                data.Add(Path.GetFileName(dir)["Pipeline.".Length..]);
        }
        return data;
    }

    [GeneratedRegex(@"\.((?:Add|Map)[A-Za-z]+)\(\)")]
    private static partial Regex ExtensionCall();
}

/// <summary>A service built by <see cref="PipelineServices.Build"/>.</summary>
internal sealed class BuiltService(string folder, PipelineHostBuilder builder, WebApplication app) : IDisposable
{
    /// <summary>The stages the code declared: consumer group (the stage name) and input topics.</summary>
    public IReadOnlyList<StageDefinition> Stages => builder.Stages;

    /// <summary>The port of the address the host listens on (PipelineHost's default unless the configuration sets urls).</summary>
    public int Port => new Uri(builder.Configuration["urls"]!.Split(';')[0].Replace("0.0.0.0", "localhost", StringComparison.Ordinal)).Port;

    /// <summary>The routes the app serves: /health/live, /health/ready, /metrics, and the service's own API.</summary>
    public IReadOnlyList<string> Routes => ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints)
        .OfType<RouteEndpoint>().Select(e => "/" + e.RoutePattern.RawText!.TrimStart('/')).ToList();

    public T Options<T>() where T : class => ((IOptions<T>)app.Services.GetService(typeof(IOptions<T>))!).Value;

    /// <summary>What the service's options validators say about this configuration (empty: it would start).</summary>
    public IReadOnlyList<string> ValidationFailures()
    {
        var failures = new List<string>();
        foreach (var type in new OptionKeys(PipelineServices.Assembly(folder)).OptionTypes)
        {
            var options = app.Services.GetService(typeof(IOptions<>).MakeGenericType(type));
            if (options is null) continue;
            try { _ = options.GetType().GetProperty("Value")!.GetValue(options); }
            catch (TargetInvocationException e) when (e.InnerException is OptionsValidationException v) { failures.AddRange(v.Failures); }
        }
        return failures;
    }

    public void Dispose() => ((IDisposable)app).Dispose();
}
