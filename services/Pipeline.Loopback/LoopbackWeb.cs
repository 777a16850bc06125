using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Pipeline.Loopback;

/// <summary>The web servers the tests and benchmarks stand up (hoster sites, webhook receivers, RDAP): Kestrel on
/// 127.0.0.1 at a port the system picks, logging warnings and errors only. After <c>StartAsync</c>, <see cref="BaseUrl"/> is
/// where it listens.</summary>
public static class LoopbackWeb
{
    public static WebApplication Create()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        return builder.Build();
    }

    /// <summary>The started app's address, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public static string BaseUrl(WebApplication app) => app.Urls.First();
}
