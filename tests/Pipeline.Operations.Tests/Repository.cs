using YamlDotNet.RepresentationModel;

namespace Pipeline.Operations.Tests;

/// <summary>Paths of the repository this test runs in, and small YAML helpers.</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")) && Directory.Exists(Path.Combine(dir.FullName, "services")))
                return dir.FullName;
        throw new InvalidOperationException("The repository root (with Pipeline.sln) was not found above " + AppContext.BaseDirectory);
    }

    public static YamlMappingNode LoadYaml(string path)
    {
        using var reader = new StreamReader(path);
        var stream = new YamlStream();
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    /// <summary>Every document of a multi-document YAML file (Kubernetes manifests separated by ---).</summary>
    public static IReadOnlyList<YamlMappingNode> LoadYamlDocuments(string path)
    {
        using var reader = new StreamReader(path);
        var stream = new YamlStream();
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    public static YamlNode? Get(this YamlNode node, string key) =>
        node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    public static string? Text(this YamlNode node, string key) => (node.Get(key) as YamlScalarNode)?.Value;

    public static IEnumerable<(string Key, YamlNode Value)> Entries(this YamlNode? node) =>
        node is YamlMappingNode map ? map.Children.Select(c => (((YamlScalarNode)c.Key).Value!, c.Value)) : [];

    public static IEnumerable<YamlNode> Items(this YamlNode? node) => node is YamlSequenceNode seq ? seq.Children : [];

    public static IEnumerable<string> Texts(this YamlNode? node) => node.Items().Select(i => ((YamlScalarNode)i).Value!);

    /// <summary>Environment of a compose service, as a map or as a list of KEY=VALUE.</summary>
    public static IReadOnlyDictionary<string, string> Environment(this YamlNode service)
    {
        var env = service.Get("environment");
        if (env is YamlSequenceNode list)
            return list.Children.Select(i => ((YamlScalarNode)i).Value!.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        return env.Entries().ToDictionary(e => e.Key, e => ((YamlScalarNode)e.Value).Value ?? "");
    }
}
