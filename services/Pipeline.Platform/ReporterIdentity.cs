using Pipeline.Contracts;

namespace Pipeline.Platform;

/// <summary>The reporter's identity stays at the home hotline: what strips it, for every stage that hands a report on.</summary>
public static class ReporterIdentity
{
    /// <summary>A copy of the report without the reporter's contact (name, e-mail, phone).</summary>
    public static Report WithoutReporter(Report r) => new()
    {
        reportId = r.reportId, sourceHotline = r.sourceHotline, sourceReference = r.sourceReference,
        externalIds = new Dictionary<string, string>(r.externalIds), receivedAt = r.receivedAt, reportedAt = r.reportedAt,
        url = r.url, parentUrl = r.parentUrl, isSourceUrl = r.isSourceUrl, contentType = r.contentType, siteType = r.siteType,
        commercial = r.commercial, hashes = r.hashes, reporterType = r.reporterType, reporterContact = null,
        assessment = r.assessment, hops = [.. r.hops],
    };
}
