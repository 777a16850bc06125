using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pipeline.Geolocation.Simulation;

/// <summary>
/// A small recursive-resolver stand-in on 127.0.0.1 (UDP and TCP, the same port) for simulated worlds and tests.
/// It answers A, AAAA and CNAME from its zone, returning the whole alias chain in one answer as a recursive resolver
/// does; names it does not know get NXDOMAIN with an SOA (negative TTL); names can be set to answer SERVFAIL, to
/// never answer (timeouts), to answer truncated over UDP (so the client retries over TCP), or to stop at an alias.
/// It never forwards a query anywhere.
/// </summary>
public sealed class LoopbackDnsServer : IAsyncDisposable
{
    private enum Kind : ushort { A = 1, CName = 5, Soa = 6, Aaaa = 28 }

    private sealed record Entry(Kind Type, string Value, int Ttl);

    private readonly ConcurrentDictionary<string, List<Entry>> zone = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, int> queries = new(StringComparer.OrdinalIgnoreCase);
    private readonly UdpClient udp;
    private readonly TcpListener tcp;
    private readonly CancellationTokenSource stop = new();
    private readonly Task udpLoop;
    private readonly Task tcpLoop;

    public LoopbackDnsServer()
    {
        // UDP and TCP on one port: take a free UDP port and retry while its TCP twin is taken.
        for (var attempt = 1; ; attempt++)
        {
            udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)udp.Client.LocalEndPoint!).Port;
            tcp = new TcpListener(IPAddress.Loopback, port);
            try
            {
                tcp.Start();
                EndPoint = new IPEndPoint(IPAddress.Loopback, port);
                break;
            }
            catch (SocketException) when (attempt < 50)
            {
                udp.Dispose();
            }
        }
        udpLoop = Task.Run(ServeUdpAsync);
        tcpLoop = Task.Run(ServeTcpAsync);
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>"127.0.0.1:port", for Geolocation:Dns:NameServers.</summary>
    public string Address => EndPoint.ToString();

    public ConcurrentDictionary<string, bool> ServerFailure { get; } = new(StringComparer.OrdinalIgnoreCase);
    public ConcurrentDictionary<string, bool> Silent { get; } = new(StringComparer.OrdinalIgnoreCase);
    public ConcurrentDictionary<string, bool> TruncateOverUdp { get; } = new(StringComparer.OrdinalIgnoreCase);
    public ConcurrentDictionary<string, bool> StopAtAlias { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Negative-answer TTL in the SOA of NXDOMAIN answers.</summary>
    public int NegativeTtl { get; set; } = 60;

    private int tcpQueries;

    /// <summary>Questions that came over TCP.</summary>
    public int TcpQueries => Volatile.Read(ref tcpQueries);

    /// <summary>How many questions (any type, UDP or TCP) were asked for <paramref name="name"/>.</summary>
    public int QueriesFor(string name) => queries.GetValueOrDefault(name.TrimEnd('.'));

    public LoopbackDnsServer A(string name, string address, int ttl = 300) => Add(name, IPAddress.Parse(address).AddressFamily == AddressFamily.InterNetworkV6 ? Kind.Aaaa : Kind.A, address, ttl);

    public LoopbackDnsServer CName(string name, string target, int ttl = 300) => Add(name, Kind.CName, target, ttl);

    /// <summary>Replaces every record of <paramref name="name"/>.</summary>
    public void Clear(string name) => zone.TryRemove(name.TrimEnd('.'), out _);

    private LoopbackDnsServer Add(string name, Kind type, string value, int ttl)
    {
        zone.AddOrUpdate(name.TrimEnd('.'), _ => [new Entry(type, value, ttl)], (_, list) => { lock (list) list.Add(new Entry(type, value, ttl)); return list; });
        return this;
    }

    private async Task ServeUdpAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            UdpReceiveResult received;
            try { received = await udp.ReceiveAsync(stop.Token); }
            catch (Exception) when (stop.IsCancellationRequested) { return; }
            catch (SocketException) { continue; }
            var reply = Answer(received.Buffer, overUdp: true);
            if (reply is null) continue;
            try { await udp.SendAsync(reply, received.RemoteEndPoint, stop.Token); }
            catch (Exception) when (stop.IsCancellationRequested) { return; }
            catch (SocketException) { }
        }
    }

    private async Task ServeTcpAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await tcp.AcceptTcpClientAsync(stop.Token); }
            catch (Exception) when (stop.IsCancellationRequested) { return; }
            catch (SocketException) { continue; }
            _ = Task.Run(async () =>
            {
                using var c = client;
                var stream = c.GetStream();
                var length = new byte[2];
                try
                {
                    while (!stop.IsCancellationRequested)
                    {
                        await stream.ReadExactlyAsync(length, stop.Token);
                        var query = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
                        await stream.ReadExactlyAsync(query, stop.Token);
                        Interlocked.Increment(ref tcpQueries);
                        var reply = Answer(query, overUdp: false);
                        if (reply is null) continue;
                        var framed = new byte[reply.Length + 2];
                        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)reply.Length);
                        reply.CopyTo(framed, 2);
                        await stream.WriteAsync(framed, stop.Token);
                    }
                }
                catch (Exception)
                {
                    // client closed the connection or the server is stopping
                }
            });
        }
    }

    private byte[]? Answer(byte[] query, bool overUdp)
    {
        if (query.Length < 12) return null;
        var offset = 12;
        var name = ReadName(query, ref offset);
        if (name is null || offset + 4 > query.Length) return null;
        var qtype = (Kind)BinaryPrimitives.ReadUInt16BigEndian(query.AsSpan(offset));
        var questionEnd = offset + 4;
        queries.AddOrUpdate(name, 1, (_, n) => n + 1);
        if (Silent.ContainsKey(name)) return null;

        var answers = new List<(string Owner, Entry Entry)>();
        var authority = new List<(string Owner, Entry Entry)>();
        var rcode = 0;
        var truncated = false;
        if (ServerFailure.ContainsKey(name)) rcode = 2;
        else if (overUdp && TruncateOverUdp.ContainsKey(name)) truncated = true;
        else
        {
            var current = name;
            for (var hop = 0; hop < 16; hop++)
            {
                if (!zone.TryGetValue(current, out var records))
                {
                    if (hop == 0) rcode = 3; // NXDOMAIN
                    break;
                }
                Entry[] snapshot;
                lock (records) snapshot = records.ToArray();
                var alias = snapshot.FirstOrDefault(r => r.Type == Kind.CName);
                if (alias is not null && qtype != Kind.CName)
                {
                    answers.Add((current, alias));
                    if (StopAtAlias.ContainsKey(current)) break;
                    current = alias.Value.TrimEnd('.');
                    continue;
                }
                answers.AddRange(snapshot.Where(r => r.Type == qtype).Select(r => (current, r)));
                break;
            }
            if (rcode == 3 || answers.Count == 0)
                authority.Add((Zone(name), new Entry(Kind.Soa, "", NegativeTtl)));
        }

        using var s = new MemoryStream();
        var header = new byte[12];
        header[0] = query[0];
        header[1] = query[1];
        var rd = query[2] & 0x01;
        header[2] = (byte)(0x80 | (truncated ? 0x02 : 0) | rd); // QR, TC, RD copied
        header[3] = (byte)(0x80 | rcode); // RA, RCODE
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), (ushort)answers.Count);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(8), (ushort)authority.Count);
        s.Write(header);
        s.Write(query.AsSpan(12, questionEnd - 12));
        foreach (var (owner, entry) in answers.Concat(authority)) WriteRecord(s, owner, entry);
        return s.ToArray();
    }

    private static string Zone(string name)
    {
        var labels = name.Split('.');
        return labels.Length >= 2 ? string.Join('.', labels[^2..]) : name;
    }

    private void WriteRecord(Stream s, string owner, Entry e)
    {
        WriteName(s, owner);
        Span<byte> fixedPart = stackalloc byte[8];
        BinaryPrimitives.WriteUInt16BigEndian(fixedPart, (ushort)e.Type);
        BinaryPrimitives.WriteUInt16BigEndian(fixedPart[2..], 1); // IN
        BinaryPrimitives.WriteInt32BigEndian(fixedPart[4..], e.Ttl);
        s.Write(fixedPart);
        using var rdata = new MemoryStream();
        switch (e.Type)
        {
            case Kind.A or Kind.Aaaa:
                rdata.Write(IPAddress.Parse(e.Value).GetAddressBytes());
                break;
            case Kind.CName:
                WriteName(rdata, e.Value.TrimEnd('.'));
                break;
            case Kind.Soa:
                WriteName(rdata, "ns." + owner);
                WriteName(rdata, "hostmaster." + owner);
                Span<byte> numbers = stackalloc byte[20];
                BinaryPrimitives.WriteUInt32BigEndian(numbers, 1);
                BinaryPrimitives.WriteUInt32BigEndian(numbers[4..], 3600);
                BinaryPrimitives.WriteUInt32BigEndian(numbers[8..], 600);
                BinaryPrimitives.WriteUInt32BigEndian(numbers[12..], 86400);
                BinaryPrimitives.WriteUInt32BigEndian(numbers[16..], (uint)NegativeTtl);
                rdata.Write(numbers);
                break;
        }
        Span<byte> len = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(len, (ushort)rdata.Length);
        s.Write(len);
        s.Write(rdata.ToArray());
    }

    private static void WriteName(Stream s, string name)
    {
        foreach (var label in name.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var bytes = Encoding.ASCII.GetBytes(label);
            s.WriteByte((byte)bytes.Length);
            s.Write(bytes);
        }
        s.WriteByte(0);
    }

    private static string? ReadName(byte[] packet, ref int offset)
    {
        var labels = new List<string>();
        while (offset < packet.Length)
        {
            var length = packet[offset++];
            if (length == 0) return string.Join('.', labels);
            if (length > 63 || offset + length > packet.Length) return null; // no compression in questions
            labels.Add(Encoding.ASCII.GetString(packet, offset, length));
            offset += length;
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        udp.Dispose();
        tcp.Stop();
        try { await Task.WhenAll(udpLoop, tcpLoop); }
        catch (Exception) { /* stopping */ }
        stop.Dispose();
    }
}
