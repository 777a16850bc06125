using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Pipeline.Contracts;
using Pipeline.Intake;
using Pipeline.Platform;

namespace Pipeline.Intake.Tests;

/// <summary>POST /v1/reports over real HTTP on 127.0.0.1 against a running intake.</summary>
public class HttpApiTests
{
    private static HttpRequestMessage Post(Uri baseUrl, object? body, string? key = IntakeHarness.Key, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUrl, "/v1/reports"))
        {
            Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, contentType),
        };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    private static object Report(string reference, string url = "http://upload.example/x/1.jpg") => new
    {
        reference,
        url,
        contentType = "IMAGE",
        reporterType = "PUBLIC",
        hashes = new { sha256 = IntakeHarness.RandomHex(32) },
    };

    private static async Task<(HttpStatusCode Status, string? Code, HttpResponseMessage Response)> Send(HttpClient http, HttpRequestMessage request)
    {
        var response = await http.SendAsync(request);
        string? code = null;
        if (response.Content.Headers.ContentType?.MediaType == "application/problem+json")
            code = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
        return (response.StatusCode, code, response);
    }

    /// <summary>A submission starts the report's trace: the record on reports.submitted.v1 carries the request's trace
    /// (ASP.NET Core's request activity continues a caller's traceparent), and intake carries it on.</summary>
    [Fact]
    public async Task A_submission_s_record_carries_the_request_s_trace_id_and_intake_carries_it_on()
    {
        const string caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        await using var h = await IntakeHarness.StartAsync();
        var (_, url) = await h.StartIntakeAsync();
        using var http = new HttpClient();
        var request = Post(url, Report("TRACE-1"));
        request.Headers.Add("traceparent", caller);
        Assert.Equal(HttpStatusCode.Accepted, (await Send(http, request)).Status);

        var submitted = h.Reader<ReportSubmitted>(Topics.ReportsSubmitted);
        var accepted = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        await submitted.ReadUntilAsync(r => r.Count >= 1, TimeSpan.FromSeconds(60));
        await accepted.ReadUntilAsync(r => r.Count >= 1, TimeSpan.FromSeconds(60));
        var onSubmitted = Encoding.ASCII.GetString(submitted.Headers[0].GetLastBytes("traceparent"));
        var onAccepted = Encoding.ASCII.GetString(accepted.Headers[0].GetLastBytes("traceparent"));
        Assert.Equal(caller[3..35], onSubmitted[3..35]); // the caller's trace …
        Assert.NotEqual(caller[36..52], onSubmitted[36..52]); // … under the request's own span
        Assert.Equal(caller[3..35], onAccepted[3..35]);
    }

    [Fact]
    public async Task Statuses_202_400_401_403_409_413_415_and_idempotent_resubmission()
    {
        await using var h = await IntakeHarness.StartAsync();
        var (_, url) = await h.StartIntakeAsync(new Dictionary<string, string?> { ["Intake:Api:MaxRequestBytes"] = "4096" });
        using var http = new HttpClient();
        var accepted = h.Reader<ReportAccepted>(Topics.ReportsAccepted);
        var grouped = h.Reader<ReportGrouped>(Topics.ReportsGrouped);

        var first = await Send(http, Post(url, Report("CASE-1")));
        Assert.Equal(HttpStatusCode.Accepted, first.Status);
        var body = await first.Response.Content.ReadFromJsonAsync<JsonElement>();
        var reportId = body.GetProperty("reportId").GetString()!;
        Assert.Equal(EventIds.Derive("report", IntakeHarness.Hotline, "CASE-1"), reportId);

        var again = await Send(http, Post(url, Report("CASE-1")));
        Assert.Equal(HttpStatusCode.Accepted, again.Status);
        Assert.Equal(reportId, (await again.Response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reportId").GetString());
        await accepted.ReadUntilAsync(r => r.Count >= 2, TimeSpan.FromSeconds(30), settle: TimeSpan.FromMilliseconds(500));
        Assert.Single(accepted.Records.Select(r => r.Value.eventId).Distinct()); // submitted twice, one case opened once
        Assert.Empty(grouped.Records);
        Assert.Equal(reportId, accepted.Records[0].Value.report.reportId);

        Assert.Equal((HttpStatusCode.Conflict, "REFERENCE_REUSED"), Pick(await Send(http, Post(url, Report("CASE-1", "http://upload.example/other.jpg")))));
        Assert.Equal((HttpStatusCode.BadRequest, "URL_SCHEME_NOT_ALLOWED"), Pick(await Send(http, Post(url, Report("CASE-2", "ftp://upload.example/a.jpg")))));
        Assert.Equal((HttpStatusCode.BadRequest, "JSON_INVALID"), Pick(await Send(http, Post(url, "{\"reference\": \"CASE-3\", \"url\": "))));
        Assert.Equal((HttpStatusCode.BadRequest, "JSON_INVALID"), Pick(await Send(http, Post(url, "{\"reference\": \"CASE-3\", \"nonsense\": 1}"))));
        Assert.Equal((HttpStatusCode.BadRequest, "SOURCE_REFERENCE_MISSING"), Pick(await Send(http, Post(url, new { url = "http://upload.example/a.jpg" }))));
        Assert.Equal((HttpStatusCode.BadRequest, "HASH_MALFORMED"), Pick(await Send(http, Post(url, new { reference = "CASE-4", url = "http://upload.example/a.jpg", hashes = new { pdq = "abc" } }))));
        var unauthorised = await Send(http, Post(url, Report("CASE-5"), key: null));
        Assert.Equal((HttpStatusCode.Unauthorized, "API_KEY_INVALID"), Pick(unauthorised));
        Assert.Equal("Bearer", unauthorised.Response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal((HttpStatusCode.Unauthorized, "API_KEY_INVALID"), Pick(await Send(http, Post(url, Report("CASE-5"), key: "wrong-key"))));
        Assert.Equal((HttpStatusCode.Forbidden, "HOTLINE_MISMATCH"),
            Pick(await Send(http, Post(url, new { sourceHotline = IntakeHarness.OtherHotline, reference = "CASE-6", url = "http://upload.example/a.jpg" }))));
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "REQUEST_TOO_LARGE"),
            Pick(await Send(http, Post(url, new { reference = "CASE-7", url = "http://upload.example/" + new string('a', 5000) }))));
        Assert.Equal((HttpStatusCode.UnsupportedMediaType, "CONTENT_TYPE_UNSUPPORTED"), Pick(await Send(http, Post(url, Report("CASE-8"), contentType: "text/plain"))));

        // The other hotline's key submits as that hotline.
        var other = await Send(http, Post(url, Report("CASE-1"), key: IntakeHarness.OtherKey));
        Assert.Equal(HttpStatusCode.Accepted, other.Status);
        Assert.NotEqual(reportId, (await other.Response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reportId").GetString());
    }

    [Fact]
    public async Task Kafka_down_gives_503_overload_gives_429_both_with_Retry_After_and_no_202_without_an_ack()
    {
        await using var h = await IntakeHarness.StartAsync();
        var (app, url) = await h.StartIntakeAsync(new Dictionary<string, string?>
        {
            ["Intake:Api:MaxConcurrentSubmissions"] = "1",
            ["Intake:Api:PublishTimeout"] = "00:00:05", // DOWN-1 holds the slot this long: DOWN-2 must arrive meanwhile
            ["Intake:Api:RetryAfterSeconds"] = "7",
        });
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.Accepted, (await Send(http, Post(url, Report("UP-1")))).Status); // warm: metadata, schema id

        for (var b = 1; b <= h.Runtime.Cluster.BrokerCount; b++) h.Runtime.Cluster.SetBrokerDown(b);
        var slow = Send(http, Post(url, Report("DOWN-1")));
        var api = app.Services.GetRequiredService<SubmissionApi>();
        await IntakeHarness.Eventually(() => api.InProgress == 1, TimeSpan.FromSeconds(60), () => "DOWN-1 never held the only submission slot while Kafka was down");
        var overloaded = await Send(http, Post(url, Report("DOWN-2")));
        Assert.Equal((HttpStatusCode.TooManyRequests, "OVERLOADED"), Pick(overloaded));
        Assert.NotNull(overloaded.Response.Headers.RetryAfter);
        var unavailable = await slow;
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "KAFKA_UNAVAILABLE"), Pick(unavailable));
        Assert.Equal(TimeSpan.FromSeconds(7), unavailable.Response.Headers.RetryAfter!.Delta);

        for (var b = 1; b <= h.Runtime.Cluster.BrokerCount; b++) h.Runtime.Cluster.SetBrokerUp(b);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        HttpStatusCode status;
        do
        {
            status = (await Send(http, Post(url, Report("UP-2")))).Status;
        } while (status != HttpStatusCode.Accepted && sw.Elapsed < TimeSpan.FromSeconds(120));
        Assert.Equal(HttpStatusCode.Accepted, status);

        // The report answered 503 never reached Kafka; the ones answered 202 did.
        var submitted = h.Reader<ReportSubmitted>(Topics.ReportsSubmitted);
        await submitted.ReadUntilAsync(r => r.Any(x => x.Value.report.sourceReference == "UP-2"), TimeSpan.FromSeconds(30), settle: TimeSpan.FromSeconds(1));
        var references = submitted.Records.Select(r => r.Value.report.sourceReference).ToHashSet();
        Assert.Contains("UP-1", references);
        Assert.DoesNotContain("DOWN-1", references);
        Assert.DoesNotContain("DOWN-2", references);
    }

    private static (HttpStatusCode, string?) Pick((HttpStatusCode Status, string? Code, HttpResponseMessage Response) r) => (r.Status, r.Code);
}
