using System.Text.Json;

namespace Pipeline.Operations.Tests;

/// <summary>The Grafana dashboards as Grafana's file provisioning loads them (infra/grafana/provisioning): each one
/// queries the provisioned Prometheus datasource, has its own uid, and no two panels cover each other. Which metrics
/// they query is checked by <see cref="MetricNameTests"/>.</summary>
public sealed class DashboardTests
{
    private static readonly string Dashboards = Repository.PathOf("infra", "grafana", "dashboards");

    [Fact]
    public void The_dashboards_are_pipeline_flow_Kafka_lag_and_SLA_and_hosters_each_with_its_own_uid()
    {
        var dashboards = Directory.GetFiles(Dashboards, "*.json").Select(f => JsonDocument.Parse(File.ReadAllText(f)).RootElement).ToList();

        Assert.Equal(["Kafka lag", "Pipeline flow", "SLA and hosters"], dashboards.Select(d => d.GetProperty("title").GetString()).Order(StringComparer.Ordinal));
        Assert.Equal(dashboards.Count, dashboards.Select(d => d.GetProperty("uid").GetString()).Distinct().Count());
        var provider = Repository.LoadYaml(Repository.PathOf("infra", "grafana", "provisioning", "dashboards", "pipeline.yml")).Get("providers").Items().Single();
        var mount = Repository.LoadYaml(Repository.PathOf("compose", "docker-compose.yml")).Get("services")!.Get("grafana")!.Get("volumes").Texts()
            .Select(v => v.Split(':')).Single(v => Path.GetFullPath(Path.Combine(Repository.PathOf("compose"), v[0])).TrimEnd('/') == Dashboards);
        Assert.Equal(provider.Get("options")!.Text("path"), mount[1].TrimEnd('/'));
    }

    [Theory]
    [MemberData(nameof(MetricNameTests.DashboardFiles), MemberType = typeof(MetricNameTests))]
    public void Every_panel_queries_the_provisioned_Prometheus_and_no_two_panels_overlap(string file)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dashboards, file)));
        var datasource = Repository.LoadYaml(Repository.PathOf("infra", "grafana", "provisioning", "datasources", "prometheus.yml")).Get("datasources").Items().Single().Text("uid");
        var panels = json.RootElement.GetProperty("panels").EnumerateArray().ToList();

        var wrong = panels.Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("datasource")).Prepend(p.GetProperty("datasource")).Select(d => (Panel: p, Uid: d.GetProperty("uid").GetString())))
            .Where(x => x.Uid != datasource).Select(x => x.Panel.GetProperty("title").GetString()).Distinct().ToList();
        Assert.Empty(wrong);
        var cells = new Dictionary<(int X, int Y), string>();
        foreach (var panel in panels)
        {
            var g = panel.GetProperty("gridPos");
            var (x, y, w, h) = (g.GetProperty("x").GetInt32(), g.GetProperty("y").GetInt32(), g.GetProperty("w").GetInt32(), g.GetProperty("h").GetInt32());
            Assert.True(x + w <= 24, $"{panel.GetProperty("title")} is wider than the 24-column grid");
            for (var i = x; i < x + w; i++)
                for (var j = y; j < y + h; j++)
                    Assert.True(cells.TryAdd((i, j), panel.GetProperty("title").GetString()!), $"{panel.GetProperty("title")} covers {cells.GetValueOrDefault((i, j))}");
        }
    }
}
