using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Loopback;
using Pipeline.Platform;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>
/// Issue 12, false removals: the recheck tells "gone" from "we could not look". The hotline's own uplink (a relay on
/// loopback between the recheck and every server it checks, the control endpoint included) is cut for 30 minutes of the
/// test clock while two URLs are watched; one of them is really removed during the outage.
/// </summary>
public class NetworkOutageTests
{
    private static readonly TimeSpan M = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task A_30_minute_outage_of_the_hotlines_own_network_marks_nothing_removed_and_a_removal_during_it_is_measured_once_it_is_back()
    {
        await using var h = await StartAsync();
        await using var uplink = LoopbackUplink.Start(h.Web.Endpoint);
        var steady = new Hosters.Hoster("steady-host", "www.steady-host.example", "192.0.2.61", 64507, NoticeChannel.EMAIL, "abuse@steady-host.example");
        var removing = new Hosters.Hoster("removing-host", "www.removing-host.example", "198.51.100.62", 64508, NoticeChannel.EMAIL, "abuse@removing-host.example");
        var stays = steady.Url("o/1.jpg");
        var goes = removing.Url("o/2.jpg");
        h.Web.RemoveAt(goes, T0 + 80 * M); // removed by its hoster while the hotline cannot look
        // Everything the recheck reaches goes through the uplink: both hosters and the control endpoint.
        await h.StartStagesAsync([steady.Host, removing.Host], new Dictionary<string, string?>
        {
            [$"Recheck:ResolveOverrides:{steady.Host}"] = uplink.Endpoint,
            [$"Recheck:ResolveOverrides:{removing.Host}"] = uplink.Endpoint,
            [$"Recheck:ResolveOverrides:{new Uri(ControlUrl).Host}"] = uplink.Endpoint,
        }, recheckOnly: true);
        var notices = new[] { Hosters.Notice(steady, stays), Hosters.Notice(removing, goes) };
        foreach (var n in notices) await h.Clients.Publisher.PublishAsync(Topics.NoticesIssued, n.caseKey, n);
        await Until(() => notices.All(n => h.Schedule.Find(n.noticeId) is not null), TimeSpan.FromSeconds(30), () => "both notices scheduled");
        var controls = h.App!.Services.GetRequiredService<NetworkControls>();

        await h.RunUntilAsync(T0 + 70 * M, [], () => Task.CompletedTask); // 0:15 both online
        uplink.Down();                                                      // 1:10 – 1:40: the hotline's network is down
        await h.RunUntilAsync(T0 + 100 * M, [], () => Task.CompletedTask); // 1:15 blind, then every 5 minutes up to 1:40
        Assert.True(controls.Down, "the last control round failed");
        await Until(() => Observed(h).Count(o => o.observedAt >= T0 + 70 * M) >= 12, TimeSpan.FromSeconds(30), () => $"observations of the outage read: {Observed(h).Count(o => o.observedAt >= T0 + 70 * M)}");
        var blind = Observed(h).Where(o => o.observedAt >= T0 + 70 * M).ToList();
        Assert.Equal(2 * 6, blind.Count); // 1:15, 1:20, 1:25, 1:30, 1:35, 1:40 for each URL
        Assert.All(blind, o =>
        {
            Assert.Equal((ContentStatus.NETWORK_DOWN, 0, false), (o.status, o.consecutiveMisses, o.removalConfirmed));
            Assert.Contains("the check saw REFUSED", o.detail, StringComparison.Ordinal);
            Assert.Contains("0 of 1 control checks answered online", o.detail, StringComparison.Ordinal);
        });
        Assert.All(notices, n => Assert.Equal((0, T0 + 15 * M), (h.Schedule.Find(n.noticeId)!.misses, h.Schedule.Find(n.noticeId)!.lastCheckedAt)));

        uplink.Up();
        await h.RunUntilAsync(T0 + 120 * M, [], () => Task.CompletedTask); // 1:45 the first checks that can look again
        Assert.False(controls.Down, "a control round passed once the network was back");
        await Until(() => Observed(h).Any(o => o.removalConfirmed), TimeSpan.FromSeconds(30), () => "the removal's observation read");
        var after = Observed(h).Where(o => o.observedAt > T0 + 100 * M).ToList();
        Assert.All(after.Where(o => o.url == stays), o => Assert.Equal(ContentStatus.ONLINE, o.status));
        var removal = Assert.Single(after, o => o.removalConfirmed);
        // Three misses 5 minutes apart from the first check that could look: the removal is measured from 1:45, never
        // from a check during the outage.
        Assert.Equal((goes, T0 + 115 * M, T0 + 105 * M, 3), (removal.url, removal.observedAt, removal.offlineSince, removal.consecutiveMisses));
        Assert.DoesNotContain(Observed(h), o => o.removalConfirmed && o.url == stays);
    }

    [Fact]
    public async Task Causes_are_recorded_apart_refused_timed_out_server_error_removed_and_online()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0); // accepts, never answers
        silent.Start();
        var closed = new TcpListener(IPAddress.Loopback, 0);      // nothing listens: refused
        closed.Start();
        var closedPort = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        await using var broken = await AnsweringAsync("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        await using var web = await HosterWeb.StartAsync();
        web.Remove("http://gone.example/x.jpg"); // the simulated web keys its plans by path
        var probe = new HttpContentProbe(new HttpClient(HttpContentProbe.Handler(new Dictionary<string, string>
        {
            ["refused.example"] = $"127.0.0.1:{closedPort}",
            ["silent.example"] = $"127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}",
            ["broken.example"] = broken.Endpoint,
            ["gone.example"] = web.Endpoint,
            ["here.example"] = web.Endpoint,
        })) { Timeout = TimeSpan.FromSeconds(1) });

        async Task<ProbeResult> Probe(string url) => await probe.ProbeAsync(url, CancellationToken.None);
        Assert.Equal(ContentStatus.REFUSED, (await Probe("http://refused.example/x.jpg")).Status);
        Assert.Equal(ContentStatus.TIMED_OUT, (await Probe("http://silent.example/x.jpg")).Status);
        Assert.Equal((ContentStatus.SERVER_ERROR, 503), ((await Probe("http://broken.example/x.jpg")).Status, (await Probe("http://broken.example/x.jpg")).HttpStatus));
        Assert.Equal((ContentStatus.REMOVED, 404), ((await Probe("http://gone.example/x.jpg")).Status, (await Probe("http://gone.example/x.jpg")).HttpStatus));
        Assert.Equal((ContentStatus.ONLINE, 200), ((await Probe("http://here.example/kept.jpg")).Status, (await Probe("http://here.example/kept.jpg")).HttpStatus));
    }

    [Fact]
    public async Task Checks_waiting_for_a_verdict_share_one_control_round_begun_after_they_started()
    {
        var probe = new CountingProbe();
        var controls = new NetworkControls(probe, Options.Create(new RecheckOptions { Controls = [ControlUrl], ControlSpacing = TimeSpan.Zero }), TimeProvider.System);
        var started = controls.Stamp();
        var verdicts = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => controls.VerifyAsync(started, CancellationToken.None)));
        Assert.All(verdicts, v => Assert.True(v.Passed));
        Assert.Equal(1, probe.Calls); // twenty checks that started before it: one round
        var later = controls.Stamp();
        await controls.VerifyAsync(later, CancellationToken.None);
        Assert.Equal(2, probe.Calls); // a check that started after that round began needs a round of its own
        probe.Online = false;
        var failed = await controls.VerifyAsync(controls.Stamp(), CancellationToken.None);
        Assert.False(failed.Passed);
        Assert.True(controls.Down);
        var miss = new ProbeResult(ContentStatus.REMOVED, 404);
        Assert.Equal(ContentStatus.NETWORK_DOWN, NetworkControls.Apply(miss, failed).Status);
        Assert.Equal(ContentStatus.ONLINE, NetworkControls.Apply(new ProbeResult(ContentStatus.ONLINE, 200), failed).Status); // seen online is seen online
        Assert.Equal(ContentStatus.SERVER_ERROR, NetworkControls.Apply(new ProbeResult(ContentStatus.SERVER_ERROR, 503), failed).Status);
    }

    [Fact]
    public async Task First_checks_go_before_retries_before_routine_checks_when_they_queue_for_a_slot()
    {
        var slots = new PrioritySlots(1);
        await slots.WaitAsync(2, CancellationToken.None); // a routine check holds the only slot
        var order = new List<string>();
        var routine = slots.WaitAsync(2, CancellationToken.None).ContinueWith(_ => { lock (order) order.Add("routine"); slots.Release(); }, TaskScheduler.Default);
        var retry = slots.WaitAsync(1, CancellationToken.None).ContinueWith(_ => { lock (order) order.Add("retry"); slots.Release(); }, TaskScheduler.Default);
        using var gone = new CancellationTokenSource();
        var abandoned = slots.WaitAsync(0, gone.Token);
        await gone.CancelAsync();
        var first = slots.WaitAsync(0, CancellationToken.None).ContinueWith(_ => { lock (order) order.Add("first"); slots.Release(); }, TaskScheduler.Default);
        slots.Release();
        await Task.WhenAll(routine, retry, first).WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        Assert.Equal(["first", "retry", "routine"], order);
        Assert.Equal(1, slots.Free);
    }

    private static List<ContentStatusObserved> Observed(FlowHarness h) =>
        h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus).DistinctBy(o => o.eventId).OrderBy(o => o.observedAt).ToList();

    private sealed class CountingProbe : IContentProbe
    {
        private int calls;
        public int Calls => Volatile.Read(ref calls);
        public bool Online { get; set; } = true;

        public async Task<ProbeResult> ProbeAsync(string url, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref calls);
            await Task.Yield();
            return Online ? new ProbeResult(ContentStatus.ONLINE, 200) : new ProbeResult(ContentStatus.REFUSED, null);
        }
    }

    /// <summary>A server on loopback that answers every connection with the same raw HTTP response.</summary>
    private static Task<RawServer> AnsweringAsync(string response) => Task.FromResult(new RawServer(response));

    private sealed class RawServer : IAsyncDisposable
    {
        private readonly TcpListener listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource stop = new();
        private readonly Task serving;

        public RawServer(string response)
        {
            listener.Start();
            Endpoint = $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
            serving = ServeAsync(Encoding.ASCII.GetBytes(response));
        }

        public string Endpoint { get; }

        private async Task ServeAsync(byte[] response)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var client = await listener.AcceptTcpClientAsync(stop.Token);
                    var stream = client.GetStream();
                    var buffer = new byte[4096];
                    _ = await stream.ReadAsync(buffer, stop.Token); // the request head (small: one read)
                    await stream.WriteAsync(response, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            listener.Stop();
            try { await serving; } catch (OperationCanceledException) { }
            stop.Dispose();
        }
    }
}
