using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MimeKit;

namespace Pipeline.Loopback;

/// <summary>
/// A minimal RFC 5321 server on 127.0.0.1 (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, no TLS, no AUTH) that
/// records every accepted message. <see cref="Reply"/> may override the answer to RCPT or to the end of DATA
/// (e.g. "451 4.3.0 try later", "550 5.1.1 no such user"), or return <see cref="Drop"/> to close the connection
/// without answering.
/// </summary>
public sealed class LoopbackSmtpServer : IAsyncDisposable
{
    public const string Drop = "<drop>";

    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource stop = new();
    private readonly Task accepting;
    private int connections;
    private readonly ConcurrentDictionary<TcpClient, byte> open = new();

    /// <summary>A message accepted at end of DATA, at <see cref="At"/> (wall clock).</summary>
    public sealed record Received(string From, IReadOnlyList<string> To, MimeMessage Message)
    {
        public DateTimeOffset At { get; init; } = DateTimeOffset.UtcNow;
    }

    public LoopbackSmtpServer()
    {
        listener.Start(100);
        accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

    public ConcurrentQueue<Received> Messages { get; } = new();

    public int Connections => Volatile.Read(ref connections);

    /// <summary>(command "RCPT" or "DATA", recipient) → reply line, or null for the normal answer.</summary>
    public Func<string, string, string?>? Reply { get; set; }

    /// <summary>Closes every open connection, as a server does with idle ones; clients must reconnect.</summary>
    public void CloseIdleConnections()
    {
        foreach (var c in open.Keys) c.Close();
    }

    private async Task AcceptAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(stop.Token); }
            catch (Exception) { return; }
            Interlocked.Increment(ref connections);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var connection = client;
        open.TryAdd(client, 0);
        try
        {
            var stream = client.GetStream();
            var reader = new StreamReader(stream, Encoding.Latin1);
            var writer = new StreamWriter(stream, Encoding.Latin1) { NewLine = "\r\n", AutoFlush = true };
            await writer.WriteLineAsync("220 mx.test ESMTP ready");
            string? from = null;
            var to = new List<string>();
            while (await reader.ReadLineAsync(stop.Token) is { } line)
            {
                var verb = line.Length >= 4 ? line[..4].ToUpperInvariant() : line.ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        await writer.WriteAsync("250-mx.test\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n250 SMTPUTF8\r\n");
                        break;
                    case "HELO":
                        await writer.WriteLineAsync("250 mx.test");
                        break;
                    case "MAIL":
                        from = Address(line);
                        to.Clear();
                        await writer.WriteLineAsync("250 2.1.0 ok");
                        break;
                    case "RCPT":
                    {
                        var rcpt = Address(line);
                        var reply = Reply?.Invoke("RCPT", rcpt);
                        if (reply == Drop) return;
                        if (reply is null) to.Add(rcpt);
                        await writer.WriteLineAsync(reply ?? "250 2.1.5 ok");
                        break;
                    }
                    case "DATA":
                    {
                        if (from is null || to.Count == 0) { await writer.WriteLineAsync("503 5.5.1 need MAIL and RCPT"); break; }
                        await writer.WriteLineAsync("354 end with <CRLF>.<CRLF>");
                        var data = new StringBuilder();
                        while (await reader.ReadLineAsync(stop.Token) is { } d && d != ".")
                            data.Append(d.StartsWith("..", StringComparison.Ordinal) ? d[1..] : d).Append("\r\n");
                        var reply = Reply?.Invoke("DATA", to[0]);
                        if (reply == Drop) return;
                        if (reply is null)
                        {
                            var message = await MimeMessage.LoadAsync(new MemoryStream(Encoding.Latin1.GetBytes(data.ToString())));
                            Messages.Enqueue(new Received(from, to.ToList(), message));
                        }
                        await writer.WriteLineAsync(reply ?? $"250 2.0.0 queued as {Messages.Count}");
                        from = null;
                        to.Clear();
                        break;
                    }
                    case "RSET":
                        from = null;
                        to.Clear();
                        await writer.WriteLineAsync("250 2.0.0 ok");
                        break;
                    case "NOOP":
                        await writer.WriteLineAsync("250 2.0.0 ok");
                        break;
                    case "QUIT":
                        await writer.WriteLineAsync("221 2.0.0 bye");
                        return;
                    default:
                        await writer.WriteLineAsync("502 5.5.2 command not implemented");
                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
        }
        finally
        {
            open.TryRemove(client, out _);
        }
    }

    private static string Address(string line)
    {
        var start = line.IndexOf('<', StringComparison.Ordinal);
        var end = line.IndexOf('>', StringComparison.Ordinal);
        return start >= 0 && end > start ? line[(start + 1)..end] : "";
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Stop();
        try { await accepting; } catch (Exception) { }
        stop.Dispose();
    }
}
