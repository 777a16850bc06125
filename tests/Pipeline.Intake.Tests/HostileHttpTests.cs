using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.TestSupport;

namespace Pipeline.Intake.Tests;

/// <summary>Hostile requests to POST /v1/reports over real HTTP on 127.0.0.1 (issue 15).</summary>
public class HostileHttpTests
{
    internal static HttpRequestMessage Post(Uri baseUrl, string body, string key = IntakeHarness.Key, string contentType = "application/json")
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUrl, "/v1/reports")) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    private static string Report(string reference, string url, string extra = "") =>
        $$"""{"reference": {{JsonSerializer.Serialize(reference)}}, "url": {{JsonSerializer.Serialize(url)}}, "hashes": {"sha256": "{{IntakeHarness.RandomHex(32)}}"}{{extra}}}""";

    private static async Task<(HttpStatusCode Status, string? Code, JsonElement Body)> Send(HttpClient http, HttpRequestMessage request)
    {
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var body = text.Length > 0 ? JsonSerializer.Deserialize<JsonElement>(text) : default;
        string? code = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("code", out var c) ? c.GetString() : null;
        return (response.StatusCode, code, body);
    }

    [Fact]
    public async Task One_reference_with_different_urls_at_once_is_accepted_exactly_once_and_refused_409_otherwise()
    {
        await using var h = await IntakeHarness.StartAsync();
        var (_, url) = await h.StartIntakeAsync();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 200 });
        Assert.Equal(HttpStatusCode.Accepted, (await Send(http, Post(url, Report("WARM-UP", "http://race.example/warm.jpg")))).Status);

        for (var round = 0; round < 3; round++)
        {
            var reference = $"RACE-{round}";
            using var start = new ManualResetEventSlim();
            var requests = Enumerable.Range(0, 80).Select(i => Task.Run(async () =>
            {
                start.Wait();
                return await Send(http, Post(url, Report(reference, $"http://race.example/{round}/{i}.jpg")));
            })).ToList();
            start.Set();
            var results = await Task.WhenAll(requests);
            var statuses = string.Join(", ", results.GroupBy(r => r.Status).Select(g => $"{(int)g.Key}×{g.Count()}"));
            Assert.True(results.Count(r => r.Status == HttpStatusCode.Accepted) == 1, $"round {round}: {statuses}");
            Assert.All(results.Where(r => r.Status != HttpStatusCode.Accepted), r => Assert.Equal((HttpStatusCode.Conflict, "REFERENCE_REUSED"), (r.Status, r.Code)));

            // The winner's identical re-submission stays idempotent: 202 with the same report id, also many at once.
            var winner = results.Single(r => r.Status == HttpStatusCode.Accepted).Body.GetProperty("caseKey").GetString()!;
            var again = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Send(http, Post(url, Report(reference, winner)))));
            Assert.All(again, r => Assert.Equal(HttpStatusCode.Accepted, r.Status));
        }
    }

    [Fact]
    public async Task Media_types_null_map_values_implausible_times_parent_urls_hosts_and_long_case_keys_get_4xx_with_a_reason()
    {
        await using var h = await IntakeHarness.StartAsync();
        var (_, url) = await h.StartIntakeAsync(new Dictionary<string, string?> { ["Intake:MaxCaseKeyLength"] = "256" });
        using var http = new HttpClient();
        var n = 0;
        async Task Expect(HttpStatusCode status, string? code, string body, string contentType = "application/json")
        {
            var r = await Send(http, Post(url, body, contentType: contentType));
            Assert.True((status, code) == (r.Status, r.Code), $"{body} as {contentType}: expected {(int)status} {code}, got {(int)r.Status} {r.Code} {r.Body}");
        }
        string Next() => "H-" + ++n;

        await Expect(HttpStatusCode.UnsupportedMediaType, "CONTENT_TYPE_UNSUPPORTED", Report(Next(), "http://a.example/1"), "application/jsonp");
        await Expect(HttpStatusCode.UnsupportedMediaType, "CONTENT_TYPE_UNSUPPORTED", Report(Next(), "http://a.example/1"), "application/json-seq");
        await Expect(HttpStatusCode.UnsupportedMediaType, "CONTENT_TYPE_UNSUPPORTED", Report(Next(), "http://a.example/1"), "application/json; charset=iso-8859-1");
        await Expect(HttpStatusCode.Accepted, null, Report(Next(), "http://a.example/2"), "application/json; charset=utf-8");
        await Expect(HttpStatusCode.Accepted, null, Report(Next(), "http://a.example/3"), "Application/JSON");

        await Expect(HttpStatusCode.BadRequest, "FIELD_NULL", Report(Next(), "http://a.example/4", """, "externalIds": {"a": null}"""));
        foreach (var year in new[] { "0001", "1582", "1900" })
            await Expect(HttpStatusCode.BadRequest, "RECEIVED_TOO_EARLY", Report(Next(), "http://a.example/5", $$""", "receivedAt": "{{year}}-01-01T00:00:00Z" """));
        await Expect(HttpStatusCode.BadRequest, "RECEIVED_TOO_EARLY", Report(Next(), "http://a.example/5", """, "reportedAt": "1582-10-15T00:00:00+01:00" """));
        await Expect(HttpStatusCode.Accepted, null, Report(Next(), "http://a.example/6", """, "receivedAt": "2026-01-05T09:30:00Z" """));

        await Expect(HttpStatusCode.BadRequest, "PARENT_URL_INVALID", Report(Next(), "http://a.example/7", """, "parentUrl": "javascript:alert(1)" """));
        await Expect(HttpStatusCode.BadRequest, "PARENT_URL_INVALID", Report(Next(), "http://a.example/7", """, "parentUrl": "ftp://a.example/" """));
        await Expect(HttpStatusCode.BadRequest, "PARENT_URL_INVALID", Report(Next(), "http://a.example/7", """, "parentUrl": "http://4294967296/" """));
        await Expect(HttpStatusCode.Accepted, null, Report(Next(), "http://a.example/8", """, "parentUrl": "https://forum.example/t/1" """));

        await Expect(HttpStatusCode.BadRequest, "URL_HOST_INVALID", Report(Next(), "http://4294967296/a.jpg"));
        await Expect(HttpStatusCode.BadRequest, "URL_HOST_INVALID", Report(Next(), "http://192.0.2.999/a.jpg"));
        await Expect(HttpStatusCode.BadRequest, "URL_HOST_INVALID", Report(Next(), "http://files.example.0x7f/a.jpg"));
        await Expect(HttpStatusCode.BadRequest, "URL_IPV6_ZONE_ID", Report(Next(), "http://[fe80::1%25eth0]/a.jpg"));
        await Expect(HttpStatusCode.BadRequest, "CASE_KEY_TOO_LONG", Report(Next(), "http://a.example/" + string.Concat(Enumerable.Repeat("é", 100))));

        var fullwidth = await Send(http, Post(url, Report(Next(), "http://ｅｘａｍｐｌｅ.test/a.jpg")));
        Assert.Equal((HttpStatusCode.Accepted, "http://example.test/a.jpg"), (fullwidth.Status, fullwidth.Body.GetProperty("caseKey").GetString()));
        var ipv4 = await Send(http, Post(url, Report(Next(), "http://0x7f.1/a.jpg")));
        Assert.Equal("http://127.0.0.1/a.jpg", ipv4.Body.GetProperty("caseKey").GetString());
    }

    [Fact]
    public async Task A_slow_body_is_answered_408_without_an_unhandled_exception()
    {
        await using var h = await IntakeHarness.StartAsync();
        using var logs = new LogCapture();
        var (app, url) = await h.StartIntakeAsync(new Dictionary<string, string?> { ["Intake:Api:BodyTimeout"] = "00:00:01.5" }, logs: logs);

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, url.Port);
        var stream = tcp.GetStream();
        var head = $"POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1:{url.Port}\r\nAuthorization: Bearer {IntakeHarness.Key}\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{{\"reference\": ";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        var started = System.Diagnostics.Stopwatch.StartNew();
        var buffer = new byte[4096];
        var answer = new StringBuilder();
        var reading = Task.Run(async () =>
        {
            int got;
            while ((got = await stream.ReadAsync(buffer)) > 0)
            {
                answer.Append(Encoding.ASCII.GetString(buffer, 0, got));
                if (answer.ToString().Contains("\r\n\r\n", StringComparison.Ordinal)) break;
            }
        });
        // A byte every half second, for up to two minutes: far too slow for the body's data rate, so the server must
        // answer 408. Not before the body timeout; how long after it depends on the machine's load, so no upper bound.
        using (var offered = OfferedLoad.Every(TimeSpan.FromMilliseconds(500)))
            for (var i = 0; i < 240; i++)
            {
                await Task.WhenAny(reading, offered.NextAsync().AsTask()); // the attack's next byte, or the answer
                if (reading.IsCompleted) break;
                try { await stream.WriteAsync(Encoding.ASCII.GetBytes(" ")); } catch (IOException) { break; }
            }
        await Polling.Until(() => reading.IsCompleted, TimeSpan.FromSeconds(60), () => "the server's answer to the slow body: " + answer);
        Assert.StartsWith("HTTP/1.1 408", answer.ToString());
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(1), $"answered after {started.Elapsed.TotalSeconds:0.0} s, before the body timeout");
        await IntakeHarness.StopAsync(app); // the end marker: a stopped server has logged all it will about the request
        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Error || e.Message.Contains("unhandled", StringComparison.OrdinalIgnoreCase));
    }

    [Theory]
    [InlineData("Intake:Api:MaxRequestBytes", "950000")]
    [InlineData("Processing:MaxRecordBytes", "2000000")]
    [InlineData("Intake:MaxCaseKeyLength", "10")]
    [InlineData("Intake:EarliestTimestamp", "0001-01-01T00:00:00Z")]
    public async Task Limits_are_validated_at_start_naming_the_setting_and_the_fix(string key, string value)
    {
        await using var h = await IntakeHarness.StartAsync();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => h.StartIntakeAsync(new Dictionary<string, string?> { [key] = value }));
        Assert.Contains(key, e.Message);
        Assert.Contains("Fix:", e.Message);
    }
}
