using Avro.Specific;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Operations.Tests;

/// <summary>
/// A small known history for the transparency report, in Q1 2026 (from 2026-01-01, to 2026-03-31 included), whose figures
/// are computed by hand in <see cref="TransparencyFiguresTests"/>. Ten reports, r1…r10 (r10 arrives before the period):
/// <list type="bullet">
/// <item>r1 KNOWN, NL, NL Host: notice, removed 2 h after it (3 h after the report), within the deadline;</item>
/// <item>r2 KNOWN, NL, NL Host: notice, a reminder, removed after 30 h (32 h);</item>
/// <item>r3 NEW, DE: forwarded to de-hotline;</item>
/// <item>r4 NEEDS_ASSESSMENT, then an analyst's NEW, NL, NL Slow: police referral, notice, two reminders, deadline
///   breached and escalated, removed after 80 h (90 h);</item>
/// <item>r5 NOT_ILLEGAL, NL; r6 joins an open case, KNOWN, NL, NL Host: notice, removed after 10 h (12 h), within the deadline;</item>
/// <item>r7 and r8 rejected (URL_UNPARSABLE, MISSING_FIELD); r9 received from the partner de-hotline, waits for an analyst;</item>
/// <item>bytes that were never a report, dead-lettered by intake in March (rejected as UNREADABLE); a notice issued after the period;</item>
/// <item>replays: r1's submission and r1's outcome twice (same event ids).</item>
/// </list>
/// Documentation addresses and ASNs, .test hosts, random hashes; a reporter contact on every report (never printed).
/// </summary>
internal sealed class TransparencyTestHistory
{
    public static readonly DateTime From = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    public static readonly DateTime To = new(2026, 4, 1, 0, 0, 0, DateTimeKind.Utc);

    private readonly TraceHistory template;
    private readonly string run;

    public TransparencyTestHistory(string run)
    {
        this.run = run;
        template = new TraceHistory(run, From);
    }

    public string Url(string reportId) => $"http://files.{Host(reportId)}/{run}/{reportId}.jpg";

    private static string Host(string reportId) => reportId switch { "r3" => "de-host.test", "r4" => "nl-slow.test", _ => "nl-host.test" };

    /// <summary>Every event as (topic, key, event), in no particular order.</summary>
    public List<(string Topic, string Key, ISpecificRecord Value)> Events()
    {
        var jan = new DateTime(2026, 1, 10, 8, 0, 0, DateTimeKind.Utc);
        var feb = new DateTime(2026, 2, 10, 8, 0, 0, DateTimeKind.Utc);
        var events = new List<(string, string, ISpecificRecord)>();
        void Add(string topic, string key, ISpecificRecord value) => events.Add((topic, key, value));

        var received = new Dictionary<string, DateTime>
        {
            ["r1"] = jan, ["r2"] = jan.AddHours(1), ["r3"] = jan.AddHours(2), ["r4"] = jan.AddHours(3), ["r5"] = jan.AddHours(4),
            ["r6"] = feb, ["r7"] = feb.AddHours(1), ["r8"] = feb.AddHours(2), ["r9"] = feb.AddHours(3), ["r10"] = new DateTime(2025, 12, 31, 23, 0, 0, DateTimeKind.Utc),
        };
        foreach (var (id, at) in received)
        {
            var report = Report(id, at);
            if (id == "r9") report.hops = ["de-hotline"];
            Add(Topics.ReportsSubmitted, id, new ReportSubmitted { eventId = "submitted-" + id, report = report, submittedAt = at });
        }
        Add(Topics.ReportsSubmitted, "r1", new ReportSubmitted { eventId = "submitted-r1", report = Report("r1", jan), submittedAt = jan }); // a replay

        Add(Topics.ReportsRejected, "r7", Rejected("r7", "URL_UNPARSABLE", feb.AddHours(1).AddSeconds(1)));
        Add(Topics.ReportsRejected, "r8", Rejected("r8", "MISSING_FIELD", feb.AddHours(2).AddSeconds(1)));
        Add(Topics.DeadLetter("intake"), "junk", new DeadLetter
        {
            eventId = "dead-letter-junk", stage = "intake", reason = "not Avro", errorType = typeof(UndeserialisableException).FullName!, originTopic = Topics.ReportsSubmitted,
            originPartition = 0, originOffset = 7, key = [1], value = [0, 1, 2], attempts = 1, failedAt = new DateTime(2026, 3, 5, 0, 0, 0, DateTimeKind.Utc),
        });

        foreach (var id in new[] { "r1", "r2", "r3", "r4", "r5", "r9", "r10" })
            Add(Topics.ReportsAccepted, Url(id), new ReportAccepted { eventId = "accepted-" + id, caseKey = Url(id), report = Report(id, received[id]), caseInfo = CaseInfo(id), acceptedAt = received[id].AddSeconds(2) });
        Add(Topics.ReportsGrouped, Url("r6"), new ReportGrouped
        {
            eventId = "grouped-r6", caseKey = Url("r6"), reportId = "r6", sourceHotline = "nl-hotline", sourceReference = "REF-r6", reportUrl = Url("r6"), matchedBy = "url",
            reportCount = 2, caseOpenedAt = jan, report = Report("r6", feb), groupedAt = feb.AddSeconds(2),
        });

        Add(Topics.ReportsClassified, Url("r1"), Classified("r1", Verdict.KNOWN, received["r1"]));
        Add(Topics.ReportsClassified, Url("r2"), Classified("r2", Verdict.KNOWN, received["r2"]));
        Add(Topics.ReportsClassified, Url("r3"), Classified("r3", Verdict.NEW, received["r3"]));
        Add(Topics.ReportsClassified, Url("r4"), Classified("r4", Verdict.NEEDS_ASSESSMENT, received["r4"]));
        Add(Topics.ReportsClassified, Url("r4"), Classified("r4", Verdict.NEW, received["r4"], analyst: true));
        Add(Topics.ReportsClassified, Url("r5"), Classified("r5", Verdict.NOT_ILLEGAL, received["r5"]));
        Add(Topics.ReportsClassified, Url("r6"), Classified("r6", Verdict.KNOWN, received["r6"]));
        Add(Topics.ReportsClassified, Url("r9"), Classified("r9", Verdict.NEEDS_ASSESSMENT, received["r9"]));
        Add(Topics.ReportsClassified, Url("r10"), Classified("r10", Verdict.KNOWN, received["r10"].AddMinutes(10))); // still December
        Add(Topics.ReportsAssessed, Url("r4"), new ReportAssessed
        {
            eventId = "assessed-r4", caseKey = Url("r4"), reportId = "r4", note = null,
            assessment = new Assessment { classification = Pipeline.Contracts.Classification.BASELINE, ageGroup = AgeGroup.PREPUBESCENT, gender = Gender.NOT_DETERMINED, analyst = "analyst-1", assessedAt = received["r4"].AddHours(1) },
        });

        var r4 = Classified("r4", Verdict.NEW, received["r4"], analyst: true);
        Add(Topics.PoliceReferrals, Url("r4"), new PoliceReferral
        {
            eventId = "referral-r4", referralId = "referral-r4", caseKey = Url("r4"), report = r4.report, caseInfo = r4.caseInfo, hosting = r4.hosting, verdict = Verdict.NEW,
            matches = [], assessment = r4.assessment, rule = "home+new→police-first", timeline = new Timeline { receivedAt = received["r4"] }, referredAt = received["r4"].AddHours(1.1),
        });
        var r3 = Classified("r3", Verdict.NEW, received["r3"]);
        Add(Topics.ExchangeOutbound, "de-hotline", new ReportForwarded
        {
            eventId = "forwarded-r3", caseKey = Url("r3"), partnerHotline = "de-hotline", partnerCountry = "DE", report = r3.report, caseInfo = r3.caseInfo, hosting = r3.hosting,
            verdict = Verdict.NEW, matches = [], assessment = r3.assessment, rule = "partner-country→forward", timeline = new Timeline { receivedAt = received["r3"] }, forwardedAt = received["r3"].AddMinutes(1),
        });

        // Notices: first notice an hour after the report (r4: after the police released it, 10 h after).
        var noticed = new Dictionary<string, DateTime> { ["r1"] = jan.AddHours(1), ["r2"] = jan.AddHours(3), ["r4"] = jan.AddHours(13), ["r6"] = feb.AddHours(2) };
        foreach (var (id, at) in noticed)
        {
            var c = Classified(id, Verdict.KNOWN, received[id]);
            Add(Topics.TakedownRequested, Url(id), new TakedownRequested
            {
                eventId = "takedown-" + id, caseKey = Url(id), report = c.report, caseInfo = c.caseInfo, hosting = c.hosting, verdict = c.verdict, matches = [], assessment = c.assessment,
                rule = "home+known→takedown", policeHold = false, timeline = new Timeline { receivedAt = received[id] }, requestedAt = at.AddMinutes(-1),
            });
            Add(Topics.NoticesIssued, Url(id), Notice(id, "notice-" + id, at, 0, received[id]));
        }
        Add(Topics.NoticesIssued, Url("r2"), Notice("r2", "reminder-r2-1", noticed["r2"].AddHours(24), 1, received["r2"]));
        Add(Topics.NoticesIssued, Url("r4"), Notice("r4", "reminder-r4-1", noticed["r4"].AddHours(24), 1, received["r4"]));
        Add(Topics.NoticesIssued, Url("r4"), Notice("r4", "reminder-r4-2", noticed["r4"].AddHours(48), 2, received["r4"]));
        Add(Topics.NoticesIssued, Url("r5"), Notice("r5", "notice-late", new DateTime(2026, 4, 2, 0, 0, 0, DateTimeKind.Utc), 0, received["r5"])); // after the period
        Add(Topics.SlaEvents, Url("r4"), Sla("r4", SlaEventKind.DEADLINE_BREACHED, noticed["r4"].AddHours(24)));
        Add(Topics.SlaEvents, Url("r4"), Sla("r4", SlaEventKind.ESCALATED, noticed["r4"].AddHours(24)));
        Add(Topics.SlaEvents, Url("r2"), Sla("r2", SlaEventKind.REMINDER_SENT, noticed["r2"].AddHours(24)));

        var removedAfter = new Dictionary<string, double> { ["r1"] = 2, ["r2"] = 30, ["r4"] = 80, ["r6"] = 10 };
        foreach (var (id, hours) in removedAfter)
        {
            var removedAt = noticed[id].AddHours(hours);
            var outcome = new NoticeOutcome
            {
                eventId = "outcome-" + id, caseKey = Url(id), noticeId = "notice-" + id, hosterId = HosterId(id), hosterName = HosterName(id), country = Country(id),
                timeline = new Timeline { receivedAt = received[id], noticeSentAt = noticed[id], removalObservedAt = removedAt }, removedAt = removedAt,
                timeToRemovalFromNoticeMs = (long)(removedAt - noticed[id]).TotalMilliseconds, timeToRemovalFromReportMs = (long)(removedAt - received[id]).TotalMilliseconds,
                deadline = noticed[id].AddHours(24), withinNorm = hours <= 24, verification = "recheck", decidedAt = removedAt.AddMinutes(10),
            };
            Add(Topics.NoticeOutcomes, Url(id), outcome);
            if (id == "r1") Add(Topics.NoticeOutcomes, Url(id), outcome); // a replay
        }
        return events;
    }

    private static string HosterId(string id) => id switch { "r3" => "de-host", "r4" => "nl-slow", _ => "nl-host" };
    private static string HosterName(string id) => id switch { "r3" => "DE Host", "r4" => "NL Slow", _ => "NL Host" };
    private static string Country(string id) => id == "r3" ? "DE" : "NL";

    private Report Report(string id, DateTime at)
    {
        var report = template.Report(id, Url(id));
        report.receivedAt = at;
        report.reportedAt = at;
        return report;
    }

    private CaseInfo CaseInfo(string id)
    {
        var info = template.CaseInfo();
        info.normalizedUrl = Url(id);
        info.host = "files." + Host(id);
        return info;
    }

    private HostingInfo Hosting(string id)
    {
        var hosting = template.Hosting();
        hosting.country = Country(id);
        hosting.hosterId = HosterId(id);
        hosting.hosterName = HosterName(id);
        hosting.ips = [id == "r3" ? "198.51.100.7" : "192.0.2.10"];
        hosting.asn = id == "r3" ? 64500 : 64496;
        return hosting;
    }

    private ReportClassified Classified(string id, Verdict verdict, DateTime received, bool analyst = false) => new()
    {
        eventId = $"classified-{id}{(analyst ? "-analyst" : "")}", caseKey = Url(id), report = Report(id, received), caseInfo = CaseInfo(id), hosting = Hosting(id), verdict = verdict,
        matches = [], assessment = null, classifiedAt = received.AddMinutes(analyst ? 61 : 1),
    };

    private static ReportRejected Rejected(string id, string reason, DateTime at) => new()
    {
        eventId = "rejected-" + id, caseKey = null, reportId = id, sourceHotline = "nl-hotline", sourceReference = null, reasonCode = reason,
        message = "rejected: " + reason, originalPayload = [1, 2, 3], originTopic = Topics.ReportsSubmitted, originPartition = 0, originOffset = 0, rejectedAt = at,
    };

    private TakedownNotice Notice(string id, string noticeId, DateTime at, int sequence, DateTime received)
    {
        var notice = template.Notice(noticeId, id, at, sequence);
        notice.eventId = "issued-" + noticeId;
        notice.caseKey = Url(id);
        notice.url = Url(id);
        notice.hosterId = HosterId(id);
        notice.hosterName = HosterName(id);
        notice.country = Country(id);
        notice.deadline = at.AddHours(24);
        notice.originalNoticeId = sequence == 0 ? null : "notice-" + id;
        notice.timeline = new Timeline { receivedAt = received };
        return notice;
    }

    private SlaEvent Sla(string id, SlaEventKind kind, DateTime at) => new()
    {
        eventId = $"sla-{kind}-{id}", caseKey = Url(id), noticeId = "notice-" + id, hosterId = HosterId(id), kind = kind, deadline = at, occurredAt = at,
    };
}
