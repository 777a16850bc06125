using Confluent.SchemaRegistry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Pipeline.Platform;

/// <summary>
/// Builds a service: options validated at start, Schema Registry client and serdes, one processor host per stage,
/// and the HTTP endpoints /health/live, /health/ready and /metrics.
/// <code>PipelineHost.CreateBuilder(args).AddStage&lt;RoutingProcessor&gt;("routing", s => s.Consumes&lt;ReportClassified&gt;(Topics.ReportsClassified)).Build().Run();</code>
/// </summary>
public sealed class PipelineHostBuilder
{
    private readonly List<StageDefinition> stages = [];

    internal PipelineHostBuilder(WebApplicationBuilder builder)
    {
        Builder = builder;
        AddPlatform(builder.Services);
    }

    public WebApplicationBuilder Builder { get; }

    public IServiceCollection Services => Builder.Services;

    public ConfigurationManager Configuration => Builder.Configuration;

    public IReadOnlyList<StageDefinition> Stages => stages;

    public static void AddPlatform(IServiceCollection services)
    {
        services.AddOptions<KafkaOptions>().BindConfiguration(KafkaOptions.Section).ValidateOnStart();
        services.AddOptions<ProcessingOptions>().BindConfiguration(ProcessingOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KafkaOptions>, KafkaOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProcessingOptions>, ProcessingOptionsValidator>());
        services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RetentionOptions>, RetentionOptionsValidator>());
        PipelineTelemetry.Add(services);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<StageHealth>();
        services.TryAddSingleton<ISchemaRegistryClient>(sp =>
            new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = sp.GetRequiredService<IOptions<KafkaOptions>>().Value.SchemaRegistryUrl }));
        services.TryAddSingleton(sp => new AvroSerdes(sp.GetRequiredService<ISchemaRegistryClient>(), sp.GetRequiredService<IOptions<KafkaOptions>>().Value.AutoRegisterSchemas));
        services.TryAddSingleton(sp => new EventPublisher(sp.GetRequiredService<IOptions<KafkaOptions>>(), sp.GetRequiredService<AvroSerdes>()));
        services.AddHealthChecks()
            .AddCheck<LivenessCheck>("stages-live", tags: ["live"])
            .AddCheck<ReadinessCheck>("stages-ready", tags: ["ready"]);
    }

    /// <summary>Adds a stage: its processor (a singleton) consuming the declared topics as consumer group <paramref name="name"/>.</summary>
    public PipelineHostBuilder AddStage<TProcessor>(string name, Action<StageInputs<TProcessor>> inputs) where TProcessor : class
    {
        var definition = new StageDefinition(name, typeof(TProcessor));
        inputs(new StageInputs<TProcessor>(definition));
        if (definition.Inputs.Count == 0) throw new InvalidOperationException($"Stage {name} consumes no topic.");
        stages.Add(definition);
        Services.TryAddSingleton<TProcessor>();
        Services.AddSingleton<IHostedService>(sp => ActivatorUtilities.CreateInstance<ProcessorHost>(sp, definition, sp.GetRequiredService<TProcessor>()));
        return this;
    }

    /// <summary>Adds a stage whose processor instance is made by <paramref name="factory"/> (several stages of one
    /// processor type, e.g. one per partner hotline).</summary>
    public PipelineHostBuilder AddStage<TProcessor>(string name, Func<IServiceProvider, TProcessor> factory, Action<StageInputs<TProcessor>> inputs) where TProcessor : class
    {
        var definition = new StageDefinition(name, typeof(TProcessor));
        inputs(new StageInputs<TProcessor>(definition));
        if (definition.Inputs.Count == 0) throw new InvalidOperationException($"Stage {name} consumes no topic.");
        stages.Add(definition);
        // The processor made here belongs to its host, which disposes it: the container never saw it. (An exchange
        // partner's producer outlived its service this way and kept writing to whatever cluster later took its port.)
        Services.AddSingleton<IHostedService>(sp =>
        {
            var processor = factory(sp);
            var host = ActivatorUtilities.CreateInstance<ProcessorHost>(sp, definition, processor);
            host.OwnedProcessor = processor as IDisposable;
            return host;
        });
        return this;
    }

    public WebApplication Build()
    {
        var app = Builder.Build();
        MapEndpoints(app);
        return app;
    }

    public static void MapEndpoints(WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = c => c.Tags.Contains("live") });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
        app.MapMetrics("/metrics");
    }
}

public static class PipelineHost
{
    /// <summary>A service host. Listens on Urls (default http://0.0.0.0:8080, override with --urls or ASPNETCORE_URLS).</summary>
    public static PipelineHostBuilder CreateBuilder(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        // --config <file> (or PIPELINE_CONFIG) layers one more JSON file over appsettings.json, e.g. a hoster table.
        var extra = builder.Configuration["config"] ?? Environment.GetEnvironmentVariable("PIPELINE_CONFIG");
        if (!string.IsNullOrEmpty(extra))
        {
            if (!File.Exists(extra)) throw new FileNotFoundException($"The configuration file given by --config/PIPELINE_CONFIG does not exist: {extra}. Fix: pass the path of an existing JSON file.", extra);
            builder.Configuration.AddJsonFile(Path.GetFullPath(extra), optional: false, reloadOnChange: false);
            builder.Configuration.AddEnvironmentVariables();
            builder.Configuration.AddCommandLine(args);
        }
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
            builder.WebHost.UseUrls("http://0.0.0.0:8080");
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        return new PipelineHostBuilder(builder);
    }
}
