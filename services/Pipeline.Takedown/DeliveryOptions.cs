using MailKit.Security;
using Microsoft.Extensions.Options;

namespace Pipeline.Takedown;

/// <summary>Section <c>Takedown:Delivery</c>: how notices reach the hosters (SMTP, webhooks) and how failed
/// deliveries are retried. Secrets (SMTP password, webhook secrets) come from the environment, e.g.
/// <c>Takedown__Delivery__Smtp__Password</c>, <c>Takedown__Delivery__Webhook__Secret</c>,
/// <c>Takedown__Delivery__Webhook__Secrets__&lt;hosterId&gt;</c>; never from a config file.</summary>
public sealed class DeliveryOptions
{
    public const string Section = "Takedown:Delivery";

    public SmtpSettings Smtp { get; set; } = new();

    public WebhookSettings Webhook { get; set; } = new();

    /// <summary>E-mail and webhook notices for the same recipient that reach the delivery stage within this window of the
    /// first (stage clock) go out together as one mail or POST; 00:00:00 sends each notice on its own.</summary>
    public TimeSpan BatchWindow { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>At most this many notices in one mail or POST; a full batch closes at its time and the next notice opens
    /// another. The fault run put 863 notices in one webhook batch, whose X-Notice-Ids header the receiver refused
    /// (HTTP 431), failing all 863; an abuse desk does not want hundreds of notices in one message either.</summary>
    public int MaxBatchSize { get; set; } = 50;

    /// <summary>Delay before the second attempt; it doubles with each further attempt up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMinutes(1);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Attempts (first one included) before a transiently failing delivery ends as FAILED.</summary>
    public int MaxAttempts { get; set; } = 10;

    /// <summary>Retries run in parallel up to this many (the first attempt of a notice runs in the consume loop).</summary>
    public int RetryConcurrency { get; set; } = 4;

    /// <summary>The wait after <paramref name="failedAttempts"/> failed attempts: the platform's one backoff
    /// (<see cref="Pipeline.Platform.Backoff"/>). A retry is scheduled on the stage clock and kept in state, so it
    /// survives restarts; that is why this is a delay and not a running retry loop.</summary>
    public TimeSpan Backoff(int failedAttempts) => new Pipeline.Platform.Backoff(InitialBackoff, MaxBackoff).Delay(failedAttempts);

    /// <summary>Section <c>Takedown:Delivery:Relookup</c>: the host looked up again, caches bypassed, just before a
    /// notice, reminder or escalation leaves (with the lookup settings of section Geolocation).</summary>
    public RelookupSettings Relookup { get; set; } = new();

    public sealed class RelookupSettings
    {
        /// <summary>True: always; false: never; unset: when section Geolocation configures a lookup source.</summary>
        public bool? Enabled { get; set; }

        /// <summary>Lookups of a host before a failure counts (the notice then goes out on the routing-time hosting).</summary>
        public int Attempts { get; set; } = 2;
    }

    public sealed class SmtpSettings
    {
        /// <summary>The hotline's outgoing mail server (its relay), not the hoster's MX.</summary>
        public string Host { get; set; } = "";
        public int Port { get; set; } = 587;
        /// <summary>None, Auto, SslOnConnect, StartTls or StartTlsWhenAvailable (MailKit's SecureSocketOptions).</summary>
        public SecureSocketOptions Security { get; set; } = SecureSocketOptions.StartTlsWhenAvailable;
        public string? Username { get; set; }
        /// <summary>Secret: Takedown__Delivery__Smtp__Password in the environment.</summary>
        public string? Password { get; set; }
        /// <summary>The From address; empty means Takedown:SenderContact.</summary>
        public string? From { get; set; }
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
    }

    public sealed class WebhookSettings
    {
        /// <summary>HMAC-SHA256 key for hosters without their own (Takedown__Delivery__Webhook__Secret).</summary>
        public string? Secret { get; set; }
        /// <summary>Per-hoster keys by hoster id (Takedown__Delivery__Webhook__Secrets__&lt;hosterId&gt;).</summary>
        public Dictionary<string, string> Secrets { get; set; } = new(StringComparer.OrdinalIgnoreCase);
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(15);
    }
}

internal sealed class DeliveryOptionsValidator : IValidateOptions<DeliveryOptions>
{
    public ValidateOptionsResult Validate(string? name, DeliveryOptions o)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.Smtp.Host))
            errors.Add("Takedown:Delivery:Smtp:Host is not set. Fix: name the hotline's outgoing mail relay (e.g. smtp.hotline.example), with Takedown:Delivery:Smtp:Port.");
        if (o.Smtp.Port is < 1 or > 65535)
            errors.Add($"Takedown:Delivery:Smtp:Port {o.Smtp.Port} is not a TCP port. Fix: use 587 (submission), 465 (SMTPS) or 25.");
        if (!string.IsNullOrEmpty(o.Smtp.Username) && string.IsNullOrEmpty(o.Smtp.Password))
            errors.Add("Takedown:Delivery:Smtp:Username is set without a password. Fix: set the environment variable Takedown__Delivery__Smtp__Password.");
        if (o.Smtp.From is { Length: > 0 } from && !from.Contains('@', StringComparison.Ordinal))
            errors.Add($"Takedown:Delivery:Smtp:From '{from}' is not an e-mail address. Fix: set the notice desk's address or leave it empty to use Takedown:SenderContact.");
        if (o.Smtp.Timeout <= TimeSpan.Zero || o.Webhook.Timeout <= TimeSpan.Zero)
            errors.Add("Takedown:Delivery:Smtp:Timeout and Takedown:Delivery:Webhook:Timeout must be positive. Fix: e.g. 00:00:30.");
        if (o.InitialBackoff <= TimeSpan.Zero || o.MaxBackoff < o.InitialBackoff)
            errors.Add($"Takedown:Delivery:InitialBackoff ({o.InitialBackoff}) must be positive and at most Takedown:Delivery:MaxBackoff ({o.MaxBackoff}). Fix: e.g. 00:01:00 and 01:00:00.");
        if (o.Relookup.Attempts is < 1 or > 5)
            errors.Add($"Takedown:Delivery:Relookup:Attempts {o.Relookup.Attempts} is outside 1..5. Fix: 2 (one retry) suits a flaky resolver; more only delays notices while DNS is down.");
        if (o.MaxBatchSize is < 1 or > 500)
            errors.Add($"Takedown:Delivery:MaxBatchSize {o.MaxBatchSize} must lie between 1 and 500. Fix: e.g. 50 (the notice ids of a batch travel in one header).");
        if (o.MaxAttempts is < 1 or > 100)
            errors.Add($"Takedown:Delivery:MaxAttempts {o.MaxAttempts} must lie between 1 and 100. Fix: e.g. 10 (with the default backoff about 8 hours of retrying).");
        if (o.BatchWindow < TimeSpan.Zero || o.BatchWindow > TimeSpan.FromHours(1))
            errors.Add($"Takedown:Delivery:BatchWindow {o.BatchWindow} must lie between 0 and 1 hour (a notice waits that long for others to the same recipient). Fix: e.g. 00:02:00, or 00:00:00 to send each notice on its own.");
        if (o.RetryConcurrency is < 1 or > 64)
            errors.Add($"Takedown:Delivery:RetryConcurrency {o.RetryConcurrency} must lie between 1 and 64. Fix: e.g. 4.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
