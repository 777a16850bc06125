using System.Globalization;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Cli.Demo;

/// <summary>
/// Generates realistic, entirely synthetic reports: a mix of hosting countries, known and new material, reporter
/// types, and a few broken submissions. Hashes are random; URLs live under .example.
/// </summary>
public sealed class SyntheticFeed(int seed, IReadOnlyList<string> knownSha256, TimeProvider time)
{
    private readonly Random random = new(seed);
    private long sequence;

    public static IReadOnlyList<string> RandomHashes(int count, int seed, int bytes = 32)
    {
        var random = new Random(seed);
        var result = new List<string>(count);
        var buffer = new byte[bytes];
        for (var i = 0; i < count; i++)
        {
            random.NextBytes(buffer);
            result.Add(Convert.ToHexStringLower(buffer));
        }
        return result;
    }

    public sealed record Item(string Key, ReportSubmitted? Report, byte[]? Malformed);

    public Item Next()
    {
        var n = Interlocked.Increment(ref sequence);
        var now = time.GetUtcNow().UtcDateTime;
        var roll = random.NextDouble();
        if (roll < 0.005) // a producer that does not speak Avro at all: must be dead-lettered, never lost
            return new Item($"junk-{n}", null, System.Text.Encoding.UTF8.GetBytes($"{{\"url\":\"http://junk{n}.example/\"}}"));

        var reportId = $"demo-{seed}-{n:D7}";
        string url;
        if (roll < 0.035)
        {
            url = (n % 4) switch
            {
                0 => $"ftp://files{n}.example/a.jpg",
                1 => "not a url at all",
                2 => $"javascript:alert({n})",
                _ => "http:///no-host",
            };
        }
        else if (roll < 0.06)
        {
            url = $"https://site{n % 50}.unknown.example/p/{n}";
        }
        else
        {
            var hoster = PickHoster();
            var site = random.Next(hoster.Sites);
            var host = DemoWorld.Host(hoster, site);
            // Varied spellings of the same kind of URL: upper-case host, default port, fragments.
            var spelled = random.Next(4) switch
            {
                0 => host.ToUpperInvariant(),
                1 => host + ":443",
                _ => host,
            };
            url = $"https://{spelled}/gallery/{n:x}/{random.Next(1_000_000):D6}.jpg" + (random.Next(5) == 0 ? "#top" : "");
        }

        var material = random.NextDouble();
        var known = material < 0.65 && knownSha256.Count > 0;
        Assessment? assessment = known || material >= 0.95 ? null : new Assessment
        {
            classification = material < 0.90 ? Contracts.Classification.BASELINE : Contracts.Classification.NOT_ILLEGAL,
            ageGroup = (AgeGroup)random.Next(1, 4),
            gender = Gender.NOT_DETERMINED,
            isVirtual = false,
            userGenerated = false,
            analyst = $"analyst-{random.Next(1, 6)}",
            assessedAt = now,
        };
        // The analyst's A/B category (X-ARF's csam classification) for illegal material: the letter from the age group
        // (A prepubescent or younger, B pubescent), the level from the same roll as the material (no extra draw, so the
        // feed stays the same sequence).
        if (assessment is { classification: Contracts.Classification.BASELINE })
            assessment.category = (assessment.ageGroup == AgeGroup.PUBESCENT, material < 0.775) switch
            {
                (false, true) => SeverityCategory.A1,
                (false, false) => SeverityCategory.A2,
                (true, true) => SeverityCategory.B1,
                (true, false) => SeverityCategory.B2,
            };
        var sha256 = known ? knownSha256[random.Next(knownSha256.Count)] : RandomHex(32);
        if (roll < 0.012) { url = $"https://site1.nl-swift.example/{n}"; sha256 = "not-a-hash"; } // rejected: HASH_MALFORMED
        var reporterType = random.NextDouble() switch { < 0.55 => ReporterType.PUBLIC, < 0.75 => ReporterType.ANONYMOUS, < 0.9 => ReporterType.CRAWLER, _ => ReporterType.TRUSTED_FLAGGER };
        var report = new Report
        {
            reportId = reportId,
            sourceHotline = DemoWorld.HomeHotline,
            sourceReference = $"NL-{now:yyyyMMdd}-{n:D7}",
            externalIds = new Dictionary<string, string>(),
            receivedAt = now,
            reportedAt = now,
            url = url,
            parentUrl = null,
            isSourceUrl = true,
            contentType = random.Next(10) < 8 ? ContentType.IMAGE : ContentType.VIDEO,
            siteType = (SiteType)random.Next(0, 6),
            commercial = random.Next(10) == 0,
            hashes = new ContentHashes { sha256 = sha256, md5 = known ? null : RandomHex(16) },
            reporterType = reporterType,
            reporterContact = reporterType == ReporterType.PUBLIC
                ? new ReporterContact { name = $"Reporter {n}", email = $"reporter{n}@mail.example", phone = null }
                : null,
            assessment = assessment,
            hops = [],
        };
        var submitted = new ReportSubmitted
        {
            eventId = EventIds.Derive("submitted", reportId),
            caseKey = null,
            report = report,
            submittedAt = now,
        };
        return new Item(reportId, submitted, null);
    }

    private DemoWorld.Hoster PickHoster()
    {
        var total = DemoWorld.Hosters.Sum(h => h.Weight);
        var x = random.NextDouble() * total;
        foreach (var h in DemoWorld.Hosters)
        {
            x -= h.Weight;
            if (x <= 0) return h;
        }
        return DemoWorld.Hosters[^1];
    }

    private string RandomHex(int bytes)
    {
        var buffer = new byte[bytes];
        random.NextBytes(buffer);
        return Convert.ToHexStringLower(buffer);
    }

    public static string Describe(TimeSpan t) =>
        t.TotalHours >= 1 ? t.TotalHours.ToString("0.0", CultureInfo.InvariantCulture) + " h" : t.TotalMinutes.ToString("0", CultureInfo.InvariantCulture) + " min";
}
