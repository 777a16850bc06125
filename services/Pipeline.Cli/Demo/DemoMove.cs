using Pipeline.Geolocation.Simulation;

namespace Pipeline.Cli.Demo;

/// <summary>
/// The demo's moving hoster (<see cref="DemoWorld.Mover"/>): its sites are served by the demo's loopback DNS server with
/// a day's TTL, and shortly after geolocation first asked the server for one of them (so a report is on its way to a
/// notice, and geolocation has the old address cached) their A records change to addresses of a hoster abroad
/// (<see cref="DemoWorld.MovesTo"/>). The delivery's re-lookup before sending bypasses the cache, finds the move, records
/// MOVED and the case is routed again; notices sent before the move meet it at their first reminder.
/// </summary>
public sealed class DemoMove
{
    private const int DayTtl = 86400;
    private readonly LoopbackDnsServer dns;

    public DemoMove(LoopbackDnsServer dns)
    {
        this.dns = dns;
        var mover = DemoWorld.Mover;
        for (var s = 0; s < mover.Sites; s++) dns.A(DemoWorld.Host(mover, s), DemoWorld.Address(mover, s), DayTtl);
    }

    /// <summary>When the sites moved (stage clock), once they have.</summary>
    public DateTime? MovedAt { get; private set; }

    /// <summary>How long after geolocation's first lookup of a site the sites move (stage clock): long enough for that
    /// lookup's answer (the old address) to have been given and cached, short enough that its notice is still on its way.</summary>
    public static readonly TimeSpan AfterFirstLookup = TimeSpan.FromMinutes(10);

    private DateTime? firstLookupSeen;

    /// <summary>Moves the sites <see cref="AfterFirstLookup"/> after geolocation first looked one of them up (the demo's
    /// loop calls it). Independent of the observer, which a loaded machine can leave far behind.</summary>
    public void MoveIfDue(DateTime now)
    {
        var mover = DemoWorld.Mover;
        if (MovedAt is not null) return;
        if (firstLookupSeen is null && Enumerable.Range(0, mover.Sites).Any(s => dns.QueriesFor(DemoWorld.Host(mover, s)) > 0)) firstLookupSeen = now;
        if (firstLookupSeen is not { } seen || now < seen + AfterFirstLookup) return;
        for (var s = 0; s < mover.Sites; s++)
        {
            var host = DemoWorld.Host(mover, s);
            dns.Clear(host);
            dns.A(host, DemoWorld.Address(DemoWorld.MovesTo, 50 + s), DayTtl);
        }
        MovedAt = now;
    }
}
