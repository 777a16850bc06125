using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Contracts;
using Pipeline.Operator;
using Pipeline.Platform;
using Pipeline.TestSupport;

namespace Pipeline.Console.Tests;

/// <summary>The console over plain HTTP: forms without their antiforgery token are refused before anything is written,
/// and a session ends after Console:SessionMinutes without a request.</summary>
[Collection(ConsoleCollection.Name)]
public sealed partial class ConsoleHttpTests(ConsoleFixture f)
{
    [GeneratedRegex("name=\"__csrf\" value=\"([^\"]+)\"")]
    private static partial Regex CsrfField();

    private HttpClient Client(CookieContainer cookies) =>
        new(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = new Uri(f.BaseUrl) };

    private static async Task<string> TokenAsync(HttpClient http, string path) =>
        CsrfField().Match(await http.GetStringAsync(path)) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : throw new InvalidOperationException("no antiforgery field on " + path);

    private static async Task SignInAsync(HttpClient http, string user, string password = ConsoleFixture.Password)
    {
        var token = await TokenAsync(http, "/login");
        var response = await http.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__csrf"] = token, ["name"] = user, ["password"] = password, ["returnUrl"] = "/",
        }));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
    }

    private static async Task<HttpResponseMessage> SaveUserAsync(HttpClient admin, string name, string password, string[] roles, bool disabled)
    {
        var form = new List<KeyValuePair<string, string>> { new("__csrf", await TokenAsync(admin, "/users")), new("name", name), new("password", password) };
        form.AddRange(roles.Select(r => KeyValuePair.Create("roles", r)));
        if (disabled) form.Add(new("disabled", "true"));
        return await admin.PostAsync("/users", new FormUrlEncodedContent(form));
    }

    [Fact]
    public async Task An_admin_adds_a_user_who_can_sign_in_and_a_disabled_user_is_signed_out_on_the_next_request()
    {
        var name = "analyst-" + Guid.NewGuid().ToString("N")[..6];
        using var admin = Client(new CookieContainer());
        await SignInAsync(admin, "admin-1");
        Assert.Equal(HttpStatusCode.BadRequest, (await SaveUserAsync(admin, name, "short", ["analyst"], false)).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await SaveUserAsync(admin, name, "a-long-enough-password", ["analyst"], false)).StatusCode);
        var topics = f.Console.Services.GetRequiredService<ConsoleTopics>();
        await Polling.Until(() => topics.TopicUsers.ContainsKey(name), TimeSpan.FromMinutes(1), () => $"{name} on {Topics.ConsoleUsers}");
        Assert.DoesNotContain("a-long-enough-password", topics.TopicUsers[name].passwordHash, StringComparison.Ordinal);

        using var user = Client(new CookieContainer());
        await SignInAsync(user, name, "a-long-enough-password");
        Assert.Equal(HttpStatusCode.OK, (await user.GetAsync("/queue")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync("/users")).StatusCode);

        Assert.Equal(HttpStatusCode.Redirect, (await SaveUserAsync(admin, name, "", [], true)).StatusCode);
        await Polling.Until(() => topics.TopicUsers.TryGetValue(name, out var u) && u.disabled, TimeSpan.FromMinutes(1), () => $"{name} disabled");
        var after = await user.GetAsync("/queue");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.Contains("/login", after.Headers.Location!.OriginalString, StringComparison.Ordinal);
        await f.Watcher.WaitUntilAsync(() => f.Watcher.Events<AuditRecord>(Topics.AuditLog, a => a.action == "console.user-saved" && a.details.TryGetValue("user", out var u) && u == name).Count >= 2,
            TimeSpan.FromMinutes(1), () => "the user changes on the audit log; seen: "
                + string.Join("; ", f.Watcher.Events<AuditRecord>(Topics.AuditLog, a => a.stage == "console").Select(a => a.action + " " + string.Join(",", a.details.Select(d => d.Key + "=" + d.Value)))));
    }

    [Fact]
    public async Task A_form_without_its_antiforgery_token_is_refused_and_nothing_is_sent()
    {
        var (reportId, url) = await f.WaitingReportAsync();
        using var http = Client(new CookieContainer());
        // The sign-in form itself.
        var refused = await http.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["name"] = "analyst-1", ["password"] = ConsoleFixture.Password }));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("csrf-refused", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await SignInAsync(http, "analyst-1");
        var assess = new Dictionary<string, string>
        {
            ["case"] = url, ["id"] = reportId, ["classification"] = "NOT_ILLEGAL", ["category"] = "NOT_DETERMINED", ["ageGroup"] = "NOT_DETERMINED", ["gender"] = "NOT_DETERMINED",
        };
        var withoutToken = await http.PostAsync("/report/assess", new FormUrlEncodedContent(assess));
        Assert.Equal(HttpStatusCode.BadRequest, withoutToken.StatusCode);
        // A token of another session (here: of the sign-in page before signing in, another user) is refused as well.
        using var other = Client(new CookieContainer());
        var foreign = await TokenAsync(other, "/login");
        var withForeignToken = await http.PostAsync("/report/assess", new FormUrlEncodedContent(new Dictionary<string, string>(assess) { ["__csrf"] = foreign }));
        Assert.Equal(HttpStatusCode.BadRequest, withForeignToken.StatusCode);

        // With its own token the same form goes through: proof that only the token was missing.
        var token = await TokenAsync(http, "/queue");
        var accepted = await http.PostAsync("/report/assess", new FormUrlEncodedContent(new Dictionary<string, string>(assess) { ["__csrf"] = token }));
        Assert.Equal(HttpStatusCode.Redirect, accepted.StatusCode);
        await f.Watcher.WaitUntilAsync(() => f.Watcher.Events<ReportAssessed>(Topics.ReportsAssessed, a => a.reportId == reportId).Count > 0, TimeSpan.FromMinutes(1),
            () => "the assessment sent with its token");
        Assert.Single(f.Watcher.Events<ReportAssessed>(Topics.ReportsAssessed, a => a.reportId == reportId));
    }

    [Fact]
    public async Task A_session_expires_after_the_configured_minutes_without_a_request_and_a_request_before_keeps_it_alive()
    {
        using var http = Client(new CookieContainer());
        Assert.Equal(HttpStatusCode.Redirect, (await http.GetAsync("/queue")).StatusCode); // not signed in: to the sign-in page
        await SignInAsync(http, "analyst-2");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/queue")).StatusCode);

        // 20 minutes on (past half of 30): a request renews the session (sliding expiry) ...
        f.Clock.Advance(TimeSpan.FromMinutes(20));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/queue")).StatusCode);
        // ... so 20 minutes later (40 after sign-in) it is still alive ...
        f.Clock.Advance(TimeSpan.FromMinutes(20));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/queue")).StatusCode);
        // ... and 31 minutes without a request end it.
        f.Clock.Advance(TimeSpan.FromMinutes(31));
        var expired = await http.GetAsync("/queue");
        Assert.Equal(HttpStatusCode.Redirect, expired.StatusCode);
        Assert.StartsWith("/login", expired.Headers.Location!.OriginalString.Replace(f.BaseUrl, "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_password_is_refused_and_audited()
    {
        using var http = Client(new CookieContainer());
        var token = await TokenAsync(http, "/login");
        var response = await http.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__csrf"] = token, ["name"] = "manager-1", ["password"] = "not-the-password",
        }));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("Unknown user or wrong password.", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await f.Watcher.WaitUntilAsync(() => f.Watcher.Events<AuditRecord>(Topics.AuditLog, a => a.action == "console.sign-in-failed" && a.actor == "user:manager-1").Count > 0,
            TimeSpan.FromMinutes(1), () => "the failed sign-in on the audit log");
    }
}
