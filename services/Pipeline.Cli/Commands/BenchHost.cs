using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;

namespace Pipeline.Cli.Commands;

/// <summary>The host a bench runs its stage in: the embedded runtime's Kafka and registry, a free loopback port, the
/// bench's own settings, and warnings only, so the figures are not buried in logs.</summary>
internal static class BenchHost
{
    public static PipelineHostBuilder Create(EmbeddedRuntime runtime, IDictionary<string, string?> settings)
    {
        var builder = PipelineHost.CreateBuilder(["--urls=http://127.0.0.1:0"]);
        builder.Builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(runtime.Configuration);
        builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }
}
