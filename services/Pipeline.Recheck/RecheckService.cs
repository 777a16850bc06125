using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Recheck;

public static class RecheckService
{
    public const string Stage = "recheck";

    /// <summary>Adds the recheck stage. Without a registered <see cref="IContentProbe"/> the HTTP status probe is used.</summary>
    public static PipelineHostBuilder AddRecheck(this PipelineHostBuilder host)
    {
        host.Services.AddOptions<RecheckOptions>().BindConfiguration(RecheckOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RecheckOptions>, RecheckOptionsValidator>());
        host.Services.TryAddSingleton(sp => new RecheckSchedule(sp.GetRequiredService<IOptions<RecheckOptions>>().Value));
        host.Services.TryAddSingleton<RecheckStateStore>();
        host.Services.TryAddSingleton<IContentProbe>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<RecheckOptions>>().Value;
            var client = new HttpClient(HttpContentProbe.Handler(options.ResolveOverrides)) { Timeout = options.ProbeTimeout };
            client.DefaultRequestHeaders.UserAgent.ParseAdd("hotline-pipeline-recheck/1.0 (status check; no content is stored)");
            return new HttpContentProbe(client);
        });
        host.Services.TryAddSingleton(sp => new HostPoliteness(sp.GetRequiredService<IOptions<RecheckOptions>>().Value, TimeProvider.System));
        host.Services.TryAddSingleton<HosterConfirmations>();
        host.Services.TryAddSingleton(sp => new NetworkControls(sp.GetRequiredService<IContentProbe>(), sp.GetRequiredService<IOptions<RecheckOptions>>(), TimeProvider.System));
        return host.AddStage<RecheckProcessor>(Stage, s => s
            .Skipping(AvroProjection.NoticeBodies) // checks keep notices WithoutBodies()
            .Consumes<TakedownNotice>(Topics.NoticesIssued).Consumes<NoticeDelivery>(Topics.NoticeDeliveries).CoPartitioned(Topics.RecheckSchedule));
    }
}
