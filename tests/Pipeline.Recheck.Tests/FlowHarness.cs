using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Loopback;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.Sla;
using Pipeline.Takedown;
using Pipeline.TestSupport;

namespace Pipeline.Recheck.Tests;

/// <summary>
/// Embedded Kafka + registry, the simulated hosters' web server, a real SMTP server and a webhook receiver on
/// loopback, and the takedown, delivery, recheck and SLA stages in one in-process host — all on one clock that the
/// test drives (<see cref="FakeTimeProvider"/>): the hosters' web server takes URLs offline on that clock, and the
/// stages time their notices, checks and deadlines by it.
/// </summary>
public sealed class FlowHarness : IAsyncDisposable
{
    public const string WebhookSecret = "whsec-flow-test-0123456789";
    public static readonly DateTime T0 = new(2026, 11, 2, 8, 0, 0, DateTimeKind.Utc);
    /// <summary>The recheck's known-online control endpoint, served by the hosters' web server.</summary>
    public const string ControlUrl = "http://control.hotline.example/online";

    private FlowHarness(EmbeddedRuntime runtime, HosterWeb web, LoopbackSmtpServer smtp, LoopbackWebhookReceiver webhook, FakeTimeProvider clock)
    {
        Runtime = runtime;
        Web = web;
        Smtp = smtp;
        Webhook = webhook;
        Clock = clock;
        Clients = PipelineClients.For(runtime, "flow-test");
        Watcher = new TopicWatcher(runtime.BootstrapServers, runtime.SchemaRegistryUrl,
            Topics.NoticesIssued, Topics.NoticeDeliveries, Topics.ContentStatus, Topics.NoticeOutcomes, Topics.SlaEvents, Topics.TakedownRequested);
    }

    public EmbeddedRuntime Runtime { get; }
    public HosterWeb Web { get; }
    public LoopbackSmtpServer Smtp { get; }
    public LoopbackWebhookReceiver Webhook { get; }
    public FakeTimeProvider Clock { get; }
    public PipelineClients Clients { get; }
    public TopicWatcher Watcher { get; }
    public WebApplication? App { get; private set; }
    public RecheckStateStore Schedule => App!.Services.GetRequiredService<RecheckStateStore>();
    /// <summary>The takedown stage's reminder timers; null when only the recheck runs.</summary>
    public ReminderTimers? Timers => App!.Services.GetService<ReminderTimers>();
    private BatchState? Batches => App!.Services.GetService<BatchState>();
    public HeldNotices? Held => App!.Services.GetService<HeldNotices>();
    private DeliveryState? Deliveries => App!.Services.GetService<DeliveryState>();
    private TakedownOptions.ReminderSettings Reminders => App!.Services.GetRequiredService<IOptions<TakedownOptions>>().Value.Reminders;
    private TakedownOptions.EscalationSettings Escalation => App!.Services.GetRequiredService<IOptions<TakedownOptions>>().Value.Escalation;
    public string BaseUrl => App!.Urls.First();
    public DateTime Now => Clock.GetUtcNow().UtcDateTime;

    public static async Task<FlowHarness> StartAsync()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(T0));
        var runtime = await EmbeddedRuntime.StartAsync();
        return new FlowHarness(runtime, await HosterWeb.StartAsync(clock), new LoopbackSmtpServer(), await LoopbackWebhookReceiver.StartAsync(WebhookSecret), clock);
    }

    /// <summary>Starts the stages (all four, or recheck alone) with the hosters' hosts resolved to the simulated web server.</summary>
    public async Task StartStagesAsync(IEnumerable<string> hosts, IDictionary<string, string?>? overrides = null, bool recheckOnly = false)
    {
        started = (hosts.ToList(), overrides, recheckOnly);
        var settings = new Dictionary<string, string?>
        {
            ["Takedown:Deadline"] = "1.00:00:00",
            // Reminders and grouping pinned rather than taken from the defaults (a test whose timeline depends on them states
            // them again in its overrides).
            ["Takedown:Reminders:Interval"] = "1.00:00:00",
            ["Takedown:Reminders:MaxCount"] = "7",
            ["Takedown:Delivery:BatchWindow"] = "00:02:00",
            ["Takedown:SenderOrganisation"] = "Example Hotline (test)",
            ["Takedown:SenderContact"] = "notices@hotline.example",
            ["Takedown:SenderDomain"] = "hotline.example",
            // The timelines of these tests count every mail; ConfirmationTests turn the confirmation of removal on.
            ["Takedown:ConfirmRemoval"] = "false",
            ["Takedown:Delivery:Smtp:Host"] = "127.0.0.1",
            ["Takedown:Delivery:Smtp:Port"] = Smtp.Port.ToString(CultureInfo.InvariantCulture),
            ["Takedown:Delivery:Smtp:Security"] = "None",
            ["Takedown:Delivery:Webhook:Secret"] = WebhookSecret,
            ["Recheck:FirstCheckAfter"] = "00:15:00",
            ["Recheck:Interval"] = "01:00:00",
            ["Recheck:MissSpacing"] = "00:05:00",
            ["Recheck:MissesForRemoval"] = "3",
            ["Recheck:WatchInterval"] = "1.00:00:00",
            ["Recheck:WatchFor"] = "30.00:00:00",
            ["Recheck:HomeHotline"] = "nl-hotline",
            ["Recheck:Controls:0"] = ControlUrl,
            ["Recheck:ControlSpacing"] = "00:00:00",
            [$"Recheck:ResolveOverrides:{new Uri(ControlUrl).Host}"] = Web.Endpoint,
            ["Recheck:PerHostSpacing"] = "00:00:00",
            ["Recheck:ProbeTimeout"] = "00:00:05",
            ["Recheck:Confirmations:Secret"] = WebhookSecret,
            ["Processing:ShutdownTimeoutSeconds"] = "10",
        };
        foreach (var host in hosts) settings[$"Recheck:ResolveOverrides:{host}"] = Web.Endpoint;
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(Runtime.Configuration);
        builder.Configuration.AddInMemoryCollection(settings);
        if (overrides is not null) builder.Configuration.AddInMemoryCollection(overrides);
        builder.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(Clock));
        if (recheckOnly) builder.AddRecheck();
        else builder.AddTakedown().AddNoticeDelivery().AddRecheck().AddSla();
        App = builder.Build().MapHosterConfirmations();
        await App.StartAsync();
        await Watcher.Assigned.WaitAsync(TimeSpan.FromSeconds(30));
        // Every stage assigned and its state restored before the test clock moves: a restarted stage that is still
        // restoring holds no entries, so nothing would be due and the clock would jump past what it should check.
        using var http = new HttpClient();
        string? last = null;
        await Polling.Until(async () =>
        {
            using var response = await http.GetAsync(new Uri(new Uri(BaseUrl), "/health/ready"));
            last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            return response.IsSuccessStatusCode;
        }, TimeSpan.FromSeconds(60), () => $"/health/ready of the restarted stages: {last}");
    }

    private (List<string> Hosts, IDictionary<string, string?>? Overrides, bool RecheckOnly) started;

    /// <summary>Stops the stages (a graceful shutdown, as in a deployment) and starts them again with the same settings:
    /// whatever they knew must come back from their state topics.</summary>
    public async Task RestartStagesAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await App!.StopAsync(cts.Token);
        await App.DisposeAsync();
        App = null;
        await StartStagesAsync(started.Hosts, started.Overrides, started.RecheckOnly);
    }

    /// <summary>Waits until the SLA stage has decided every removal the recheck confirmed for <paramref name="noticeIds"/>,
    /// as it would long before the next check in real life; otherwise a fast-moving test clock could pass a deadline
    /// while the SLA consumer is still catching up.</summary>
    public Task SlaCaughtUpAsync(IEnumerable<string> noticeIds)
    {
        var sla = App!.Services.GetRequiredService<SlaState>();
        bool Decided(string id) => Schedule.Find(id) is not { removedAt: not null } removed
            || (sla.Open.TryFind(removed.caseKey, out var open, out _) && (open.noticeId != id || open.timeline.removalObservedAt is not null));
        var ids = noticeIds.ToList();
        return Until(() => ids.All(Decided), TimeSpan.FromSeconds(30), () => $"the SLA has not decided the removals of {string.Join(", ", ids.Where(id => !Decided(id)))}");
    }

    /// <summary>The next time anything is due on the stage clock: a check, a reminder, a batch closing, a delivery retry, a
    /// deadline to escalate.</summary>
    public DateTime? NextDue => new[] { Schedule.NextDue, ReminderDue, BatchDue, RetryDue, EscalationDue, WindowDue }.Min();

    /// <summary>The next notice held for its recipient's send window to open.</summary>
    private DateTime? WindowDue => Held?.State.Entries.Where(e => e.Value.releasedAt is null && e.Value.heldFor == HeldFor.SEND_WINDOW)
        .Select(e => e.Value.sendAt).Min();

    /// <summary>A notice the takedown stage holds (not approved, police consent, send window) and has not released.</summary>
    public bool IsHeld(string noticeId) => Held?.State.TryFind(noticeId, out var h, out _) == true && h.releasedAt is null;

    /// <summary>The sla stage's next deadline timer (an open notice's deadline, or the end of a wait for a removal being
    /// confirmed); the stage takes every due one off the queue on its next turn.</summary>
    private DateTime? EscalationDue => App!.Services.GetService<SlaState>()?.Open.NextDue;

    /// <summary>The takedown stage's next reminder or escalation step.</summary>
    private DateTime? ReminderDue => Timers?.State.Entries.Select(e => new[] { ReminderSchedule.NextDue(e.Value, Reminders), Escalations.NextDue(e.Value, Escalation) }.Min()).Min();

    // Min over nullable values: null when nothing waits. A missing close or retry time means "due now".
    private DateTime? BatchDue => Batches?.Waiting().Select(g => (DateTime?)(g.Key.Due ?? DateTime.MinValue)).Min();

    private DateTime? RetryDue => Deliveries?.State.Entries.Where(e => e.Value.status == DeliveryStatus.RETRYING && e.Value.notice is not null)
        .Select(e => (DateTime?)(e.Value.nextAttemptAt ?? DateTime.MinValue)).Min();

    /// <summary>The delivery side has taken the notice: it waits in a batch, or its delivery is recorded.</summary>
    public bool Delivering(string noticeId) =>
        (Batches?.State.TryFind(noticeId, out _, out _) ?? false) || (Deliveries?.State.TryFind(noticeId, out _, out _) ?? false);

    /// <summary>Notices the takedown stage holds a timer for (its first notices and reminders) that the delivery side has
    /// not taken yet, and timers still running for a notice whose removal the recheck confirmed.</summary>
    private List<string> TakedownBehind()
    {
        if (Timers is not { } timers) return [];
        var behind = new List<string>();
        foreach (var (caseKey, latest) in timers.State.Entries)
        {
            if (!latest.policeHold && !IsHeld(latest.noticeId) && !Delivering(latest.noticeId)) behind.Add($"{latest.kind} {latest.noticeId} of {caseKey} not taken by delivery");
            if (latest.timeline.removalObservedAt is null && Schedule.Find(ReminderSchedule.FirstNoticeId(latest)) is { removedAt: not null })
                behind.Add($"the reminder timer of {caseKey} not yet stopped by its confirmed removal");
        }
        return behind;
    }

    /// <summary>Waits until everything due at the current time has happened: every due check has run and its outcome is
    /// published, every due reminder is issued and taken by the delivery side, every due batch or retry is delivered and
    /// recorded, every deadline passed is escalated, and every confirmed removal has stopped its reminder timer. In real
    /// life each of these takes milliseconds; the test's clock must not jump hours ahead of them.</summary>
    public Task SettleAsync() => Until(() => Schedule.Checking == 0 && !(NextDue <= Now) && TakedownBehind().Count == 0, TimeSpan.FromSeconds(30),
        () => $"still busy at {Now:O}: {Schedule.Checking} checks in flight, next check {Schedule.NextDue:O}, reminder {ReminderDue:O}, batch {BatchDue:O}, "
              + $"retry {RetryDue:O}, escalation {EscalationDue:O}; {string.Join("; ", TakedownBehind())}");

    /// <summary>Moves the clock to <paramref name="at"/> (never backwards) and lets everything then due happen.</summary>
    public async Task AdvanceToAsync(DateTime at)
    {
        if (at > Now) Clock.SetUtcNow(new DateTimeOffset(at));
        await SettleAsync();
    }

    /// <summary>Steps the clock from one due time (<see cref="NextDue"/>) to the next until <paramref name="end"/>; <paramref name="events"/>
    /// are scripted actions (a hoster confirming) run when the clock reaches their time, and <paramref name="afterStep"/>
    /// runs after every step (e.g. to wait for a notice a step caused before time moves on).</summary>
    public async Task RunUntilAsync(DateTime end, IReadOnlyList<(DateTime At, Func<Task> Act)> events, Func<Task> afterStep)
    {
        var pending = events.OrderBy(e => e.At).ToList();
        while (true)
        {
            await SettleAsync();
            var next = NextDue ?? end;
            if (pending.Count > 0 && pending[0].At < next) next = pending[0].At;
            if (next > end) break;
            await AdvanceToAsync(next);
            while (pending.Count > 0 && pending[0].At <= Now)
            {
                await pending[0].Act();
                pending.RemoveAt(0);
                await SettleAsync();
            }
            await afterStep();
            if (Now >= end) break;
        }
        await AdvanceToAsync(end);
    }

    public static Task Until(Func<bool> condition, TimeSpan timeout, Func<string> describe) =>
        Polling.Until(condition, timeout, describe, TimeSpan.FromMilliseconds(5)); // settles after every clock step: look often

    public async ValueTask DisposeAsync()
    {
        if (App is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try { await App.StopAsync(cts.Token); } catch (OperationCanceledException) { }
            await App.DisposeAsync();
        }
        Watcher.Dispose();
        Clients.Dispose();
        await Webhook.DisposeAsync();
        await Smtp.DisposeAsync();
        await Web.DisposeAsync();
        await Runtime.DisposeAsync();
    }
}
