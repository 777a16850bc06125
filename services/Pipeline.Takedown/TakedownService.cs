using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Geolocation;
using Pipeline.Platform;

namespace Pipeline.Takedown;

public static class TakedownService
{
    public const string Stage = "takedown";

    /// <summary>The consumer group of the delivery stage (its dead letters go to the takedown stage's topic).</summary>
    public const string DeliveryStage = "takedown-delivery";

    /// <summary>The consumer group that collects e-mail and webhook notices per recipient into batches.</summary>
    public const string BatchingStage = "takedown-batching";

    public static PipelineHostBuilder AddTakedown(this PipelineHostBuilder host)
    {
        AddTakedownOptions(host.Services);
        host.Services.TryAddSingleton<ReminderTimers>();
        host.Services.TryAddSingleton<ContactDirectory>();
        host.Services.TryAddSingleton<ContactRules>();
        host.Services.TryAddSingleton<HeldNotices>();
        host.Services.TryAddSingleton<RouteState>();
        host.Services.AddHostingLookup(); // the RDAP client: a domain's registrar for the escalation ladder
        return host.AddStage<TakedownProcessor>(Stage, s => s
            .Consumes<TakedownRequested>(Topics.TakedownRequested)
            .Consumes<ContentStatusObserved>(Topics.ContentStatus)
            .Consumes<HashRetracted>(Topics.HashesRetractions)
            // Only a reversed assessment (NOT_ILLEGAL: the notice is withdrawn) and a MOVED delivery (the case is routed
            // again) are acted on; the rest of those topics is passed over after reading the verdict or the status.
            .Consumes<ReportClassified>(Topics.ReportsClassified, c => c.verdict == Verdict.NOT_ILLEGAL,
                AvroProjection.Skip("ReportClassified", "report", "caseInfo", "hosting", "matches", "assessment"))
            .Consumes<NoticeDelivery>(Topics.NoticeDeliveries, d => d.status == DeliveryStatus.MOVED,
                AvroProjection.Skip("NoticeDelivery", "address", "detail", "notice", "movedTo"))
            .CoPartitioned(Topics.TakedownReminders, Topics.TakedownHeld, Topics.TakedownRoutes));
    }

    /// <summary>Binds section Takedown once, however many of its stages the host runs: the binder appends a list
    /// (Takedown:Escalation:Steps) to what an earlier binding put there, so a second binding would double the ladder.</summary>
    private static void AddTakedownOptions(IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(TakedownOptionsBound))) return;
        services.AddSingleton<TakedownOptionsBound>();
        services.AddOptions<TakedownOptions>().BindConfiguration(TakedownOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TakedownOptions>, TakedownOptionsValidator>());
    }

    private sealed class TakedownOptionsBound;

    /// <summary>Adds the delivery stage: every notice on notices.issued.v1 is delivered once by the recipient's channel
    /// (e-mail, webhook, or the topic itself), with retries, and its outcome published on notices.deliveries.v1. With
    /// Takedown:Delivery:BatchWindow above zero, e-mail and webhook notices go through the batching stage, which sends
    /// the notices for one recipient within the window together.
    /// Needs section Takedown:Delivery (an SMTP relay at least).</summary>
    public static PipelineHostBuilder AddNoticeDelivery(this PipelineHostBuilder host)
    {
        AddTakedownOptions(host.Services);
        host.Services.AddOptions<DeliveryOptions>().BindConfiguration(DeliveryOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DeliveryOptions>, DeliveryOptionsValidator>());
        host.Services.TryAddSingleton<DeliveryState>();
        host.Services.TryAddSingleton(sp => new EmailChannel(sp.GetRequiredService<IOptions<DeliveryOptions>>().Value.Smtp, sp.GetRequiredService<IOptions<TakedownOptions>>().Value));
        host.Services.TryAddSingleton(sp => new WebhookChannel(
            new HttpClient(WebhookChannel.Handler()) { Timeout = Timeout.InfiniteTimeSpan }, sp.GetRequiredService<IOptions<DeliveryOptions>>().Value.Webhook));
        host.Services.AddHostingLookup();
        host.Services.TryAddSingleton(sp => HostRelookup.Gate(sp.GetRequiredService<IOptions<DeliveryOptions>>(),
            sp.GetRequiredService<IOptions<GeolocationOptions>>(), sp.GetRequiredService<HostingLocator>()));
        host.Services.TryAddSingleton<NoticeDeliverer>();
        host.Services.TryAddSingleton<BatchState>();
        host.Services.TryAddSingleton<ContactDirectory>();
        host.Services.TryAddSingleton<GroupingWindows>();
        host.AddStage<BatchProcessor>(BatchingStage, s => s.Consumes<TakedownNotice>(Topics.TakedownBatching).CoPartitioned(Topics.TakedownBatches).DeadLettersTo(Topics.DeadLetter(Stage)));
        return host.AddStage<DeliveryProcessor>(DeliveryStage, s => s.Consumes<TakedownNotice>(Topics.NoticesIssued).CoPartitioned(Topics.TakedownDeliveryState).DeadLettersTo(Topics.DeadLetter(Stage)));
    }
}
