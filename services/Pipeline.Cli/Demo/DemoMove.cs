using Pipeline.Geolocation.Simulation;

namespace Pipeline.Cli.Demo;

/// <summary>
/// The demo's moving hoster (<see cref="DemoWorld.Mover"/>): its sites are served by the demo's loopback DNS server with
/// a day's TTL, and at the scheduled time (stage clock) their A records change to addresses of a hoster abroad
/// (<see cref="DemoWorld.MovesTo"/>). Geolocation keeps the old answer in its cache; the delivery's re-lookup before
/// sending bypasses it, finds the move, records MOVED and the case is routed again.
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

    /// <summary>Moves the sites once <paramref name="moverLocated"/> (the demo's loop calls it).</summary>
    public void MoveIfDue(bool moverLocated, DateTime now)
    {
        if (MovedAt is not null || !moverLocated) return;
        var mover = DemoWorld.Mover;
        for (var s = 0; s < mover.Sites; s++)
        {
            var host = DemoWorld.Host(mover, s);
            dns.Clear(host);
            dns.A(host, DemoWorld.Address(DemoWorld.MovesTo, 50 + s), DayTtl);
        }
        MovedAt = now;
    }
}
