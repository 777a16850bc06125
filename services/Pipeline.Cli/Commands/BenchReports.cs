using System.Security.Cryptography;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Cli.Commands;

/// <summary>Reports as intake receives them, for the benches: synthetic (an .example host, the hash of an index; no real
/// URL, hash or person).</summary>
internal static class BenchReports
{
    public static ReportSubmitted Submitted(string id, string url, int i) => new()
    {
        eventId = EventIds.Derive("submitted", id),
        caseKey = null,
        submittedAt = new DateTime(2026, 1, 5, 9, 0, 0, DateTimeKind.Utc),
        report = new Report
        {
            reportId = id, sourceHotline = "bench-hotline", sourceReference = "ref-" + id, externalIds = new Dictionary<string, string>(),
            receivedAt = new DateTime(2026, 1, 5, 9, 0, 0, DateTimeKind.Utc), reportedAt = null,
            url = url, parentUrl = null, isSourceUrl = true,
            contentType = ContentType.IMAGE, siteType = SiteType.WEBSITE, commercial = false,
            hashes = new ContentHashes { sha256 = Convert.ToHexStringLower(SHA256.HashData(BitConverter.GetBytes(i))) },
            reporterType = ReporterType.CRAWLER, reporterContact = null, assessment = null, hops = [],
        },
    };
}
