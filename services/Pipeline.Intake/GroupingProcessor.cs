using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Intake;

/// <summary>
/// Step 2 of intake (stage <c>intake-grouping</c>): groups reports into cases. Its input, intake.grouping, is keyed
/// by case key, and its state, intake.cases, is co-partitioned with it, so exactly one instance changes a case.
/// <list type="bullet">
/// <item>The first report of a URL opens a case: ReportAccepted, the one downstream flow.</item>
/// <item>Later reports of an open case are recorded on it (count, sources, first/last seen): ReportGrouped on
/// reports.grouped, and no second downstream flow.</item>
/// <item>A report at a new URL whose exact content hash (sha256, sha1, md5) an open case already holds is redirected
/// to that case (re-keyed onto intake.grouping), and its URL becomes an ALIAS of the case. If the case closed
/// meanwhile, the report comes back and opens its own case.</item>
/// <item>A removal outcome closes the case; a later report of it (or of its content at a new URL) opens it again
/// as a re-upload, with a new downstream flow.</item>
/// </list>
/// Replays are recognised by report id and answered with the same event (same eventId) as the first time, because
/// after a crash only some outputs of a message may have reached Kafka.
/// </summary>
public sealed class GroupingProcessor : IProcessor<CaseCommand>, IStateful, IWarmUp, IBackgroundDependent, IDisposable
{
    public const int MaxRememberedReportIds = 10_000;

    public static readonly Counter Outcomes = Metrics.CreateCounter(
        "pipeline_intake_grouping_total", "Reports handled by intake's case grouping, by outcome (opened, reopened, joined, redirected, returned, replayed).",
        new CounterConfiguration { LabelNames = ["outcome"] });
    public static readonly Counter Closures = Metrics.CreateCounter(
        "pipeline_intake_cases_closed_total", "Cases closed because a notice outcome confirmed the content's removal.");

    private readonly PartitionedState<CaseState> state;
    private readonly KafkaOptions kafka;
    private readonly AvroSerdes serdes;
    private readonly ILogger<GroupingProcessor> log;
    private readonly TimeProvider time;
    private readonly bool byHash;
    private CompactedTopicReader<CaseState>? follower;

    public GroupingProcessor(IOptions<KafkaOptions> kafka, IOptions<IntakeOptions> intake, IOptions<RetentionOptions> retention, AvroSerdes serdes, TimeProvider time, ILogger<GroupingProcessor> log)
    {
        this.kafka = kafka.Value;
        byHash = !string.Equals(intake.Value.GroupByContentHash, "Off", StringComparison.OrdinalIgnoreCase);
        Index = new CaseIndex(sameHostOnly: !string.Equals(intake.Value.GroupByContentHash, "Anywhere", StringComparison.OrdinalIgnoreCase));
        this.serdes = serdes;
        this.time = time;
        this.log = log;
        // A closed case (and an alias) is kept to group later reports and count episodes, until Retention:ClosedCaseAfter
        // after its removal (last change); then it is deleted and a new report of the URL opens a new case.
        state = new PartitionedState<CaseState>(Topics.IntakeCases, this.kafka, serdes, log).ExpiresAt(s => retention.Value.Expiry(RetentionRules.Finished(s)));
    }

    public CaseIndex Index { get; }

    public PartitionedState<CaseState> State => state;

    /// <summary>The case index's follower: if it dies, the index goes stale, so the stage stops being ready.</summary>
    public IEnumerable<BackgroundWork> BackgroundWork => follower is null ? [] : [follower.AsBackgroundWork()];

    /// <summary>Reads all of intake.cases into the index before the first report is grouped, then keeps following it.</summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        follower = new CompactedTopicReader<CaseState>(kafka, serdes, Topics.IntakeCases, (key, value, _) => Index.Apply(key, value), log);
        follower.Start();
        await follower.CaughtUp.WaitAsync(TimeSpan.FromSeconds(120), cancellationToken);
        log.LogInformation("intake-grouping: case index holds {Cases} cases", Index.Cases);
    }

    public ValueTask ProcessAsync(Incoming<CaseCommand> message, IOutput output, CancellationToken cancellationToken)
    {
        var command = message.Value;
        if (command.kind == CaseCommandKind.CLOSE) Close(command, message.Partition, output);
        else Group(command, message.Partition, output);
        return ValueTask.CompletedTask;
    }

    private void Group(CaseCommand command, int partition, IOutput output)
    {
        var report = command.report ?? throw new InvalidDataException($"CaseCommand {command.eventId} of kind REPORT carries no report.");
        var urlKey = command.urlKey ?? throw new InvalidDataException($"CaseCommand {command.eventId} of kind REPORT has no urlKey.");
        state.TryGet(partition, command.caseKey, out var current);

        if (command.caseKey != urlKey)
        {
            // Redirected here by a content-hash match: join if still open, else send it back to its own URL.
            if (current is { status: CaseStatus.OPEN }) Join(current, command, command.matchedBy ?? "hash", partition, output);
            else Return(command, output);
            return;
        }

        if (current is { status: CaseStatus.ALIAS })
        {
            // A command sent back by a case that closed meanwhile (allowRedirect false) is never redirected again, even
            // though the alias lists its report: that would send it back and forth between the two for ever.
            if (command.allowRedirect && (current.reportIds.Contains(report.reportId) || Index.StatusOf(current.aliasOf!) == CaseStatus.OPEN))
            {
                Redirect(command, current.aliasOf!, "alias", partition, output, writeAlias: false);
                return;
            }
            current = null; // the case it pointed to is gone or closed: this URL gets its own case
        }
        switch (current?.status)
        {
            case CaseStatus.OPEN:
                Join(current!, command, "url", partition, output);
                return;
            case CaseStatus.CLOSED_REMOVED:
                Open(command, partition, output, previous: current, previousCaseKey: null);
                return;
        }
        var match = byHash ? Index.Find(report.hashes, except: urlKey) : null;
        if (match is { Status: CaseStatus.OPEN } && command.allowRedirect)
        {
            Redirect(command, match.CaseKey, match.Algorithm, partition, output, writeAlias: true);
            return;
        }
        Open(command, partition, output, previous: null, previousCaseKey: match is { Status: CaseStatus.CLOSED_REMOVED } ? match.CaseKey : null);
    }

    private void Open(CaseCommand command, int partition, IOutput output, CaseState? previous, string? previousCaseKey)
    {
        var report = command.report!;
        var now = Now;
        var reupload = previous is not null || previousCaseKey is not null;
        var acceptedId = EventIds.Derive("accepted", command.submittedEventId);
        var s = previous ?? new CaseState
        {
            caseKey = command.caseKey,
            aliasOf = null,
            firstOpenedAt = now,
            firstSeenAt = report.receivedAt,
            lastSeenAt = report.receivedAt,
            reportCount = 0,
            episode = -1,
            reportIds = [],
            sources = [],
            hashes = [],
            previousCaseKey = previousCaseKey,
        };
        s.eventId = EventIds.Derive("case-state", command.caseKey, command.eventId);
        s.status = CaseStatus.OPEN;
        s.host = command.host ?? "";
        s.openedAt = now;
        s.episode++;
        s.reupload = reupload;
        s.openingReportId = report.reportId;
        s.acceptedEventId = acceptedId;
        s.closedAt = null;
        s.closedByNoticeId = null;
        s.userinfoRemoved |= command.userinfoRemoved;
        Record(s, command);
        Put(partition, s, output);
        output.Send(Topics.ReportsAccepted, s.caseKey, Accepted(s, command));
        Outcomes.WithLabels(reupload ? "reopened" : "opened").Inc();
    }

    private void Join(CaseState s, CaseCommand command, string matchedBy, int partition, IOutput output)
    {
        var report = command.report!;
        if (s.reportIds.Contains(report.reportId))
        {
            // Seen before: a replay after a crash, or a hotline sending the same report twice. Same answer, same id.
            if (report.reportId == s.openingReportId) output.Send(Topics.ReportsAccepted, s.caseKey, Accepted(s, command));
            else output.Send(Topics.ReportsGrouped, s.caseKey, Grouped(s, command, matchedBy));
            Outcomes.WithLabels("replayed").Inc();
            return;
        }
        s.eventId = EventIds.Derive("case-state", s.caseKey, command.eventId);
        s.userinfoRemoved |= command.userinfoRemoved;
        Record(s, command);
        Put(partition, s, output);
        output.Send(Topics.ReportsGrouped, s.caseKey, Grouped(s, command, matchedBy));
        Outcomes.WithLabels("joined").Inc();
    }

    private void Redirect(CaseCommand command, string target, string matchedBy, int partition, IOutput output, bool writeAlias)
    {
        if (writeAlias)
        {
            var alias = new CaseState
            {
                eventId = EventIds.Derive("case-state", command.caseKey, command.eventId),
                caseKey = command.caseKey,
                status = CaseStatus.ALIAS,
                aliasOf = target,
                host = command.host ?? "",
                openedAt = Now,
                firstOpenedAt = Now,
                firstSeenAt = command.report!.reportedAt ?? command.report.receivedAt,
                lastSeenAt = command.report.receivedAt,
                reportCount = 0,
                episode = 0,
                reupload = false,
                openingReportId = "",
                acceptedEventId = "",
                reportIds = [command.report.reportId],
                sources = [],
                hashes = [],
                userinfoRemoved = command.userinfoRemoved,
                previousCaseKey = null,
                closedAt = null,
                closedByNoticeId = null,
                updatedAt = Now,
            };
            alias.firstSeenAt = command.report.receivedAt;
            Put(partition, alias, output);
        }
        output.Send(Topics.IntakeGrouping, target, Hop(command, target, matchedBy, allowRedirect: true, "redirect"));
        Outcomes.WithLabels("redirected").Inc();
    }

    private void Return(CaseCommand command, IOutput output)
    {
        output.Send(Topics.IntakeGrouping, command.urlKey!, Hop(command, command.urlKey!, null, allowRedirect: false, "return"));
        Outcomes.WithLabels("returned").Inc();
    }

    private CaseCommand Hop(CaseCommand command, string target, string? matchedBy, bool allowRedirect, string kind) => new()
    {
        eventId = EventIds.Derive("case-" + kind, command.eventId, target),
        caseKey = target,
        kind = CaseCommandKind.REPORT,
        submittedEventId = command.submittedEventId,
        report = command.report,
        urlKey = command.urlKey,
        host = command.host,
        userinfoRemoved = command.userinfoRemoved,
        matchedBy = matchedBy,
        allowRedirect = allowRedirect,
        noticeId = null,
        removedAt = null,
        issuedAt = Now,
    };

    private void Close(CaseCommand command, int partition, IOutput output)
    {
        var removedAt = command.removedAt ?? Now;
        state.TryGet(partition, command.caseKey, out var s);
        switch (s?.status)
        {
            case CaseStatus.CLOSED_REMOVED:
            case CaseStatus.ALIAS:
                return; // already closed (a replay), or not a case of its own
            case CaseStatus.OPEN when removedAt < s.openedAt:
                log.LogInformation("intake-grouping: outcome {Notice} (removed {RemovedAt:O}) predates the reopening of {Case} at {OpenedAt:O}; the case stays open",
                    command.noticeId, removedAt, command.caseKey, s.openedAt);
                return;
        }
        s ??= new CaseState
        {
            // A removal of a case intake has no record of (opened before this state existed): remember it, so that
            // a new report of the URL is recognised as a re-upload.
            caseKey = command.caseKey,
            aliasOf = null,
            host = "",
            openedAt = removedAt,
            firstOpenedAt = removedAt,
            firstSeenAt = removedAt,
            lastSeenAt = removedAt,
            reportCount = 0,
            episode = 0,
            reupload = false,
            openingReportId = "",
            acceptedEventId = "",
            reportIds = [],
            sources = [],
            hashes = [],
            userinfoRemoved = false,
            previousCaseKey = null,
        };
        s.eventId = EventIds.Derive("case-state", command.caseKey, command.eventId);
        s.status = CaseStatus.CLOSED_REMOVED;
        s.closedAt = removedAt;
        s.closedByNoticeId = command.noticeId;
        s.updatedAt = Now;
        Put(partition, s, output);
        Closures.Inc();
    }

    private void Record(CaseState s, CaseCommand command)
    {
        var report = command.report!;
        s.reportCount++;
        s.reportIds.Add(report.reportId);
        while (s.reportIds.Count > MaxRememberedReportIds) s.reportIds.RemoveAt(0);
        if (!s.sources.Contains(report.sourceHotline)) s.sources.Add(report.sourceHotline);
        foreach (var (algorithm, value) in CaseIndex.Keys(report.hashes))
        {
            var key = CaseIndex.HashKey(algorithm, value);
            if (!s.hashes.Contains(key)) s.hashes.Add(key);
        }
        if (report.receivedAt < s.firstSeenAt) s.firstSeenAt = report.receivedAt;
        if (report.receivedAt > s.lastSeenAt) s.lastSeenAt = report.receivedAt;
        s.updatedAt = Now;
    }

    private void Put(int partition, CaseState s, IOutput output)
    {
        state.Put(output, partition, s.caseKey, s);
        Index.Apply(s.caseKey, s);
    }

    private static ReportAccepted Accepted(CaseState s, CaseCommand command) => new()
    {
        eventId = s.acceptedEventId,
        caseKey = s.caseKey,
        report = command.report,
        caseInfo = new CaseInfo
        {
            normalizedUrl = s.caseKey,
            host = s.host,
            caseOpenedAt = s.openedAt,
            reportCount = s.reportCount,
            reupload = s.reupload,
            episode = s.episode,
            userinfoRemoved = s.userinfoRemoved,
        },
        acceptedAt = s.updatedAt,
    };

    private ReportGrouped Grouped(CaseState s, CaseCommand command, string matchedBy) => new()
    {
        eventId = EventIds.Derive("grouped", s.caseKey, command.report!.reportId),
        caseKey = s.caseKey,
        reportId = command.report.reportId,
        sourceHotline = command.report.sourceHotline,
        sourceReference = command.report.sourceReference,
        reportUrl = command.urlKey!,
        matchedBy = matchedBy,
        reportCount = s.reportCount,
        caseOpenedAt = s.openedAt,
        report = command.report,
        groupedAt = Now,
    };

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>The case states, restored and dropped with the input partitions by the host, which also fires their
    /// expiry (<see cref="RetentionOptions.ClosedCaseAfter"/>).</summary>
    public IEnumerable<IStateStore> Stores => [state];

    public void Dispose() => follower?.Dispose();
}
