using Microsoft.Extensions.Options;

namespace Pipeline.Exchange;

/// <summary>Section <c>Exchange</c>: this hotline's id and how to reach each partner hotline.</summary>
public sealed class ExchangeOptions
{
    public const string Section = "Exchange";

    /// <summary>This hotline's id (must equal Routing:HomeHotline).</summary>
    public string HomeHotline { get; set; } = "";

    /// <summary>A forwarded report that has passed through more hotlines than this is refused on arrival.</summary>
    public int MaxHops { get; set; } = 4;

    /// <summary>How long one delivery attempt to a partner cluster may take before the partner counts as down.</summary>
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>While a partner is down, its deliveries are retried after this long (that partner only).</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Partner hotline id → how to reach it.</summary>
    public Dictionary<string, PartnerEndpoint> Partners { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>One partner hotline: its own Kafka cluster and Schema Registry, where we deliver, and whether we take
/// its reports in (from exchange.inbound.&lt;partner&gt;.v1 on our cluster, writable only by that partner).</summary>
public sealed class PartnerEndpoint
{
    public string BootstrapServers { get; set; } = "";
    public string SchemaRegistryUrl { get; set; } = "";
    /// <summary>The topic on the partner's cluster we deliver to; default exchange.inbound.&lt;our id&gt;.v1.</summary>
    public string? Topic { get; set; }
    public string SecurityProtocol { get; set; } = "Plaintext";
    public string? SaslMechanism { get; set; }
    public string? SaslUsername { get; set; }
    /// <summary>Secret: through the environment (Exchange__Partners__&lt;id&gt;__SaslPassword), never a file.</summary>
    public string? SaslPassword { get; set; }
    public string? SslCaLocation { get; set; }
    /// <summary>Deliver forwarded reports to this partner.</summary>
    public bool Outbound { get; set; } = true;
    /// <summary>Take this partner's reports in.</summary>
    public bool Inbound { get; set; } = true;
}

internal sealed class ExchangeOptionsValidator : IValidateOptions<ExchangeOptions>
{
    public ValidateOptionsResult Validate(string? name, ExchangeOptions o)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.HomeHotline))
            errors.Add("Exchange:HomeHotline is empty. Fix: set this hotline's id (the same as Routing:HomeHotline), e.g. nl-hotline.");
        if (o.MaxHops is < 1 or > 20) errors.Add($"Exchange:MaxHops {o.MaxHops} must lie within 1–20. Fix: use e.g. 4.");
        if (o.DeliveryTimeout < TimeSpan.FromMilliseconds(100)) errors.Add("Exchange:DeliveryTimeout must be at least 00:00:00.1. Fix: use e.g. 00:00:10.");
        if (o.RetryAfter <= TimeSpan.Zero) errors.Add("Exchange:RetryAfter must be positive. Fix: use e.g. 00:00:05.");
        foreach (var (id, p) in o.Partners)
        {
            var at = $"Exchange:Partners:{id}";
            if (string.Equals(id, o.HomeHotline, StringComparison.OrdinalIgnoreCase))
                errors.Add($"{at} is this hotline. Fix: list only other hotlines as partners.");
            if (!id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
                errors.Add($"{at}: the id may only hold letters, digits, '-' and '_' (it becomes part of a topic name). Fix: rename it.");
            if (p.Outbound)
            {
                if (string.IsNullOrWhiteSpace(p.BootstrapServers) || p.BootstrapServers.Split(',').Any(s => !s.Contains(':', StringComparison.Ordinal)))
                    errors.Add($"{at}:BootstrapServers '{p.BootstrapServers}' must be host:port[,host:port] of the partner's cluster. Fix: set it, or set {at}:Outbound=false.");
                if (!Uri.TryCreate(p.SchemaRegistryUrl, UriKind.Absolute, out var u) || (u.Scheme != "http" && u.Scheme != "https"))
                    errors.Add($"{at}:SchemaRegistryUrl '{p.SchemaRegistryUrl}' is not an http(s) URL. Fix: set the partner's Schema Registry URL.");
            }
            if (!new[] { "Plaintext", "Ssl", "SaslPlaintext", "SaslSsl" }.Contains(p.SecurityProtocol, StringComparer.OrdinalIgnoreCase))
                errors.Add($"{at}:SecurityProtocol '{p.SecurityProtocol}' is not Plaintext, Ssl, SaslPlaintext or SaslSsl. Fix: pick one.");
            if (p.SecurityProtocol.StartsWith("Sasl", StringComparison.OrdinalIgnoreCase) && (string.IsNullOrEmpty(p.SaslUsername) || string.IsNullOrEmpty(p.SaslPassword)))
                errors.Add($"{at} uses SASL but SaslUsername or SaslPassword is empty. Fix: set both (the password through the environment).");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
