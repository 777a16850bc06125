using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Exchange;

public static class ExchangeService
{
    public const string InboundStage = "exchange-in";
    public const string DeadLetters = "deadletter.exchange.v1";

    public static string OutboundStage(string partner) => $"exchange-out-{partner}";

    /// <summary>One delivery stage per partner (its own consumer group on exchange.outbound.v1) and one intake stage
    /// for every partner's inbound topic. The partners are read from configuration now, to create the stages.</summary>
    public static PipelineHostBuilder AddExchange(this PipelineHostBuilder host)
    {
        host.Services.AddOptions<ExchangeOptions>().BindConfiguration(ExchangeOptions.Section).ValidateOnStart();
        host.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ExchangeOptions>, ExchangeOptionsValidator>());
        var options = host.Configuration.GetSection(ExchangeOptions.Section).Get<ExchangeOptions>() ?? new ExchangeOptions();
        if (options.Partners.Count == 0)
            throw new InvalidOperationException("Exchange:Partners is empty: the exchange gateway has no partner to deliver to or take reports from. Fix: configure at least one partner (Exchange:Partners:<id>:BootstrapServers, …).");
        foreach (var (id, endpoint) in options.Partners.Where(p => p.Value.Outbound))
        {
            host.AddStage(OutboundStage(id),
                sp => new PartnerDelivery(id, endpoint, sp.GetRequiredService<IOptions<ExchangeOptions>>().Value, sp.GetRequiredService<ILoggerFactory>().CreateLogger<PartnerDelivery>()),
                s => s.Consumes<ReportForwarded>(Topics.ExchangeOutbound).DeadLettersTo(DeadLetters));
        }
        var inbound = options.Partners.Where(p => p.Value.Inbound).Select(p => p.Key).ToList();
        if (inbound.Count > 0)
        {
            host.AddStage<PartnerIntake>(InboundStage, s =>
            {
                foreach (var id in inbound) s.Consumes<ReportForwarded>(Topics.ExchangeInbound(id));
                s.DeadLettersTo(DeadLetters);
            });
        }
        return host;
    }
}
