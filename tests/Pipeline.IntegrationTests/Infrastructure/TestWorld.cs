using System.Text.Json;
using Pipeline.Contracts;
using Pipeline.Loopback;
using Pipeline.Platform;

namespace Pipeline.IntegrationTests.Infrastructure;

/// <summary>The synthetic hosting world of the integration tests: documentation addresses and ASNs, .test names.</summary>
public static class TestWorld
{
    public const string HomeHosterHost = "site-a.nl-host.test";
    public const string PartnerHost = "site-b.de-host.test";
    public const string NoPartnerHost = "site-c.sc-host.test";
    public const string UnknownHost = "nowhere.unknown.test";

    /// <summary>Writes the services' configuration (hosting table, routing policy, notice sender, fast recheck
    /// pointed at <paramref name="web"/>) to a JSON file and returns its path; <paramref name="adjust"/> changes it first.</summary>
    /// <summary>The recheck's known-online control endpoint (served by the simulated web server like the hosters).</summary>
    public const string ControlUrl = "http://control.hotline.test/online";

    public static string WriteConfig(HosterWeb web, Action<System.Text.Json.Nodes.JsonObject>? adjust = null)
    {
        var config = new
        {
            Geolocation = new
            {
                Hosts = new Dictionary<string, string[]>
                {
                    [HomeHosterHost] = ["192.0.2.10"],
                    [PartnerHost] = ["198.51.100.10"],
                    [NoPartnerHost] = ["203.0.113.10", "2001:db8::10"],
                },
                Networks = new object[]
                {
                    new { Prefix = "192.0.2.0/24", Asn = 64496, AsOrganisation = "NL Host (test)", Country = "NL", HosterId = "nl-host", HosterName = "NL Host", AbuseAddress = "abuse@nl-host.test", AbuseChannel = "Email" },
                    new { Prefix = "198.51.100.0/24", Asn = 64500, AsOrganisation = "DE Host (test)", Country = "DE", HosterId = "de-host", HosterName = "DE Host", AbuseAddress = "abuse@de-host.test", AbuseChannel = "Email" },
                    new { Prefix = "203.0.113.0/24", Asn = 64503, AsOrganisation = "SC Host (test)", Country = "SC", HosterId = "sc-host", HosterName = "SC Host", AbuseAddress = "abuse@sc-host.test", AbuseChannel = "Email" },
                },
            },
            Routing = new { HomeCountry = "NL", HomeHotline = "nl-hotline", Partners = new Dictionary<string, string> { ["DE"] = "de-hotline" } },
            Takedown = new { Deadline = "1.00:00:00", SenderOrganisation = "Test Hotline", SenderContact = "notices@hotline.test", SenderDomain = "hotline.test" },
            Recheck = new
            {
                FirstCheckAfter = "00:00:00.200", Interval = "00:00:00.500", MissSpacing = "00:00:00.100", MissesForRemoval = 3,
                HomeHotline = "nl-hotline", PerHostSpacing = "00:00:00",
                Controls = new[] { ControlUrl }, ControlSpacing = "00:00:00",
                ResolveOverrides = new Dictionary<string, string>
                {
                    [HomeHosterHost] = web.Endpoint, [PartnerHost] = web.Endpoint, [NoPartnerHost] = web.Endpoint, [new Uri(ControlUrl).Host] = web.Endpoint,
                },
            },
            Logging = new { LogLevel = new Dictionary<string, string> { ["Default"] = "Information", ["Microsoft.AspNetCore"] = "Warning" } },
        };
        var json = JsonSerializer.SerializeToNode(config)!.AsObject();
        adjust?.Invoke(json);
        var path = Path.Combine(Path.GetTempPath(), $"pipeline-it-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    /// <summary>A whole-number setting of a test run from the environment (sizes of the long runs by hand), or
    /// <paramref name="fallback"/> when unset; anything else fails naming the variable and the fix.</summary>
    public static int? Setting(string name, int? fallback, int min = 1, int max = int.MaxValue)
    {
        var v = Environment.GetEnvironmentVariable(name);
        return string.IsNullOrEmpty(v) ? fallback
            : int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= min && n <= max ? n
            : throw new InvalidOperationException($"{name} '{v}' is not a whole number from {min} to {max}. Fix: e.g. {name}={fallback ?? min}, or unset it.");
    }

    public static string RandomHex(int bytes) => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(bytes));

    public static ReportSubmitted Report(string reportId, string url, string? sha256 = null, Classification? assessed = null, bool withReporter = true)
    {
        var now = DateTime.UtcNow;
        return new ReportSubmitted
        {
            eventId = EventIds.Derive("submitted", reportId),
            caseKey = null,
            submittedAt = now,
            report = new Report
            {
                reportId = reportId,
                sourceHotline = "nl-hotline",
                sourceReference = "REF-" + reportId,
                externalIds = new Dictionary<string, string>(),
                receivedAt = now,
                reportedAt = now,
                url = url,
                isSourceUrl = true,
                contentType = ContentType.IMAGE,
                siteType = SiteType.IMAGE_HOST,
                commercial = false,
                hashes = new ContentHashes { sha256 = sha256 ?? RandomHex(32) },
                reporterType = withReporter ? ReporterType.PUBLIC : ReporterType.ANONYMOUS,
                reporterContact = withReporter ? new ReporterContact { name = "Test Reporter", email = "reporter@mail.test" } : null,
                assessment = assessed is null ? null : new Assessment
                {
                    classification = assessed.Value, ageGroup = AgeGroup.PREPUBESCENT, gender = Gender.NOT_DETERMINED,
                    isVirtual = false, userGenerated = false, analyst = "analyst-1", assessedAt = now,
                },
                hops = [],
            },
        };
    }

    public static KnownHash Known(string sha256, string bank = "police-nl") => new()
    {
        eventId = EventIds.Derive("known-hash", bank, sha256),
        algorithm = HashAlgorithm.SHA256, value = sha256, bank = bank, category = "A1",
        addedBy = "integration-test", addedAt = DateTime.UtcNow, reference = null,
    };

    /// <summary>Report <paramref name="i"/> of a run's mixed feed, and the outcome it must reach: every third is hosted at
    /// home (takedown), at a partner's (forward), or where no partner is (review).</summary>
    public static (ReportSubmitted Report, string Kind) Mixed(string run, int i, string knownSha256)
    {
        var (url, kind) = (i % 3) switch
        {
            0 => ($"http://{HomeHosterHost}/{run}/{i}.jpg", "takedown"),
            1 => ($"http://{PartnerHost}/{run}/{i}.jpg", "forward"),
            _ => ($"http://{NoPartnerHost}/{run}/{i}.jpg", "review"),
        };
        return (Report($"{run}-{i:D5}", url, knownSha256), kind);
    }

    /// <summary>The routing outcomes seen so far of the reports of one run, by report id: each as "kind:eventId"
    /// (takedown, forward, review, police); distinct event ids, so a re-delivered event is not a second outcome.</summary>
    public static Dictionary<string, List<string>> Outcomes(Pipeline.TestSupport.TopicWatcher watch, string run)
    {
        var o = new Dictionary<string, List<string>>();
        void Add(string id, string kind, string eventId)
        {
            if (!id.StartsWith(run, StringComparison.Ordinal)) return;
            if (!o.TryGetValue(id, out var list)) o[id] = list = [];
            list.Add(kind + ":" + eventId);
        }
        foreach (var e in watch.Events<TakedownRequested>(Topics.TakedownRequested)) Add(e.report.reportId, "takedown", e.eventId);
        foreach (var e in watch.Events<ReportForwarded>(Topics.ExchangeOutbound)) Add(e.report.reportId, "forward", e.eventId);
        foreach (var e in watch.Events<ReviewRequested>(Topics.ReportsReview)) Add(e.report.reportId, "review", e.eventId);
        foreach (var e in watch.Events<PoliceReferral>(Topics.PoliceReferrals)) Add(e.report.reportId, "police", e.eventId);
        return o;
    }
}
