using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;

namespace Pipeline.Geolocation.Tests;

/// <summary>The geolocation stage in its real host, on the embedded Kafka cluster and registry, with DNS, the
/// databases and RDAP on loopback.</summary>
public sealed class KafkaTests
{
    [Fact]
    public async Task Accepted_reports_come_out_located_once_each_including_the_unresolvable_one()
    {
        await using var world = await World.StartAsync();
        await using var runtime = await EmbeddedRuntime.StartAsync();
        var settings = new Dictionary<string, string?>(runtime.Configuration)
        {
            ["Processing:InitialBackoffMs"] = "10",
            ["Processing:MaxBackoffMs"] = "100",
            ["Geolocation:Dns:NameServers:0"] = world.Dns.Address,
            ["Geolocation:Dns:TimeoutMs"] = "1000",
            ["Geolocation:GeoIp:AsnDatabase"] = world.AsnPath,
            ["Geolocation:GeoIp:CountryDatabase"] = world.CountryPath,
            ["Geolocation:Rdap:Registries:0:Prefix"] = "192.0.2.0/24",
            ["Geolocation:Rdap:Registries:0:BaseUrl"] = world.Rdap.BaseUrl,
            ["Geolocation:Networks:0:Asn"] = "64500",
            ["Geolocation:Networks:0:HosterId"] = "de-host",
            ["Geolocation:Networks:0:HosterName"] = "DE Host",
            ["Geolocation:Networks:0:AbuseAddress"] = "abuse@de-host.example",
        };
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.Sources.Clear(); // not the service's appsettings.json, copied beside the tests
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddGeolocation();
        await using var app = builder.Build();
        await app.StartAsync();

        using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = runtime.SchemaRegistryUrl });
        var serdes = new AvroSerdes(registry, autoRegisterSchemas: false);
        var kafka = new KafkaOptions { BootstrapServers = runtime.BootstrapServers, SchemaRegistryUrl = runtime.SchemaRegistryUrl };
        using var publisher = new EventPublisher(Options.Create(kafka), serdes, "geo-test");
        var hosts = new[] { "www.hoster-a.example", "multi.example", "gone.example", "[2001:db8:6::5]" };
        var inputs = hosts.Select((h, i) => Accepted($"r{i}", h)).ToList();
        foreach (var input in inputs) await publisher.PublishAsync(Topics.ReportsAccepted, input.caseKey, input);

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = runtime.BootstrapServers, GroupId = "reader-" + Guid.NewGuid(), EnableAutoCommit = false,
        }).Build();
        consumer.Assign(Enumerable.Range(0, TopicCatalog.Get(Topics.ReportsLocated).Partitions)
            .Select(p => new TopicPartitionOffset(Topics.ReportsLocated, p, Offset.Beginning)));
        var located = new List<ReportLocated>();
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (located.Count < inputs.Count && DateTime.UtcNow < deadline)
        {
            var m = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (m?.Message?.Value is { } bytes) located.Add(await serdes.DeserializeAsync<ReportLocated>(bytes, Topics.ReportsLocated));
        }
        await app.StopAsync();

        Assert.Equal(inputs.Count, located.Count);
        Assert.Equal(inputs.Select(i => EventIds.Derive("located", i.eventId)).Order(), located.Select(l => l.eventId).Order());
        var byHost = located.ToDictionary(l => l.caseInfo.host);
        var a = byHost["www.hoster-a.example"].hosting;
        Assert.Equal(("NL", 64496L, "abuse@hoster-a.example"), (a.country, a.asn!.Value, a.abuseContact!.address));
        var multi = byHost["multi.example"].hosting;
        Assert.Equal(["NL", "DE"], multi.countries);
        Assert.Equal([null, "de-host"], multi.addresses!.Select(x => x.hosterId));
        var gone = byHost["gone.example"].hosting;
        Assert.False(gone.resolved);
        Assert.Equal("NXDOMAIN: gone.example does not exist", gone.unresolvedReason);
        var v6 = byHost["[2001:db8:6::5]"].hosting;
        Assert.Equal(("GB", "ip-literal"), (v6.country, v6.sources[0]));
    }

    private static ReportAccepted Accepted(string id, string host)
    {
        var url = $"https://{host}/media/{id}.jpg";
        var at = new DateTime(2026, 3, 1, 9, 0, 0, DateTimeKind.Utc);
        var report = new Report
        {
            reportId = id, sourceHotline = "test-hotline", sourceReference = "ref-" + id, externalIds = new Dictionary<string, string>(),
            receivedAt = at, reportedAt = null, url = url, parentUrl = null, isSourceUrl = true, contentType = ContentType.IMAGE,
            siteType = SiteType.WEBSITE, commercial = false,
            hashes = new ContentHashes { sha256 = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) },
            reporterType = ReporterType.CRAWLER, reporterContact = null, assessment = null, hops = new List<string>(),
        };
        return new ReportAccepted
        {
            eventId = EventIds.Derive("accepted", id), caseKey = url, report = report,
            caseInfo = new CaseInfo { normalizedUrl = url, host = host, caseOpenedAt = at, reportCount = 1, reupload = false, userinfoRemoved = false },
            acceptedAt = at,
        };
    }
}
