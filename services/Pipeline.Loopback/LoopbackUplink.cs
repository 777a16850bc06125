using System.Net;
using System.Net.Sockets;

namespace Pipeline.Loopback;

/// <summary>
/// The hotline's own uplink, simulated on loopback: a TCP relay to a target (the simulated web server) that tests can
/// cut. While it is down nothing listens on its port, so every connection through it is refused — hosters' servers and
/// the recheck's control endpoints alike, as when the hotline's own network fails.
/// </summary>
public sealed class LoopbackUplink : IAsyncDisposable
{
    private readonly IPEndPoint target;
    private readonly Lock gate = new();
    private readonly CancellationTokenSource stop = new();
    private readonly HashSet<TcpClient> open = [];
    private TcpListener? listener;
    private Task? accepting;

    private LoopbackUplink(IPEndPoint target, int port)
    {
        this.target = target;
        Port = port;
    }

    public int Port { get; }

    /// <summary>address:port to resolve hosts to.</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    public bool IsUp
    {
        get { lock (gate) return listener is not null; }
    }

    /// <summary>Starts a relay to <paramref name="target"/> ("address:port").</summary>
    public static LoopbackUplink Start(string target)
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var uplink = new LoopbackUplink(IPEndPoint.Parse(target), port);
        uplink.Up();
        return uplink;
    }

    /// <summary>Cuts the uplink: open connections are closed (a client's pooled keep-alive connection too), new ones
    /// are refused.</summary>
    public void Down()
    {
        lock (gate)
        {
            listener?.Stop();
            listener = null;
            foreach (var client in open) client.Close();
            open.Clear();
        }
    }

    /// <summary>Restores the uplink on the same port.</summary>
    public void Up()
    {
        lock (gate)
        {
            if (listener is not null) return;
            var l = new TcpListener(IPAddress.Loopback, Port);
            l.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            l.Start();
            listener = l;
            accepting = AcceptAsync(l);
        }
    }

    private async Task AcceptAsync(TcpListener l)
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await l.AcceptTcpClientAsync(stop.Token);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                return; // stopped: down or disposed
            }
            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        lock (gate)
        {
            if (listener is null)
            {
                client.Close(); // cut while it was accepted
                return;
            }
            open.Add(client);
        }
        using (client)
        using (var upstream = new TcpClient())
        {
            try
            {
                await upstream.ConnectAsync(target, stop.Token);
                var a = client.GetStream();
                var b = upstream.GetStream();
                var one = a.CopyToAsync(b, stop.Token);
                var other = b.CopyToAsync(a, stop.Token);
                await Task.WhenAny(one, other);
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                // a connection ended: nothing to relay any more
            }
            finally
            {
                lock (gate) open.Remove(client);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        Down();
        if (accepting is not null) await accepting.ConfigureAwait(false);
        stop.Dispose();
    }
}
