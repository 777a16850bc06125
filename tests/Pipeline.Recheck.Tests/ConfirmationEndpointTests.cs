using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Pipeline.Contracts;
using Pipeline.Platform;
using static Pipeline.Recheck.Tests.FlowHarness;

namespace Pipeline.Recheck.Tests;

/// <summary>POST /v1/notices/{noticeId}/confirmation on the recheck service, over real HTTP: refusals are RFC 7807
/// problems with a code, and an accepted confirmation counts only when the check it triggers agrees.</summary>
public class ConfirmationEndpointTests
{
    private const string OwnKey = "own-key-of-keyed-host-0123456789";

    [Fact]
    public async Task Confirmations_are_answered_with_problems_or_verified_by_a_check()
    {
        await using var h = await StartAsync();
        var keyed = new Hosters.Hoster("keyed-host", "www.keyed-host.example", "192.0.2.41", 64503, NoticeChannel.WEBHOOK, "https://abuse.keyed-host.example/notices");
        var keyless = new Hosters.Hoster("keyless-host", "www.keyless-host.example", "198.51.100.42", 64504, NoticeChannel.EMAIL, "abuse@keyless-host.example");
        await h.StartStagesAsync([keyed.Host, keyless.Host], new Dictionary<string, string?>
        {
            ["Recheck:Confirmations:Secret"] = null, // no default key: only hosters with their own may confirm
            ["Recheck:Confirmations:Secrets:keyed-host"] = OwnKey,
        }, recheckOnly: true);
        var gone = keyed.Url("gone.jpg");
        var still = keyed.Url("still.jpg");
        var other = keyless.Url("x.jpg");
        h.Web.RemoveAt(gone, T0 + TimeSpan.FromMinutes(40));
        var notices = new[] { Hosters.Notice(keyed, gone), Hosters.Notice(keyed, still), Hosters.Notice(keyless, other) };
        foreach (var n in notices) await h.Clients.Publisher.PublishAsync(Topics.NoticesIssued, n.caseKey, n);
        await Until(() => notices.All(n => h.Schedule.Find(n.noticeId) is not null), TimeSpan.FromSeconds(30), () => $"{h.Schedule.Count} notices scheduled");
        using var http = new HttpClient { BaseAddress = new Uri(h.BaseUrl) };
        await h.AdvanceToAsync(T0 + TimeSpan.FromMinutes(15)); // first checks: all online

        var removedAt = $$"""{"removedAt":"{{T0.AddMinutes(40):yyyy-MM-ddTHH:mm:ssZ}}"}""";
        await ExpectProblem(await Post(http, "no-such-notice", removedAt, OwnKey), HttpStatusCode.NotFound, "NOTICE_UNKNOWN");
        await ExpectProblem(await Post(http, notices[0].noticeId, removedAt, "a-wrong-key-0123456789abcdef"), HttpStatusCode.Unauthorized, "SIGNATURE_INVALID");
        await ExpectProblem(await Post(http, notices[0].noticeId, removedAt, key: null), HttpStatusCode.Unauthorized, "SIGNATURE_INVALID");
        await ExpectProblem(await Post(http, notices[2].noticeId, removedAt, OwnKey), HttpStatusCode.Forbidden, "CONFIRMATIONS_NOT_SET_UP");
        await ExpectProblem(await Post(http, notices[0].noticeId, "{\"removedAt\":", OwnKey), HttpStatusCode.BadRequest, "JSON_INVALID");
        await ExpectProblem(await Post(http, notices[0].noticeId, $$"""{"removedAt":"{{T0.AddDays(1):yyyy-MM-ddTHH:mm:ssZ}}"}""", OwnKey), HttpStatusCode.BadRequest, "REMOVED_AT_IN_FUTURE");
        await ExpectProblem(await Post(http, notices[0].noticeId, "{\"pad\":\"" + new string('x', 5000) + "\"}", OwnKey), HttpStatusCode.RequestEntityTooLarge, "REQUEST_TOO_LARGE");
        Assert.Equal(T0 + TimeSpan.FromMinutes(15), h.Now);
        Assert.Equal(0, h.Schedule.Checking);
        Assert.Equal(T0 + TimeSpan.FromMinutes(75), h.Schedule.NextDue); // none of the refusals made a URL due: next is the hourly check

        // At 50 min the hoster confirms both URLs: one is gone (since 40 min), the other is still served.
        await h.AdvanceToAsync(T0 + TimeSpan.FromMinutes(50));
        var accepted = await Post(http, notices[0].noticeId, removedAt, OwnKey);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal("verifying", JsonDocument.Parse(await accepted.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Accepted, (await Post(http, notices[1].noticeId, "", OwnKey)).StatusCode);
        await h.SettleAsync();
        await Until(() => h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus).Count == 5, TimeSpan.FromSeconds(30), () => "two checks after the confirmations");
        var confirmed = Assert.Single(h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.removalConfirmed));
        Assert.Equal((notices[0].noticeId, ObservationMethod.HOSTER_CONFIRMATION, ContentStatus.REMOVED, 404, T0.AddMinutes(50), T0.AddMinutes(40), 1),
            (confirmed.noticeId, confirmed.method, confirmed.status, confirmed.httpStatus, confirmed.observedAt, confirmed.offlineSince, confirmed.consecutiveMisses));
        var contradicted = Assert.Single(h.Watcher.Events<ContentStatusObserved>(Topics.ContentStatus, o => o.noticeId == notices[1].noticeId && o.observedAt == T0.AddMinutes(50)));
        Assert.Equal((ContentStatus.ONLINE, false, ObservationMethod.RECHECK), (contradicted.status, contradicted.removalConfirmed, contradicted.method));

        // Asked again after the removal counted: nothing more to verify.
        var again = await Post(http, notices[0].noticeId, removedAt, OwnKey);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal("removal-already-confirmed", JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
    }

    private static async Task<HttpResponseMessage> Post(HttpClient http, string noticeId, string json, string? key)
    {
        var body = Encoding.UTF8.GetBytes(json);
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/notices/{noticeId}/confirmation") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json");
        if (key is not null) request.Headers.Add("X-Signature", "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), body)));
        return await http.SendAsync(request);
    }

    private static async Task ExpectProblem(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(text);
        Assert.Equal(code, problem.RootElement.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.RootElement.GetProperty("detail").GetString()));
    }
}
