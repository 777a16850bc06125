using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Pipeline.Platform;
using Polly;
using Prometheus;

namespace Pipeline.Geolocation;

public enum DnsOutcome
{
    Resolved,
    /// <summary>The name does not exist (NXDOMAIN).</summary>
    NxDomain,
    /// <summary>The name exists but has no A/AAAA records.</summary>
    NoAddress,
    /// <summary>SERVFAIL (e.g. a broken delegation or DNSSEC failure), REFUSED and other error codes.</summary>
    ServerFailure,
    /// <summary>No answer within the attempts.</summary>
    Timeout,
}

public sealed record DnsAnswer(DnsOutcome Outcome, IReadOnlyList<IPAddress> Addresses, IReadOnlyList<string> CnameChain, string? Detail, bool FromCache = false)
{
    public string Reason(string host) => Outcome switch
    {
        DnsOutcome.NxDomain => $"NXDOMAIN: {host} does not exist",
        DnsOutcome.NoAddress => $"no A/AAAA records for {host}",
        DnsOutcome.ServerFailure => $"SERVFAIL resolving {host}: {Detail}",
        DnsOutcome.Timeout => $"DNS timeout resolving {host}: {Detail}",
        _ => "",
    };
}

/// <summary>
/// A and AAAA through the configured resolvers (DnsClient), the CNAME chain followed and recorded, answers cached
/// for their TTL. NXDOMAIN, no records, SERVFAIL and timeouts are outcomes, never exceptions. A timeout is retried
/// with backoff a bounded number of times inside the lookup (the processor host runs one message at a time, so a
/// long retry would stall every partition of the stage): worst case Attempts × TimeoutMs plus the backoffs.
/// </summary>
public sealed class DnsResolver : IDisposable
{
    private static readonly Counter Lookups = Metrics.CreateCounter("pipeline_geolocation_dns_lookups_total",
        "Host name lookups by outcome (resolved, nxdomain, noaddress, serverfailure, timeout) and whether the cache answered.", "outcome", "cache");

    private readonly DnsSettings settings;
    private readonly TimeProvider time;
    private readonly LookupClient client;
    private readonly ConcurrentDictionary<string, (DnsAnswer Answer, DateTimeOffset Expires)> cache = new(StringComparer.Ordinal);
    private readonly ResiliencePipeline<(IDnsQueryResponse? Response, string? Error)> retry;

    public DnsResolver(DnsSettings settings, TimeProvider time)
    {
        this.settings = settings;
        this.time = time;
        // Attempts in all; a failed attempt (no response) waits RetryBackoffMs, doubling, before the next one.
        retry = new Backoff(TimeSpan.FromMilliseconds(settings.RetryBackoffMs), TimeSpan.FromMilliseconds(settings.RetryBackoffMs * 65_536.0))
            .Pipeline<(IDnsQueryResponse? Response, string? Error)>(settings.Attempts - 1, o => o.Exception is null && o.Result.Response is null, time);
        var servers = settings.NameServers.Select(s => ParseNameServer(s)
            ?? throw new ArgumentException($"Geolocation:Dns:NameServers '{s}' is not address:port. Fix: e.g. 127.0.0.1:53.")).ToArray();
        if (servers.Length == 0) throw new ArgumentException("Geolocation:Dns:NameServers is empty. Fix: list at least one resolver, e.g. 127.0.0.1:53.");
        client = new LookupClient(new LookupClientOptions(servers)
        {
            AutoResolveNameServers = false,
            Timeout = TimeSpan.FromMilliseconds(settings.TimeoutMs),
            Retries = 0, // retries are ours: with backoff, and counted against the budget above
            UseCache = false, // ours: it keeps negative answers and the CNAME chain too
            ThrowDnsErrors = false,
            ContinueOnDnsError = true,
            UseTcpFallback = true,
            UseRandomNameServer = false,
        });
    }

    public int CachedNames => cache.Count;

    public static IPEndPoint? ParseNameServer(string text)
    {
        text = text.Trim();
        if (IPAddress.TryParse(text.Trim('[', ']'), out var bare)) return new IPEndPoint(bare, 53);
        return IPEndPoint.TryParse(text, out var ep) && ep.Port > 0 ? ep : null;
    }

    /// <param name="fresh">Ask the name servers even when the cache holds an answer (the re-lookup before sending).</param>
    public async ValueTask<DnsAnswer> ResolveAsync(string host, CancellationToken ct, bool fresh = false)
    {
        var name = HostingTable.Normalise(host);
        var now = time.GetUtcNow();
        if (!fresh && cache.TryGetValue(name, out var hit) && hit.Expires > now)
        {
            Lookups.WithLabels(Label(hit.Answer.Outcome), "hit").Inc();
            return hit.Answer with { FromCache = true };
        }
        var (answer, ttl) = await LookupAsync(name, ct);
        Lookups.WithLabels(Label(answer.Outcome), "miss").Inc();
        if (ttl > TimeSpan.Zero)
        {
            if (cache.Count >= settings.CacheEntries) Evict(now);
            cache[name] = (answer, now + ttl);
        }
        return answer;
    }

    /// <summary>Forgets every cached answer (e.g. the "look it up again, uncached, before sending" rule).</summary>
    public void Forget(string host) => cache.TryRemove(HostingTable.Normalise(host), out _);

    private static string Label(DnsOutcome o) => o.ToString().ToLowerInvariant();

    private void Evict(DateTimeOffset now)
    {
        foreach (var (k, v) in cache)
            if (v.Expires <= now) cache.TryRemove(k, out _);
        if (cache.Count < settings.CacheEntries) return;
        foreach (var k in cache.Keys.Take(Math.Max(1, settings.CacheEntries / 10))) cache.TryRemove(k, out _);
    }

    private async Task<(DnsAnswer, TimeSpan)> LookupAsync(string name, CancellationToken ct)
    {
        var a = QueryChainAsync(name, QueryType.A, ct);
        var aaaa = QueryChainAsync(name, QueryType.AAAA, ct);
        var results = await Task.WhenAll(a, aaaa);
        var (v4, v6) = (results[0], results[1]);
        var addresses = v4.Addresses.Concat(v6.Addresses).ToList();
        var chain = v4.Chain.Count >= v6.Chain.Count ? v4.Chain : v6.Chain;
        if (addresses.Count > 0)
        {
            var ttl = Clamp(Math.Min(v4.Addresses.Count > 0 ? v4.Ttl : uint.MaxValue, v6.Addresses.Count > 0 ? v6.Ttl : uint.MaxValue),
                settings.MinCacheSeconds, settings.MaxCacheSeconds);
            // A partial answer (AAAA timed out, A answered) is used but cached only briefly, so the other family is asked again soon.
            if (v4.Outcome == DnsOutcome.Timeout || v6.Outcome == DnsOutcome.Timeout) ttl = TimeSpan.FromSeconds(Math.Min(ttl.TotalSeconds, settings.FailureCacheSeconds));
            return (new DnsAnswer(DnsOutcome.Resolved, addresses, chain, null), ttl);
        }
        var worst = new[] { v4, v6 }.OrderBy(r => r.Outcome switch
        {
            DnsOutcome.NxDomain => 0, DnsOutcome.ServerFailure => 1, DnsOutcome.Timeout => 2, _ => 3,
        }).First();
        var cacheFor = worst.Outcome is DnsOutcome.NxDomain or DnsOutcome.NoAddress
            ? Clamp(Math.Min(v4.Ttl, v6.Ttl), 0, settings.NegativeCacheSeconds)
            : TimeSpan.FromSeconds(settings.FailureCacheSeconds);
        return (new DnsAnswer(worst.Outcome, [], chain, worst.Detail), cacheFor);
    }

    private static TimeSpan Clamp(uint seconds, int min, int max) => TimeSpan.FromSeconds(Math.Clamp(seconds, (uint)min, (uint)max));

    private sealed record ChainResult(DnsOutcome Outcome, List<IPAddress> Addresses, List<string> Chain, uint Ttl, string? Detail);

    /// <summary>One record type, following CNAMEs: a recursive resolver normally returns the whole chain in one
    /// answer; where it stops at an alias, the target is asked for in turn.</summary>
    private async Task<ChainResult> QueryChainAsync(string name, QueryType type, CancellationToken ct)
    {
        var chain = new List<string> { name };
        var current = name;
        var ttl = uint.MaxValue;
        for (var hop = 0; hop <= settings.MaxCnameHops; hop++)
        {
            var (response, error) = await QueryWithRetriesAsync(current, type, ct);
            if (response is null) return new(DnsOutcome.Timeout, [], Chain(chain), 0, error);
            var code = response.Header.ResponseCode;
            if (code == DnsHeaderResponseCode.NotExistentDomain)
                return new(DnsOutcome.NxDomain, [], Chain(chain), NegativeTtl(response), "NXDOMAIN");
            if (code != DnsHeaderResponseCode.NoError)
                return new(DnsOutcome.ServerFailure, [], Chain(chain), 0, $"{code} from {response.NameServer}");

            // Walk the answer section from the queried name through any aliases it contains.
            var records = response.Answers;
            var addresses = new List<IPAddress>();
            var followed = false;
            for (var step = 0; step <= settings.MaxCnameHops; step++)
            {
                foreach (var r in records)
                {
                    if (!Same(r.DomainName, current)) continue;
                    if (r is ARecord a && type == QueryType.A) { addresses.Add(a.Address); ttl = Math.Min(ttl, (uint)r.TimeToLive); }
                    else if (r is AaaaRecord aaaa && type == QueryType.AAAA) { addresses.Add(aaaa.Address); ttl = Math.Min(ttl, (uint)r.TimeToLive); }
                }
                if (addresses.Count > 0) break;
                var owner = current;
                var alias = records.OfType<CNameRecord>().FirstOrDefault(c => Same(c.DomainName, owner));
                if (alias is null) break;
                ttl = Math.Min(ttl, (uint)alias.TimeToLive);
                current = HostingTable.Normalise(alias.CanonicalName.Value);
                if (chain.Contains(current)) return new(DnsOutcome.ServerFailure, [], Chain(chain), 0, "CNAME loop at " + current);
                chain.Add(current);
                followed = true;
                if (chain.Count > settings.MaxCnameHops + 1) break;
            }
            if (addresses.Count > 0) return new(DnsOutcome.Resolved, addresses, Chain(chain), ttl, null);
            if (followed && !records.Any(r => Same(r.DomainName, current)))
                continue; // the resolver stopped at an alias: ask for its target
            return new(DnsOutcome.NoAddress, [], Chain(chain), Math.Min(ttl, NegativeTtl(response)), "no " + type + " records");
        }
        return new(DnsOutcome.ServerFailure, [], Chain(chain), 0, $"CNAME chain longer than {settings.MaxCnameHops}");
    }

    private static List<string> Chain(List<string> chain) => chain.Count > 1 ? chain : [];

    private static bool Same(DnsString domain, string name) => string.Equals(domain.Value.TrimEnd('.'), name, StringComparison.OrdinalIgnoreCase);

    private static bool Same(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    /// <summary>RFC 2308: a negative answer lives for min(SOA TTL, SOA MINIMUM).</summary>
    private static uint NegativeTtl(IDnsQueryResponse response)
    {
        var soa = response.Authorities.OfType<SoaRecord>().FirstOrDefault();
        return soa is null ? uint.MaxValue : Math.Min((uint)soa.TimeToLive, soa.Minimum);
    }

    private async Task<(IDnsQueryResponse? Response, string? Error)> QueryWithRetriesAsync(string name, QueryType type, CancellationToken ct)
    {
        var attempt = 0;
        return await retry.ExecuteAsync(async token =>
        {
            attempt++;
            try
            {
                return (await client.QueryAsync(name, type, QueryClass.IN, token), null);
            }
            catch (DnsResponseException e)
            {
                return ((IDnsQueryResponse?)null, (string?)$"{type} query: {e.DnsError} after {attempt} attempt(s)");
            }
            catch (Exception e) when (e is SocketException or TimeoutException or IOException || (e is OperationCanceledException && !token.IsCancellationRequested))
            {
                return (null, $"{type} query: {e.Message} after {attempt} attempt(s)");
            }
        }, ct);
    }

    public void Dispose() => cache.Clear();
}
