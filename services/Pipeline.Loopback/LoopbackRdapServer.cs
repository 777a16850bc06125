using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Pipeline.Loopback;

namespace Pipeline.Geolocation.Simulation;

/// <summary>
/// An RDAP registry on 127.0.0.1 answering <c>GET /ip/{address}</c> with RFC 9083 "ip network" objects (the abuse
/// contact nested under the registrant, as the RIRs do), 404 for addresses outside its networks, and configurable
/// failures: a status code or a delay per network. It also answers <c>GET /domain/{name}</c> for the domains added with
/// <see cref="AddDomain"/> as a gTLD registry does under the ICANN RDAP profile: the registrar entity (role "registrar",
/// its IANA Registrar ID in publicIds) with its abuse contact nested (role "abuse"); 404 for other names.
/// </summary>
public sealed class LoopbackRdapServer : IAsyncDisposable
{
    public sealed record Network(string Cidr, string Handle, string Name, string Country, string? AbuseEmail)
    {
        public int? Status { get; set; }
        public TimeSpan Delay { get; set; }
    }

    public sealed record Domain(string Name, string RegistrarName, string IanaId, string? AbuseEmail)
    {
        public int? Status { get; set; }
    }

    private readonly WebApplication app;
    private readonly ConcurrentDictionary<string, Domain> domains = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<Network> networks = [];
    private readonly ConcurrentDictionary<string, int> requests = new();

    private LoopbackRdapServer(WebApplication app) => this.app = app;

    public string BaseUrl { get; private set; } = "";

    public int Requests => requests.Values.Sum();

    public int RequestsFor(string address) => requests.GetValueOrDefault(address);

    public static async Task<LoopbackRdapServer> StartAsync()
    {
        var server = new LoopbackRdapServer(LoopbackWeb.Create());
        server.app.MapGet("/ip/{address}", (string address, HttpContext context) => server.HandleAsync(address, context));
        server.app.MapGet("/domain/{name}", (string name, HttpContext context) => server.HandleDomainAsync(name, context));
        await server.app.StartAsync();
        server.BaseUrl = LoopbackWeb.BaseUrl(server.app).TrimEnd('/') + "/";
        return server;
    }

    public Network Add(string cidr, string handle, string name, string country, string? abuseEmail)
    {
        var n = new Network(cidr, handle, name, country, abuseEmail);
        lock (networks) networks.Add(n);
        return n;
    }

    /// <summary>Serves <paramref name="name"/> (a registered name, e.g. shop.example) with its registrar.</summary>
    public Domain AddDomain(string name, string registrarName, string ianaId, string? abuseEmail)
    {
        var d = new Domain(name.ToLowerInvariant(), registrarName, ianaId, abuseEmail);
        domains[d.Name] = d;
        return d;
    }

    private async Task HandleDomainAsync(string name, HttpContext context)
    {
        requests.AddOrUpdate("domain/" + name.ToLowerInvariant(), 1, (_, n) => n + 1);
        context.Response.ContentType = "application/rdap+json";
        if (!domains.TryGetValue(name, out var d))
        {
            context.Response.StatusCode = 404;
            await context.Response.WriteAsync("""{"errorCode":404,"title":"Not Found","description":["no such domain"]}""");
            return;
        }
        if (d.Status is { } status)
        {
            context.Response.StatusCode = status;
            return;
        }
        await context.Response.WriteAsync(Render(d));
    }

    /// <summary>An RFC 9083 domain object as a gTLD registry serves it.</summary>
    public static string Render(Domain d)
    {
        var registrar = new JsonObject
        {
            ["objectClassName"] = "entity",
            ["handle"] = d.IanaId,
            ["roles"] = new JsonArray("registrar"),
            ["publicIds"] = new JsonArray(new JsonObject { ["type"] = "IANA Registrar ID", ["identifier"] = d.IanaId }),
            ["vcardArray"] = Vcard(d.RegistrarName, null),
        };
        if (d.AbuseEmail is not null)
            registrar["entities"] = new JsonArray(new JsonObject
            {
                ["objectClassName"] = "entity",
                ["roles"] = new JsonArray("abuse"),
                ["vcardArray"] = Vcard("Abuse contact", d.AbuseEmail),
            });
        var root = new JsonObject
        {
            ["rdapConformance"] = new JsonArray("rdap_level_0", "icann_rdap_response_profile_1", "icann_rdap_technical_implementation_guide_1"),
            ["objectClassName"] = "domain",
            ["handle"] = "DOM-" + d.Name.ToUpperInvariant().Replace('.', '-'),
            ["ldhName"] = d.Name,
            ["status"] = new JsonArray("client transfer prohibited"),
            ["entities"] = new JsonArray(registrar),
        };
        return root.ToJsonString();
    }

    private static JsonArray Vcard(string fn, string? email)
    {
        var props = new JsonArray { new JsonArray("version", new JsonObject(), "text", "4.0"), new JsonArray("fn", new JsonObject(), "text", fn) };
        if (email is not null) props.Add(new JsonArray("email", new JsonObject(), "text", email));
        return new JsonArray("vcard", props);
    }

    private async Task HandleAsync(string address, HttpContext context)
    {
        requests.AddOrUpdate(address, 1, (_, n) => n + 1);
        if (!IPAddress.TryParse(address, out var ip))
        {
            context.Response.StatusCode = 400;
            return;
        }
        Network? match;
        lock (networks) match = networks.Where(n => IPNetwork.Parse(n.Cidr).Contains(ip)).OrderByDescending(n => IPNetwork.Parse(n.Cidr).PrefixLength).FirstOrDefault();
        if (match is null)
        {
            context.Response.StatusCode = 404;
            context.Response.ContentType = "application/rdap+json";
            await context.Response.WriteAsync("""{"errorCode":404,"title":"Not Found","description":["no network holds this address"]}""");
            return;
        }
        if (match.Delay > TimeSpan.Zero) await Task.Delay(match.Delay, context.RequestAborted);
        if (match.Status is { } status)
        {
            context.Response.StatusCode = status;
            return;
        }
        context.Response.ContentType = "application/rdap+json";
        await context.Response.WriteAsync(Render(match));
    }

    /// <summary>An RFC 9083 ip network object.</summary>
    public static string Render(Network n)
    {
        var network = IPNetwork.Parse(n.Cidr);
        var start = network.BaseAddress;
        var bytes = start.GetAddressBytes();
        for (var bit = network.PrefixLength; bit < bytes.Length * 8; bit++) bytes[bit / 8] |= (byte)(0x80 >> (bit % 8));
        var end = new IPAddress(bytes);
        var registrant = new JsonObject
        {
            ["objectClassName"] = "entity",
            ["handle"] = "ORG-" + n.Handle,
            ["roles"] = new JsonArray("registrant"),
            ["vcardArray"] = Vcard(n.Name, null),
        };
        if (n.AbuseEmail is not null)
            registrant["entities"] = new JsonArray(new JsonObject
            {
                ["objectClassName"] = "entity",
                ["handle"] = "ABUSE-" + n.Handle,
                ["roles"] = new JsonArray("abuse"),
                ["vcardArray"] = Vcard("Abuse desk", n.AbuseEmail),
            });
        var root = new JsonObject
        {
            ["rdapConformance"] = new JsonArray("rdap_level_0", "cidr0"),
            ["objectClassName"] = "ip network",
            ["handle"] = n.Handle,
            ["startAddress"] = start.ToString(),
            ["endAddress"] = end.ToString(),
            ["ipVersion"] = start.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "v6" : "v4",
            ["name"] = n.Name,
            ["type"] = "ASSIGNED PA",
            ["country"] = n.Country,
            ["entities"] = new JsonArray(registrant),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
