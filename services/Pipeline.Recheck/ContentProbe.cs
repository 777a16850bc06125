using System.Net;
using System.Net.Sockets;
using Pipeline.Contracts;

namespace Pipeline.Recheck;

public sealed record ProbeResult(ContentStatus Status, int? HttpStatus)
{
    /// <summary>Whether this observation counts towards removal.</summary>
    public bool IsMiss => Status is ContentStatus.REMOVED or ContentStatus.UNREACHABLE or ContentStatus.DNS_GONE;
}

/// <summary>Looks at whether a URL is still served. Status only: the body is never stored.</summary>
public interface IContentProbe
{
    Task<ProbeResult> ProbeAsync(string url, CancellationToken cancellationToken);
}

/// <summary>
/// An HTTP status probe: a HEAD request (GET with a 1-byte range when HEAD is refused), no redirects followed, the
/// body never read. 404/410 mean removed, DNS failure means the name is gone, refused or timed-out connections mean
/// unreachable; anything else is online.
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
        catch (HttpRequestException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData })
        {
            return new ProbeResult(ContentStatus.DNS_GONE, null);
        }
        catch (HttpRequestException)
        {
            return new ProbeResult(ContentStatus.UNREACHABLE, null);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ProbeResult(ContentStatus.UNREACHABLE, null); // timed out
        }
    }

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
        _ => new ProbeResult(ContentStatus.UNKNOWN, (int)code), // 401/403/5xx: neither proof of presence nor of removal
    };
}
