using System.Net;
using System.Net.Sockets;
using Pipeline.Contracts;

namespace Pipeline.Recheck;

public sealed record ProbeResult(ContentStatus Status, int? HttpStatus)
{
    /// <summary>What the status alone does not say (the transport error, what a check saw before its round's controls
    /// failed).</summary>
    public string? Detail { get; init; }

    /// <summary>Whether this observation says the content is gone: 404/410/451, the name gone (NXDOMAIN or no address),
    /// nothing listening, no answer at all. It counts towards removal only when the round's control checks passed
    /// (<see cref="NetworkControls"/>); a 5xx, a 401/403 or another transport error never does.</summary>
    public bool IsMiss => Status is ContentStatus.REMOVED or ContentStatus.DNS_GONE or ContentStatus.REFUSED or ContentStatus.TIMED_OUT;

    /// <summary>A miss, or no answer at all: what a failure of the hotline's own network looks like too, so the round's
    /// control checks are consulted before it means anything.</summary>
    public bool NeedsControls => IsMiss || Status == ContentStatus.UNREACHABLE;
}

/// <summary>Looks at whether a URL is still served. Status only: the body is never stored.</summary>
public interface IContentProbe
{
    Task<ProbeResult> ProbeAsync(string url, CancellationToken cancellationToken);
}

/// <summary>
/// An HTTP status probe: a HEAD request (GET with a 1-byte range when HEAD is refused), no redirects followed, the
/// body never read. Each cause is recorded apart: 2xx/3xx online, 404/410/451 removed, 5xx a server error, NXDOMAIN (or
/// no address) the name gone, refused, timed out, any other transport error unreachable, anything else unknown.
/// </summary>
public sealed class HttpContentProbe(HttpClient client) : IContentProbe
{
    public async Task<ProbeResult> ProbeAsync(string url, CancellationToken cancellationToken)
    {
        try
        {
            using var head = new HttpRequestMessage(HttpMethod.Head, url);
            using var response = await client.SendAsync(head, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (response.StatusCode is HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented)
            {
                using var get = new HttpRequestMessage(HttpMethod.Get, url);
                get.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(0, 0);
                using var ranged = await client.SendAsync(get, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                return Classify(ranged.StatusCode);
            }
            return Classify(response.StatusCode);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException socket)
        {
            return socket.SocketErrorCode switch
            {
                SocketError.HostNotFound or SocketError.NoData => new ProbeResult(ContentStatus.DNS_GONE, null) { Detail = "DNS: no such name (or no address)" },
                SocketError.ConnectionRefused => new ProbeResult(ContentStatus.REFUSED, null) { Detail = "connection refused" },
                SocketError.TimedOut => new ProbeResult(ContentStatus.TIMED_OUT, null) { Detail = "connect timed out" },
                _ => new ProbeResult(ContentStatus.UNREACHABLE, null) { Detail = $"{socket.SocketErrorCode}: {socket.Message}" },
            };
        }
        catch (HttpRequestException e)
        {
            return new ProbeResult(ContentStatus.UNREACHABLE, null) { Detail = e.HttpRequestError + ": " + e.Message };
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return TimedOut; // the client's own timeout
        }
    }

    /// <summary>No answer within the probe timeout.</summary>
    public static ProbeResult TimedOut { get; } = new(ContentStatus.TIMED_OUT, null) { Detail = "no answer within Recheck:ProbeTimeout" };

    /// <summary>No redirects, no cookies; hosts listed in <paramref name="overrides"/> connect to the given
    /// address[:port] instead of resolving through DNS.</summary>
    public static SocketsHttpHandler Handler(IReadOnlyDictionary<string, string> overrides)
    {
        var map = overrides.ToDictionary(o => o.Key.TrimEnd('.'), o => IPEndPoint.Parse(o.Value), StringComparer.OrdinalIgnoreCase);
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        if (map.Count > 0)
        {
            handler.ConnectCallback = async (context, ct) =>
            {
                var target = map.TryGetValue(context.DnsEndPoint.Host, out var ep)
                    ? new IPEndPoint(ep.Address, ep.Port == 0 ? context.DnsEndPoint.Port : ep.Port)
                    : null;
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    if (target is not null) await socket.ConnectAsync(target, ct);
                    else await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        return handler;
    }

    public static ProbeResult Classify(HttpStatusCode code) => (int)code switch
    {
        404 or 410 or 451 => new ProbeResult(ContentStatus.REMOVED, (int)code),
        >= 200 and < 400 => new ProbeResult(ContentStatus.ONLINE, (int)code),
        >= 500 and < 600 => new ProbeResult(ContentStatus.SERVER_ERROR, (int)code), // the server is there and broken: not a removal
        _ => new ProbeResult(ContentStatus.UNKNOWN, (int)code), // 401/403/...: neither proof of presence nor of removal
    };
}
