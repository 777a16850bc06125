using System.Text.RegularExpressions;
using Pipeline.Platform;
using YamlDotNet.RepresentationModel;

namespace Pipeline.Operations.Tests;

/// <summary>
/// compose/docker-compose.yml against the code. Docker is not run here: these checks are what can be proven without
/// it — every service is there and built from the Dockerfile, every environment variable sets a real option with a
/// value of the right type, each service's whole configuration (its appsettings.json + the compose environment +
/// mounted config files) passes the service's own validators, every referenced file exists, provisioning runs first,
/// and Prometheus scrapes exactly the services on port 8080.
/// </summary>
public sealed partial class ComposeTests
{
    private static readonly string ComposeDir = Repository.PathOf("compose");
    private static readonly YamlMappingNode Compose = Repository.LoadYaml(Path.Combine(ComposeDir, "docker-compose.yml"));
    private static readonly Dictionary<string, YamlNode> Services = Compose.Get("services").Entries().ToDictionary(e => e.Key, e => e.Value);

    [Fact]
    public void The_services_are_the_eight_of_the_design()
    {
        Assert.Equal(["Classification", "Exchange", "Geolocation", "Intake", "Recheck", "Routing", "Sla", "Takedown"],
            PipelineServices.Folders.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(PipelineServices.All), MemberType = typeof(PipelineServices))]
    public void Each_service_runs_in_its_own_container_built_from_the_Dockerfile_after_provisioning_and_is_probed_for_readiness(string folder)
    {
        var name = folder.ToLowerInvariant();
        Assert.True(Services.TryGetValue(name, out var service), $"compose has no service '{name}' for services/Pipeline.{folder}");

        var build = service.Get("build")!;
        Assert.Equal(folder, build.Get("args")!.Text("SERVICE"));
        Assert.True(File.Exists(Path.Combine(ComposeDir, build.Text("context")!, build.Text("dockerfile")!)));
        foreach (var init in new[] { "init-topics", "init-schemas" })
            Assert.Equal("service_completed_successfully", service.Get("depends_on")!.Get(init)?.Text("condition"));
        var probe = string.Join(" ", service.Get("healthcheck")!.Get("test").Items().Select(i => ((YamlScalarNode)i).Value));
        Assert.Contains("/dev/tcp/127.0.0.1/8080", probe, StringComparison.Ordinal);
        Assert.Contains("GET /health/ready", probe, StringComparison.Ordinal);
        var env = service.Environment();
        Assert.Equal("kafka-1:9092,kafka-2:9092,kafka-3:9092", env["Kafka__BootstrapServers"]);
        Assert.Equal("http://schema-registry:8081", env["Kafka__SchemaRegistryUrl"]);
    }

    [Theory]
    [MemberData(nameof(PipelineServices.All), MemberType = typeof(PipelineServices))]
    public void Every_environment_variable_sets_an_existing_option_with_a_value_of_its_type(string folder)
    {
        var service = Services[folder.ToLowerInvariant()];
        var keys = new OptionKeys(PipelineServices.Assemblies(folder));

        var problems = service.Environment().Where(e => !PipelineServices.IsHostSetting(e.Key)).Select(e => keys.Problem(e.Key, e.Value)).OfType<string>().ToList();

        Assert.Empty(problems);
    }

    [Fact]
    public void The_option_key_check_catches_typos_wrong_types_and_unknown_sections()
    {
        var keys = new OptionKeys(PipelineServices.Assembly("Routing"), PipelineServices.Assembly("Takedown"));

        Assert.Null(keys.Problem("Routing__HomeCountry", "NL"));
        Assert.Null(keys.Problem("Routing__Partners__DE", "de-hotline"));
        Assert.Null(keys.Problem("Takedown__Delivery__Smtp__Port", "1025"));
        Assert.Null(keys.Problem("Takedown__Delivery__Smtp__Security", "None"));
        Assert.Contains("no settable property 'HomeCuntry'", keys.Problem("Routing__HomeCuntry", "NL"), StringComparison.Ordinal);
        Assert.Contains("is not a Int32", keys.Problem("Takedown__Delivery__Smtp__Port", "smtp"), StringComparison.Ordinal);
        Assert.Contains("not a single value", keys.Problem("Routing__Partners", "DE"), StringComparison.Ordinal);
        Assert.Contains("no options class has section 'Routeing'", keys.Problem("Routeing__HomeCountry", "NL"), StringComparison.Ordinal);
        Assert.Contains("is not a TimeSpan", keys.Problem("Routing__PoliceReleaseTimeout", "4 hours"), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(PipelineServices.All), MemberType = typeof(PipelineServices))]
    public void Each_services_configuration_in_compose_passes_its_own_validators(string folder)
    {
        var service = Services[folder.ToLowerInvariant()];
        var env = service.Environment();
        var configFile = env.TryGetValue("PIPELINE_CONFIG", out var containerPath) ? HostPathOf(service, containerPath) : null;

        using var built = PipelineServices.Build(folder, env, configFile);

        Assert.Empty(built.ValidationFailures());
    }

    [Fact]
    public void Every_local_file_compose_mounts_or_builds_from_exists()
    {
        var missing = new List<string>();
        foreach (var (name, service) in Services)
        {
            foreach (var volume in service.Get("volumes").Items().Select(v => ((YamlScalarNode)v).Value!))
            {
                var source = volume.Split(':')[0];
                if (source.StartsWith('.') || source.StartsWith('/'))
                    if (!File.Exists(Path.Combine(ComposeDir, source)) && !Directory.Exists(Path.Combine(ComposeDir, source))) missing.Add($"{name}: {source}");
            }
            if (service.Get("build") is { } build && !File.Exists(Path.Combine(ComposeDir, build.Text("context")!, build.Text("dockerfile") ?? "Dockerfile")))
                missing.Add($"{name}: build {build.Text("context")}/{build.Text("dockerfile")}");
        }
        Assert.Empty(missing);
        Assert.NotEmpty(Directory.GetFiles(Repository.PathOf("infra", "prometheus", "rules"), "*.yml"));
        Assert.NotEmpty(Directory.GetFiles(Repository.PathOf("infra", "grafana", "provisioning", "datasources"), "*.yml"));
    }

    [Fact]
    public void Provisioning_creates_topics_then_schemas_for_the_partners_the_exchange_gateway_takes_in()
    {
        string[] Command(string name) => Services[name].Get("command").Items().Select(i => ((YamlScalarNode)i).Value!).ToArray();
        Assert.Equal("Cli", Services["init-topics"].Get("build")!.Get("args")!.Text("SERVICE"));
        Assert.Equal(["topics", "apply"], Command("init-topics")[..2]);
        Assert.Equal(["schemas", "register"], Command("init-schemas")[..2]);
        Assert.Equal("3", Command("init-topics").SkipWhile(a => a != "--min-brokers").ElementAt(1));
        Assert.Equal("service_completed_successfully", Services["init-schemas"].Get("depends_on")!.Get("init-topics")!.Text("condition"));
        Assert.Equal("service_healthy", Services["init-schemas"].Get("depends_on")!.Get("schema-registry")!.Text("condition"));
        foreach (var broker in new[] { "kafka-1", "kafka-2", "kafka-3" })
            Assert.Equal("service_healthy", Services["init-topics"].Get("depends_on")!.Get(broker)!.Text("condition"));

        var inbound = Services["exchange"].Environment().Keys
            .Select(k => ExchangeInbound().Match(k)).Where(m => m.Success).Select(m => m.Groups[1].Value).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(inbound);
        foreach (var init in new[] { "init-topics", "init-schemas" })
            Assert.Equal(inbound, Command(init).SkipWhile(a => a != "--partners").ElementAt(1).Split(',').Order(StringComparer.Ordinal));
        Assert.Equal(["exchange"], Services["exchange"].Get("profiles").Items().Select(i => ((YamlScalarNode)i).Value));
    }

    [Fact]
    public void Kafka_is_three_KRaft_brokers_and_every_one_is_in_the_quorum_and_the_bootstrap_list()
    {
        var brokers = Services.Where(s => s.Value.Text("image")?.StartsWith("apache/kafka:", StringComparison.Ordinal) == true).ToList();
        Assert.Equal(3, brokers.Count);
        var voters = brokers.Select(b => b.Value.Environment()["KAFKA_CONTROLLER_QUORUM_VOTERS"]).Distinct().Single();
        foreach (var (name, broker) in brokers)
        {
            var env = broker.Environment();
            Assert.Contains($"{env["KAFKA_NODE_ID"]}@{name}:9093", voters, StringComparison.Ordinal);
            Assert.Contains($"PLAINTEXT://{name}:9092", env["KAFKA_ADVERTISED_LISTENERS"], StringComparison.Ordinal);
            Assert.Equal("broker,controller", env["KAFKA_PROCESS_ROLES"]);
            Assert.Equal("false", env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]);
        }
        Assert.Single(brokers.Select(b => b.Value.Environment()["CLUSTER_ID"]).Distinct());
        Assert.Equal(string.Join(",", brokers.Select(b => b.Key + ":9092")), Services["init-topics"].Environment()["Kafka__BootstrapServers"]);
    }

    [Fact]
    public void Prometheus_scrapes_every_service_on_port_8080_with_the_rules_and_alertmanager()
    {
        var prometheus = Services["prometheus"];
        var volumes = prometheus.Get("volumes").Items().Select(v => ((YamlScalarNode)v).Value!.Split(':')).ToList();
        var configMount = volumes.Single(v => v[1] == "/etc/prometheus/prometheus.yml");
        var rulesMount = volumes.Single(v => v[1].TrimEnd('/') == "/etc/prometheus/rules");
        var config = Repository.LoadYaml(Path.Combine(ComposeDir, configMount[0]));

        var targets = new List<(string Job, string Host, string Port)>();
        foreach (var job in config.Get("scrape_configs").Items())
        {
            foreach (var sd in job.Get("dns_sd_configs").Items())
                targets.AddRange(sd.Get("names").Items().Select(n => (job.Text("job_name")!, ((YamlScalarNode)n).Value!, sd.Text("port")!)));
            foreach (var sc in job.Get("static_configs").Items())
                targets.AddRange(sc.Get("targets").Items().Select(t => ((YamlScalarNode)t).Value!.Split(':')).Select(t => (job.Text("job_name")!, t[0], t[1])));
        }
        var services = PipelineServices.Folders.Select(f => f.ToLowerInvariant()).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(services, targets.Select(t => t.Host).Order(StringComparer.Ordinal));
        Assert.All(targets, t => Assert.Equal(("8080", t.Host), (t.Port, t.Job)));
        Assert.All(targets, t => Assert.True(Services.ContainsKey(t.Host)));

        var ruleFiles = config.Get("rule_files").Items().Select(r => ((YamlScalarNode)r).Value!).ToList();
        Assert.All(ruleFiles, r => Assert.StartsWith(rulesMount[1].TrimEnd('/') + "/", r, StringComparison.Ordinal));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(ComposeDir, rulesMount[0]), Path.GetFileName(ruleFiles.Single())));
        var alertmanager = config.Get("alerting")!.Get("alertmanagers").Items().SelectMany(a => a.Get("static_configs").Items())
            .SelectMany(s => s.Get("targets").Items()).Select(t => ((YamlScalarNode)t).Value!).Single();
        Assert.True(Services.ContainsKey(alertmanager.Split(':')[0]));
    }

    private static string HostPathOf(YamlNode service, string containerPath)
    {
        var mount = service.Get("volumes").Items().Select(v => ((YamlScalarNode)v).Value!.Split(':')).SingleOrDefault(v => v[1] == containerPath)
            ?? throw new InvalidOperationException($"PIPELINE_CONFIG {containerPath} is not mounted from a local file");
        return Path.GetFullPath(Path.Combine(ComposeDir, mount[0]));
    }

    [GeneratedRegex(@"^Exchange__Partners__([a-z0-9-]+)__Inbound$")]
    private static partial Regex ExchangeInbound();
}
