using Pipeline.Geolocation;

namespace Pipeline.Cli.Demo;

/// <summary>
/// The synthetic internet of the demo: hosters in documentation address ranges and ASNs, each with its own removal
/// behaviour, partner hotlines, and host names under .example. Nothing here is real.
/// </summary>
public sealed class DemoWorld
{
    public const string HomeCountry = "NL";
    public const string HomeHotline = "nl-hotline";
    /// <summary>The recheck's known-online control endpoint: the simulated web answers it like a hoster's server.</summary>
    public const string ControlUrl = "http://control.hotline.example/online";

    public sealed record Hoster(
        string Id, string Name, string Country, long Asn, string Prefix, string AbuseAddress,
        double MedianRemovalHours, double Sigma, double NeverRemoves, double Weight, bool BehindCdn = false, int Sites = SitesPerHoster);

    public static readonly IReadOnlyList<Hoster> Hosters =
    [
        new("nl-swift", "Swift Hosting (example)", "NL", 64496, "192.0.2.0/26", "abuse@swift-hosting.example", 1.5, 0.8, 0.00, 24),
        new("nl-steady", "Steady Servers (example)", "NL", 64497, "192.0.2.64/26", "abuse@steady-servers.example", 7, 0.7, 0.01, 18),
        new("nl-sluggish", "Sluggish Cloud (example)", "NL", 64498, "192.0.2.128/26", "abuse@sluggish-cloud.example", 30, 0.6, 0.08, 10),
        new("nl-edge", "Edge CDN (example)", "NL", 64499, "192.0.2.192/26", "abuse@edge-cdn.example", 12, 0.9, 0.03, 6, BehindCdn: true),
        new("de-host", "Rhein Rechenzentrum (example)", "DE", 64500, "198.51.100.0/26", "abuse@rhein-rz.example", 20, 0.8, 0.05, 12),
        new("gb-host", "Thames Hosting (example)", "GB", 64501, "198.51.100.64/26", "abuse@thames-hosting.example", 10, 0.8, 0.05, 10),
        new("us-host", "Prairie Web (example)", "US", 64502, "198.51.100.128/26", "abuse@prairie-web.example", 48, 1.0, 0.10, 8),
        new("sc-host", "Offshore Bulletproof (example)", "SC", 64503, "198.51.100.192/26", "abuse@offshore-bp.example", 400, 1.0, 0.60, 4),
        // The hoster whose sites move abroad mid-run in the demo (Mover): few sites, so most of its reports hit a site whose
        // old address geolocation still has cached when the move happens; slow enough that reminders are due after it.
        new(MoverId, "Nomad Hosting (example)", "NL", 64504, "203.0.113.0/26", "abuse@nomad-hosting.example", 30, 0.6, 0.20, 12, Sites: 4),
    ];

    /// <summary>The hoster that moves: in the demo its sites are served by a loopback DNS server (a day's TTL), its abuse
    /// desk is reached by e-mail (the delivery stage, which re-looks the host up before sending), and once geolocation
    /// has located its first report its sites move to <see cref="MovesTo"/> abroad (<see cref="DemoMove"/>).</summary>
    public const string MoverId = "nl-nomad";

    public static Hoster Mover => Hosters.Single(h => h.Id == MoverId);

    public static Hoster MovesTo => Hosters.Single(h => h.Id == "de-host");


    public static readonly IReadOnlyDictionary<string, string> Partners = new Dictionary<string, string>
    {
        ["DE"] = "de-hotline", ["GB"] = "gb-hotline", ["US"] = "us-hotline",
    };

    public const int SitesPerHoster = 40;

    public static string Host(Hoster h, int site) => $"site{site}.{h.Id}.example";

    /// <summary>The n-th address of a hoster's /26.</summary>
    public static string Address(Hoster h, int n)
    {
        var prefix = System.Net.IPNetwork.Parse(h.Prefix);
        var bytes = prefix.BaseAddress.GetAddressBytes();
        bytes[^1] = (byte)(bytes[^1] + 1 + n % 60);
        return new System.Net.IPAddress(bytes).ToString();
    }

    /// <summary>Geolocation's hosting table for this world (host names of unknown.example are left out on purpose).</summary>
    public static GeolocationOptions Geolocation()
    {
        var options = new GeolocationOptions();
        foreach (var h in Hosters)
        {
            for (var s = 0; s < h.Sites; s++) options.Hosts[Host(h, s)] = [Address(h, s)];
            options.Networks.Add(new NetworkEntry
            {
                Prefix = h.Prefix, Asn = h.Asn, AsOrganisation = h.Name, Country = h.Country, HosterId = h.Id, HosterName = h.Name,
                AbuseAddress = h.AbuseAddress, AbuseChannel = "Topic", BehindCdn = h.BehindCdn,
            });
        }
        return options;
    }

    /// <summary>The registrars of this world's domains (each hoster's sites are under its own domain, {id}.example), served
    /// by the demo's loopback RDAP registry; names under unknown.example are not registered there.</summary>
    public static void AddRegistrars(Pipeline.Geolocation.Simulation.LoopbackRdapServer registry)
    {
        for (var i = 0; i < Hosters.Count; i++)
            registry.AddDomain($"{Hosters[i].Id}.example", i % 2 == 0 ? "Example Names B.V. (demo)" : "Domains of Example Ltd (demo)", i % 2 == 0 ? "9990" : "9991",
                i % 2 == 0 ? "abuse@names-registrar.example" : "abuse@domains-registrar.example");
    }

    /// <summary>Flattens options into configuration keys, so the demo configures services the way an operator would.</summary>
    /// <param name="moverDns">The demo's loopback DNS server (host:port) serving the mover's sites, with the mover's desk on
    /// e-mail through the hotline's relay <paramref name="smtpPort"/>; null (the bench): the mover is a hoster like the others.</param>
    /// <param name="registry">The demo's loopback RDAP registry for .example (<see cref="AddRegistrars"/>): the escalation
    /// ladder's REGISTRAR step then asks it for each domain's registrar (by e-mail, through the relay) instead of the
    /// configured one; null (the bench): the configured registrar.</param>
    public static Dictionary<string, string?> Configuration(string? moverDns = null, int smtpPort = 0, string? registry = null)
    {
        var config = new Dictionary<string, string?>
        {
            ["Routing:HomeCountry"] = HomeCountry,
            ["Routing:HomeHotline"] = HomeHotline,
            ["Recheck:HomeHotline"] = HomeHotline,
            ["Recheck:PerHostSpacing"] = "00:00:00", // the demo's hosters are simulated in-process: nothing to be polite to
            ["Recheck:Controls:0"] = ControlUrl, // answered by the simulated web, like the hosters
            ["Recheck:ControlSpacing"] = "00:00:00",
            ["Takedown:SenderOrganisation"] = "Example Hotline (demo)",
            ["Takedown:SenderContact"] = "notices@hotline.example",
            ["Takedown:SenderDomain"] = "hotline.example",
            ["Takedown:Deadline"] = "1.00:00:00",
            // The escalation ladder's recipients in this world (notices on the topic channel, like the hosters').
            ["Takedown:Escalation:Authority:Name"] = "Example Authority (demo)",
            ["Takedown:Escalation:Authority:Address"] = "reports@authority.example",
            ["Takedown:Escalation:Authority:Channel"] = "Topic",
            ["Takedown:Escalation:Registrars:example:Name"] = "Example Registrar (demo)",
            ["Takedown:Escalation:Registrars:example:Address"] = "abuse@registrar.example",
            ["Takedown:Escalation:Registrars:example:Channel"] = "Topic",
            ["Takedown:Escalation:SiteOwners:example:Name"] = "Site owners' desk (demo)",
            ["Takedown:Escalation:SiteOwners:example:Address"] = "owners@sites.example",
            ["Takedown:Escalation:SiteOwners:example:Channel"] = "Topic",
        };
        foreach (var (country, partner) in Partners) config[$"Routing:Partners:{country}"] = partner;
        var geo = Geolocation();
        if (moverDns is not null)
        {
            for (var s = 0; s < Mover.Sites; s++) geo.Hosts.Remove(Host(Mover, s)); // asked of DNS, where they move
            geo.Networks.Single(n => n.HosterId == MoverId).AbuseChannel = "Email";
            config["Geolocation:Dns:NameServers:0"] = moverDns;
            config["Geolocation:Dns:MaxCacheSeconds"] = "86400"; // the mover's records have a day's TTL: geolocation keeps the old answer
            config["Takedown:Delivery:Smtp:Host"] = "127.0.0.1";
            config["Takedown:Delivery:Smtp:Port"] = smtpPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
            config["Takedown:Delivery:Smtp:Security"] = "None";
        }
        if (registry is not null && moverDns is not null)
        {
            foreach (var key in config.Keys.Where(k => k.StartsWith("Takedown:Escalation:Registrars:", StringComparison.Ordinal)).ToList()) config.Remove(key);
            config["Geolocation:Rdap:Domains:0:Suffix"] = "example";
            config["Geolocation:Rdap:Domains:0:BaseUrl"] = registry;
            config["Geolocation:Rdap:TrustContacts"] = "true"; // the demo's registrars are approved (no IP registries: hosters come from the table)
        }
        foreach (var (host, ips) in geo.Hosts)
            for (var i = 0; i < ips.Count; i++) config[$"Geolocation:Hosts:{host}:{i}"] = ips[i];
        for (var i = 0; i < geo.Networks.Count; i++)
        {
            var n = geo.Networks[i];
            var p = $"Geolocation:Networks:{i}:";
            config[p + "Prefix"] = n.Prefix;
            config[p + "Asn"] = n.Asn.ToString(System.Globalization.CultureInfo.InvariantCulture);
            config[p + "AsOrganisation"] = n.AsOrganisation;
            config[p + "Country"] = n.Country;
            config[p + "HosterId"] = n.HosterId;
            config[p + "HosterName"] = n.HosterName;
            config[p + "AbuseAddress"] = n.AbuseAddress;
            config[p + "AbuseChannel"] = n.AbuseChannel;
            config[p + "BehindCdn"] = n.BehindCdn ? "true" : "false";
        }
        return config;
    }
}
