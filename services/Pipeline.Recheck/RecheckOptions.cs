using Microsoft.Extensions.Options;

namespace Pipeline.Recheck;

/// <summary>Section <c>Recheck</c>: when noticed URLs are checked and when a URL counts as removed.</summary>
public sealed class RecheckOptions
{
    public const string Section = "Recheck";

    public TimeSpan FirstCheckAfter { get; set; } = TimeSpan.FromMinutes(15);
    /// <summary>Routine interval while the URL is online (SCARt: about hourly), for as long as it is open: a removal is
    /// measured at most this late.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);
    /// <summary>The cadence promised: every open URL gets a conclusive check at least this often. The oldest last check
    /// beyond it raises RecheckChecksOverdue; <see cref="Interval"/> must fit in it.</summary>
    public TimeSpan MaxCheckAge { get; set; } = TimeSpan.FromMinutes(120);
    /// <summary>Known-online endpoints probed (like a check, through the same network path) before a miss or an
    /// unanswered check is believed; see <see cref="NetworkControls"/>. Pick two or three on different networks.</summary>
    public List<string> Controls { get; set; } = [];
    /// <summary>Controls that must answer online for a round to pass.</summary>
    public int MinControlsOnline { get; set; } = 1;
    /// <summary>Least time between the starts of two control rounds (real time).</summary>
    public TimeSpan ControlSpacing { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Spacing of the checks that confirm a miss.</summary>
    public TimeSpan MissSpacing { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Consecutive misses before a URL counts as removed (SCARt: 3); any success resets the count.</summary>
    public int MissesForRemoval { get; set; } = 3;
    /// <summary>Stop checking a URL that is still online after this long (it stays open in the SLA).</summary>
    public TimeSpan GiveUpAfter { get; set; } = TimeSpan.FromDays(30);
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Host name → "address[:port]" used instead of DNS (tests and sandboxed set-ups; empty in production).</summary>
    public Dictionary<string, string> ResolveOverrides { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Checks run at the same time.</summary>
    public int Concurrency { get; set; } = 16;

    /// <summary>Checks of one host run at the same time (politeness).</summary>
    public int PerHostConcurrency { get; set; } = 2;

    /// <summary>Minimum time between the starts of two checks of one host (politeness; real time, not the stage clock).</summary>
    public TimeSpan PerHostSpacing { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>After a confirmed removal the URL is checked this often, looking for a re-upload.</summary>
    public TimeSpan WatchInterval { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long after a confirmed removal the URL is watched for a re-upload; 00:00:00 stops at removal.</summary>
    public TimeSpan WatchFor { get; set; } = TimeSpan.FromDays(30);

    /// <summary>The hotline this pipeline runs for: the source of the re-upload reports the recheck raises itself.</summary>
    public string HomeHotline { get; set; } = "";

    public ConfirmationSettings Confirmations { get; set; } = new();

    /// <summary>Section <c>Recheck:Confirmations</c>: hosters confirming removal at
    /// <c>POST /v1/notices/{noticeId}/confirmation</c>, signed like our webhooks (<c>X-Signature: sha256=&lt;hex HMAC-SHA256
    /// of the body&gt;</c>). Secrets come from the environment (<c>Recheck__Confirmations__Secrets__&lt;hosterId&gt;</c>,
    /// the same key as <c>Takedown__Delivery__Webhook__Secrets__&lt;hosterId&gt;</c>), never from a config file.</summary>
    public sealed class ConfirmationSettings
    {
        public bool Enabled { get; set; } = true;
        /// <summary>Key for hosters without their own.</summary>
        public string? Secret { get; set; }
        /// <summary>Keys by hoster id.</summary>
        public Dictionary<string, string> Secrets { get; set; } = new(StringComparer.OrdinalIgnoreCase);
        /// <summary>A claimed removal time later than the receipt by more than this is refused (clock skew).</summary>
        public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

        public string? SecretFor(string? hosterId) =>
            hosterId is not null && Secrets.TryGetValue(hosterId, out var own) && !string.IsNullOrEmpty(own) ? own
            : string.IsNullOrEmpty(Secret) ? null : Secret;
    }
}

public sealed class RecheckOptionsValidator : IValidateOptions<RecheckOptions>
{
    public ValidateOptionsResult Validate(string? name, RecheckOptions o)
    {
        var errors = new List<string>();
        if (o.Interval <= TimeSpan.Zero) errors.Add("Recheck:Interval must be positive. Fix: use e.g. 01:00:00.");
        if (o.Interval > o.MaxCheckAge)
            errors.Add($"Recheck:Interval {o.Interval} is longer than Recheck:MaxCheckAge {o.MaxCheckAge}: open URLs would not be checked as often as promised. Fix: use an Interval of at most MaxCheckAge (default 01:00:00 within 02:00:00).");
        if (o.Controls.Count == 0)
            errors.Add("Recheck:Controls is empty: without known-online control endpoints a failure of the hotline's own network or DNS would count as removals. Fix: list two or three URLs that are always online, on different networks (e.g. Recheck__Controls__0=https://www.example.org/).");
        foreach (var (control, i) in o.Controls.Select((c, i) => (c, i)))
            if (!Uri.TryCreate(control, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                errors.Add($"Recheck:Controls:{i} '{control}' is not an absolute http(s) URL. Fix: e.g. https://www.example.org/.");
        if (o.MinControlsOnline < 1 || (o.Controls.Count > 0 && o.MinControlsOnline > o.Controls.Count))
            errors.Add($"Recheck:MinControlsOnline {o.MinControlsOnline} must be within 1 and the number of Recheck:Controls ({o.Controls.Count}). Fix: use 1 (any control answering shows the network works).");
        if (o.ControlSpacing < TimeSpan.Zero || o.ControlSpacing > TimeSpan.FromMinutes(10))
            errors.Add($"Recheck:ControlSpacing {o.ControlSpacing} must be within 00:00:00 and 00:10:00. Fix: use e.g. 00:00:10.");
        if (o.FirstCheckAfter < TimeSpan.Zero) errors.Add("Recheck:FirstCheckAfter must not be negative.");
        if (o.MissSpacing <= TimeSpan.Zero) errors.Add("Recheck:MissSpacing must be positive. Fix: use e.g. 00:05:00.");
        if (o.MissesForRemoval is < 1 or > 10) errors.Add($"Recheck:MissesForRemoval {o.MissesForRemoval} must be within 1–10. Fix: use 3.");
        if (o.ProbeTimeout <= TimeSpan.Zero) errors.Add("Recheck:ProbeTimeout must be positive. Fix: use e.g. 00:00:10.");
        if (o.Concurrency is < 1 or > 1024) errors.Add("Recheck:Concurrency must be within 1–1024.");
        if (o.PerHostConcurrency < 1 || o.PerHostConcurrency > o.Concurrency)
            errors.Add($"Recheck:PerHostConcurrency {o.PerHostConcurrency} must be within 1 and Recheck:Concurrency ({o.Concurrency}). Fix: use 2, so one hoster never holds more than two connections.");
        if (o.PerHostSpacing < TimeSpan.Zero || o.PerHostSpacing > TimeSpan.FromMinutes(10))
            errors.Add($"Recheck:PerHostSpacing {o.PerHostSpacing} must be within 00:00:00 and 00:10:00. Fix: use e.g. 00:00:01 (at most one check a second per host).");
        if (o.WatchFor < TimeSpan.Zero) errors.Add("Recheck:WatchFor must not be negative. Fix: use e.g. 30.00:00:00, or 00:00:00 to stop checking at removal.");
        if (o.WatchFor > TimeSpan.Zero && o.WatchInterval <= TimeSpan.Zero)
            errors.Add("Recheck:WatchInterval must be positive while Recheck:WatchFor is set. Fix: use e.g. 1.00:00:00 (daily).");
        if (o.WatchFor > TimeSpan.Zero && string.IsNullOrWhiteSpace(o.HomeHotline))
            errors.Add("Recheck:HomeHotline is not set; a re-upload found by the watch after removal is reported in its name. Fix: set it to the hotline's id (as Routing:HomeHotline, e.g. nl-hotline), or set Recheck:WatchFor to 00:00:00.");
        if (o.Confirmations.MaxClockSkew < TimeSpan.Zero) errors.Add("Recheck:Confirmations:MaxClockSkew must not be negative. Fix: use e.g. 00:05:00.");
        foreach (var (hoster, secret) in o.Confirmations.Secrets.Append(new("(default)", o.Confirmations.Secret ?? "")))
            if (secret.Length is > 0 and < 16)
                errors.Add($"Recheck:Confirmations:Secret{(hoster == "(default)" ? "" : "s:" + hoster)} is shorter than 16 characters. Fix: use the hoster's webhook key (at least 16 random characters) from the environment.");
        foreach (var (host, target) in o.ResolveOverrides)
            if (!System.Net.IPEndPoint.TryParse(target, out _))
                errors.Add($"Recheck:ResolveOverrides:{host} '{target}' is not address[:port]. Fix: e.g. 127.0.0.1:8080.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
