using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Takedown;

/// <summary>What one attempt came to: SENT, RETRYING (transient: try again later), FAILED or BOUNCED (permanent).</summary>
public sealed record DeliveryResult(DeliveryStatus Status, string Detail)
{
    public static DeliveryResult Sent(string detail) => new(DeliveryStatus.SENT, detail);
    public static DeliveryResult Transient(string detail) => new(DeliveryStatus.RETRYING, detail);
    public static DeliveryResult Failed(string detail) => new(DeliveryStatus.FAILED, detail);
    public static DeliveryResult Bounced(string detail) => new(DeliveryStatus.BOUNCED, detail);

    /// <summary>For MOVED: the hosting the re-lookup before sending found (see <see cref="RelookupGate"/>).</summary>
    public HostingInfo? MovedTo { get; init; }

    /// <summary>For MOVED: hoster or country (the moved metric's label).</summary>
    public string? MovedReason { get; init; }
}

/// <summary>Sends a notice, or a batch of notices for one recipient, through one channel. Never throws for a failure
/// of the recipient or the network: the result says whether a retry may help.</summary>
public interface INoticeChannel
{
    Task<DeliveryResult> DeliverAsync(TakedownNotice notice, CancellationToken cancellationToken);

    Task<DeliveryResult> DeliverAsync(NoticeBatch batch, CancellationToken cancellationToken);
}

/// <summary>Notices for one recipient delivered together (one e-mail, one webhook POST). Each keeps its own notice id.
/// The batch id is fixed when the batch opens and kept in each member's state (<paramref name="FixedId"/>; the batching
/// stage), so a re-send of part of the batch after a crash carries the same id; without one (entries from before) it
/// derives from the members' notice ids.</summary>
public sealed record NoticeBatch(IReadOnlyList<TakedownNotice> Members, string? FixedId = null)
{
    public string BatchId { get; } = FixedId ?? EventIds.Derive("notice-batch", [.. Members.Select(m => m.noticeId).Order(StringComparer.Ordinal)]);

    /// <summary>Goes out as the plain notice (Message-ID / Idempotency-Key of the notice itself): a batch that only ever had
    /// one member.</summary>
    public bool Plain { get; init; } = Members.Count == 1;

    public TakedownNotice Lead => Members[0];

    /// <summary>The recipient as a key: channel and address (case-insensitive).</summary>
    public static string RecipientKey(NoticeChannel channel, string address) => $"{channel}:{address.Trim().ToLowerInvariant()}";
}

/// <summary>E-mail through the hotline's SMTP relay (MailKit): the readable text as the body, the X-ARF JSON as the
/// attachment <c>report.json</c> (application/json), never media. The Message-ID derives from the notice id, so a
/// mail re-sent after a crash is recognisable as the same notice by the recipient's desk.</summary>
public sealed class EmailChannel(DeliveryOptions.SmtpSettings smtp, TakedownOptions takedown) : INoticeChannel, IDisposable
{
    private readonly SemaphoreSlim gate = new(1, 1);
    private SmtpClient? client;

    public static string MessageId(TakedownNotice notice, string domain) => $"notice-{notice.noticeId}@{domain}";

    public MimeMessage Compose(TakedownNotice notice)
    {
        var subject = notice.kind switch
        {
            NoticeKind.FIRST => "Takedown notice",
            NoticeKind.CONFIRMATION => "Removal confirmed",
            NoticeKind.WITHDRAWAL => "Takedown notice withdrawn",
            _ => $"Takedown notice ({notice.kind.ToString().ToLowerInvariant()} {notice.sequence})",
        };
        var message = Envelope(notice, $"{subject} {notice.noticeId}: {new Uri(notice.url).Host}", out var domain);
        message.MessageId = MessageId(notice, domain);
        message.Date = new DateTimeOffset(notice.issuedAt, TimeSpan.Zero);
        message.Headers.Add("X-Notice-Id", notice.noticeId);
        message.Headers.Add("X-ARF", "YES");
        var body = new BodyBuilder { TextBody = notice.text };
        body.Attachments.Add("report.json", Encoding.UTF8.GetBytes(notice.xarf), new MimeKit.ContentType("application", "json") { Charset = "utf-8" });
        message.Body = body.ToMessageBody();
        return message;
    }

    /// <summary>One mail for a batch: Message-ID <c>batch-&lt;batchId&gt;@domain</c>, the member notice ids in
    /// <c>X-Notice-Ids</c>, each member's text in the body under a numbered heading, each member's X-ARF JSON as the
    /// attachment <c>report-&lt;noticeId&gt;.json</c>.</summary>
    public MimeMessage Compose(NoticeBatch batch)
    {
        var n = batch.Members.Count;
        var hosts = string.Join(", ", batch.Members.Select(m => new Uri(m.url).Host).Distinct(StringComparer.OrdinalIgnoreCase));
        var message = Envelope(batch.Lead, $"Takedown notices ({n} URLs) batch {batch.BatchId}: {hosts}", out var domain);
        message.MessageId = $"batch-{batch.BatchId}@{domain}";
        message.Date = new DateTimeOffset(batch.Members.Max(m => m.issuedAt), TimeSpan.Zero);
        message.Headers.Add("X-Notice-Batch-Id", batch.BatchId);
        message.Headers.Add("X-Notice-Ids", string.Join(", ", batch.Members.Select(m => m.noticeId)));
        message.Headers.Add("X-ARF", "YES");
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{n} takedown notices for {batch.Lead.recipient.name}, sent together (batch {batch.BatchId}). Each URL has its own notice id; please quote it when you reply.").Append('\n');
        for (var i = 0; i < n; i++)
            text.Append('\n').Append(CultureInfo.InvariantCulture, $"--- {i + 1} of {n}: notice {batch.Members[i].noticeId} ---").Append('\n').Append(batch.Members[i].text);
        var body = new BodyBuilder { TextBody = text.ToString() };
        foreach (var m in batch.Members)
            body.Attachments.Add($"report-{m.noticeId}.json", Encoding.UTF8.GetBytes(m.xarf), new MimeKit.ContentType("application", "json") { Charset = "utf-8" });
        message.Body = body.ToMessageBody();
        return message;
    }

    private MimeMessage Envelope(TakedownNotice to, string subject, out string domain)
    {
        var from = string.IsNullOrEmpty(smtp.From) ? takedown.SenderContact : smtp.From;
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(takedown.SenderOrganisation, from));
        message.To.Add(new MailboxAddress(to.recipient.name, to.recipient.address));
        message.Subject = $"[{takedown.SenderOrganisation}] {subject}";
        domain = string.IsNullOrEmpty(takedown.SenderDomain) ? from[(from.IndexOf('@', StringComparison.Ordinal) + 1)..] : takedown.SenderDomain;
        return message;
    }

    public Task<DeliveryResult> DeliverAsync(TakedownNotice notice, CancellationToken cancellationToken) =>
        SendAsync(() => Compose(notice), notice.recipient.address, cancellationToken);

    public Task<DeliveryResult> DeliverAsync(NoticeBatch batch, CancellationToken cancellationToken) =>
        SendAsync(() => Compose(batch), batch.Lead.recipient.address, cancellationToken);

    private async Task<DeliveryResult> SendAsync(Func<MimeMessage> compose, string address, CancellationToken cancellationToken)
    {
        MimeMessage message;
        try
        {
            message = compose();
        }
        catch (Exception e) when (e is ParseException or ArgumentException or UriFormatException)
        {
            return DeliveryResult.Failed($"the notice cannot be addressed as e-mail ({address}): {e.Message}");
        }
        await gate.WaitAsync(cancellationToken);
        try
        {
            // One connection is kept open between notices. A server may close an idle connection, so a kept one is
            // probed first (NOOP) and replaced when it is gone. A failure while sending is then always this attempt's:
            // it is recorded and retried later, never silently re-sent at once (the message may have been received).
            if (client is { IsConnected: true })
            {
                try
                {
                    await client.NoOpAsync(cancellationToken);
                }
                catch (Exception) when (!cancellationToken.IsCancellationRequested)
                {
                    Drop();
                }
            }
            try
            {
                var c = await ConnectedAsync(cancellationToken);
                var reply = await c.SendAsync(message, cancellationToken);
                return DeliveryResult.Sent($"SMTP {smtp.Host}:{smtp.Port} accepted Message-ID <{message.MessageId}>: {reply.Trim()}");
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                Drop();
                return Classify(e);
            }
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<SmtpClient> ConnectedAsync(CancellationToken ct)
    {
        if (client is { IsConnected: true }) return client;
        client?.Dispose();
        client = new SmtpClient { Timeout = (int)smtp.Timeout.TotalMilliseconds };
        await client.ConnectAsync(smtp.Host, smtp.Port, smtp.Security, ct);
        if (!string.IsNullOrEmpty(smtp.Username)) await client.AuthenticateAsync(smtp.Username, smtp.Password ?? "", ct);
        return client;
    }

    private void Drop()
    {
        client?.Dispose();
        client = null;
    }

    /// <summary>SMTP 4xx, dropped connections and timeouts may pass: retry. 5xx is final; a refused recipient is a bounce.
    /// Authentication and TLS failures are the hotline's configuration, not the notice's fault: retried (until an
    /// operator fixes them or the attempts run out).</summary>
    internal DeliveryResult Classify(Exception e) => e switch
    {
        SmtpCommandException c when (int)c.StatusCode is >= 400 and < 500 =>
            DeliveryResult.Transient($"SMTP {(int)c.StatusCode} ({c.ErrorCode}): {c.Message}"),
        SmtpCommandException { ErrorCode: SmtpErrorCode.RecipientNotAccepted } c =>
            DeliveryResult.Bounced($"SMTP {(int)c.StatusCode} recipient <{c.Mailbox?.Address}> refused: {c.Message}"),
        SmtpCommandException c => DeliveryResult.Failed($"SMTP {(int)c.StatusCode} ({c.ErrorCode}): {c.Message}"),
        AuthenticationException a => DeliveryResult.Transient($"SMTP authentication at {smtp.Host} failed ({a.Message}). Fix: check Takedown:Delivery:Smtp:Username and Takedown__Delivery__Smtp__Password."),
        SslHandshakeException s => DeliveryResult.Transient($"TLS with {smtp.Host}:{smtp.Port} failed ({s.Message}). Fix: check Takedown:Delivery:Smtp:Security and the relay's certificate."),
        SmtpProtocolException or ServiceNotConnectedException or IOException or SocketException or TimeoutException or OperationCanceledException =>
            DeliveryResult.Transient($"SMTP {smtp.Host}:{smtp.Port} unreachable or connection lost: {e.Message}"),
        _ => DeliveryResult.Failed($"{e.GetType().Name}: {e.Message}"),
    };

    public void Dispose()
    {
        Drop();
        gate.Dispose();
    }
}

/// <summary>HTTP POST of the X-ARF JSON to the hoster's abuse endpoint, signed with HMAC-SHA256 over the exact body
/// (<c>X-Signature: sha256=&lt;hex&gt;</c>) and carrying <c>Idempotency-Key: &lt;noticeId&gt;</c>, so the receiver can
/// recognise a notice re-sent after a crash. Redirects are not followed (a signed notice goes only where the
/// directory says).</summary>
public sealed class WebhookChannel(HttpClient http, DeliveryOptions.WebhookSettings settings) : INoticeChannel
{
    public static string Signature(byte[] body, string secret) => WebhookSignature.Sign(body, secret);

    public static HttpMessageHandler Handler() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1) };

    public string? SecretFor(TakedownNotice notice) =>
        notice.hosterId is { } id && settings.Secrets.TryGetValue(id, out var own) && !string.IsNullOrEmpty(own) ? own
        : string.IsNullOrEmpty(settings.Secret) ? null : settings.Secret;

    public Task<DeliveryResult> DeliverAsync(TakedownNotice notice, CancellationToken cancellationToken) =>
        PostAsync(notice, Encoding.UTF8.GetBytes(notice.xarf), notice.noticeId, ("X-Notice-Id", notice.noticeId), cancellationToken);

    /// <summary>One POST for a batch: the body is a JSON array of the members' X-ARF documents (each one conforms on its
    /// own; X-ARF has no batch envelope), <c>Idempotency-Key</c> and <c>X-Notice-Batch-Id</c> = the batch id, the member
    /// notice ids in <c>X-Notice-Ids</c>.</summary>
    public Task<DeliveryResult> DeliverAsync(NoticeBatch batch, CancellationToken cancellationToken) =>
        PostAsync(batch.Lead, BatchBody(batch), batch.BatchId, ("X-Notice-Ids", string.Join(", ", batch.Members.Select(m => m.noticeId))), cancellationToken,
            ("X-Notice-Batch-Id", batch.BatchId));

    /// <summary>The body of a batch POST: <c>[X-ARF, …]</c>, the members in batch order.</summary>
    public static byte[] BatchBody(NoticeBatch batch) =>
        Encoding.UTF8.GetBytes(new JsonArray([.. batch.Members.Select(m => JsonNode.Parse(m.xarf))]).ToJsonString());

    private async Task<DeliveryResult> PostAsync(TakedownNotice to, byte[] body, string idempotencyKey, (string Name, string Value) ids, CancellationToken cancellationToken,
        (string Name, string Value)? batchId = null)
    {
        if (!Uri.TryCreate(to.recipient.address, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
            return DeliveryResult.Failed($"the webhook address '{to.recipient.address}' is not an http(s) URL. Fix the hoster's abuse contact in the directory.");
        var secret = SecretFor(to);
        if (secret is null)
            return DeliveryResult.Transient($"no webhook secret for hoster '{to.hosterId}'. Fix: set Takedown__Delivery__Webhook__Secrets__{to.hosterId} or Takedown__Delivery__Webhook__Secret.");
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.Add("X-Signature", Signature(body, secret));
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        request.Headers.Add(ids.Name, ids.Value);
        if (batchId is { } b) request.Headers.Add(b.Name, b.Value);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.Timeout);
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var code = (int)response.StatusCode;
            var detail = $"HTTP {code} {response.ReasonPhrase} from {url.GetLeftPart(UriPartial.Path)}";
            return code switch
            {
                >= 200 and < 300 => DeliveryResult.Sent(detail),
                408 or 425 or 429 or >= 500 => DeliveryResult.Transient(detail),
                _ => DeliveryResult.Failed(detail),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return DeliveryResult.Transient($"no answer from {url.GetLeftPart(UriPartial.Path)} within {settings.Timeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException e)
        {
            return DeliveryResult.Transient($"{url.GetLeftPart(UriPartial.Authority)} unreachable: {e.Message}");
        }
    }
}
