using System.Globalization;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pipeline.Audit;
using Pipeline.Contracts;
using Pipeline.Inspection.Trace;
using Pipeline.Inspection.Transparency;
using Pipeline.Platform;
using Pipeline.Sla;
using Pipeline.Takedown;
using static Pipeline.Operator.Html;

namespace Pipeline.Operator;

/// <summary>The console's pages and form posts. Every POST checks the antiforgery token first (<see cref="Csrf"/>).</summary>
public static class ConsolePages
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/login", Login).AllowAnonymous();
        app.MapPost("/login", SignIn).AllowAnonymous().AddEndpointFilter(Csrf);
        app.MapGet("/login/oidc", (HttpContext http) => Results.Challenge(new AuthenticationProperties { RedirectUri = "/" }, [ConsoleApp.OidcScheme])).AllowAnonymous();
        app.MapPost("/logout", SignOut).RequireAuthorization().AddEndpointFilter(Csrf);
        app.MapGet("/", Home).RequireAuthorization();

        app.MapGet("/queue", Queue).RequireAuthorization(ConsoleRoles.Analyst);
        app.MapGet("/reviews", Reviews).RequireAuthorization(ConsoleRoles.Analyst);
        app.MapGet("/report", Report).RequireAuthorization(ConsoleRoles.Analyst);
        app.MapPost("/report/lock", Lock).RequireAuthorization(ConsoleRoles.Analyst).AddEndpointFilter(Csrf);
        app.MapPost("/report/unlock", Unlock).RequireAuthorization(ConsoleRoles.Analyst).AddEndpointFilter(Csrf);
        app.MapPost("/report/assess", Assess).RequireAuthorization(ConsoleRoles.Analyst).AddEndpointFilter(Csrf);

        app.MapGet("/contacts", Contacts).RequireAuthorization(ConsoleRoles.Manager);
        app.MapPost("/contacts/approve", Approve).RequireAuthorization(ConsoleRoles.Manager).AddEndpointFilter(Csrf);
        app.MapGet("/contacts/edit", EditContact).RequireAuthorization(ConsoleRoles.Manager);
        app.MapPost("/contacts/edit", SaveContact).RequireAuthorization(ConsoleRoles.Manager).AddEndpointFilter(Csrf);

        app.MapGet("/holds", Holds).RequireAuthorization(ConsoleRoles.Manager);
        app.MapPost("/holds/release", Release).RequireAuthorization(ConsoleRoles.Manager).AddEndpointFilter(Csrf);

        app.MapGet("/trace", Trace).RequireAuthorization(ConsoleApp.ReaderPolicy);
        app.MapGet("/scorecards", Scorecards).RequireAuthorization(ConsoleRoles.Manager);
        app.MapGet("/transparency", Transparency).RequireAuthorization(ConsoleRoles.Manager);

        app.MapGet("/users", Users).RequireAuthorization(ConsoleRoles.Admin);
        app.MapPost("/users", SaveUser).RequireAuthorization(ConsoleRoles.Admin).AddEndpointFilter(Csrf);
    }

    /// <summary>Refuses a form post without a valid antiforgery token (400), before anything is read or written.</summary>
    private static async ValueTask<object?> Csrf(EndpointFilterInvocationContext ctx, EndpointFilterDelegate next)
    {
        var http = ctx.HttpContext;
        var antiforgery = http.RequestServices.GetRequiredService<IAntiforgery>();
        if (!await antiforgery.IsRequestValidAsync(http))
            return Page(http, "Form refused", "<p class=\"error\" id=\"csrf-refused\">This form's anti-forgery token is missing or does not belong to your session. "
                + "Nothing was changed. Open the page again and resend the form.</p>", StatusCodes.Status400BadRequest);
        return await next(ctx);
    }

    private static string Now(TimeProvider time) => E(time.GetUtcNow().UtcDateTime);

    // ── sign-in ─────────────────────────────────────────────────────────────

    private static IResult Login(HttpContext http, IOptions<ConsoleOptions> options, string? returnUrl = null, string? error = null) =>
        LoginPage(http, options.Value, returnUrl, error, StatusCodes.Status200OK);

    private static IResult LoginPage(HttpContext http, ConsoleOptions options, string? returnUrl, string? error, int status)
    {
        var body = new StringBuilder();
        if (error is not null) body.Append("<p class=\"error\" id=\"login-error\">").Append(E(error)).Append("</p>");
        body.Append(Form(http, "/login",
            Hidden("returnUrl", returnUrl ?? "/")
            + "<p><label>User <input name=\"name\" id=\"name\" autocomplete=\"username\" required></label></p>"
            + "<p><label>Password <input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"current-password\" required></label></p>"
            + "<p><button type=\"submit\" id=\"sign-in\">Sign in</button></p>", id: "login"));
        if (options.Oidc.Enabled) body.Append("<p><a id=\"oidc\" href=\"/login/oidc\">Sign in with ").Append(E(options.Oidc.DisplayName)).Append("</a></p>");
        return Page(http, "Sign in", body.ToString(), status);
    }

    private static async Task<IResult> SignIn(HttpContext http, ConsoleUsers users, ConsoleAudit audit, IOptions<ConsoleOptions> options)
    {
        var form = await http.Request.ReadFormAsync();
        var name = (form["name"].ToString() ?? "").Trim().ToLowerInvariant();
        var returnUrl = form["returnUrl"].ToString();
        var account = users.SignIn(name, form["password"].ToString());
        var actor = ConsoleRoles.UserName().IsMatch(name) ? name : "unknown";
        if (account is null)
        {
            await audit.WriteAsync("console.sign-in-failed", actor, "console", EventIds.Derive("sign-in-failed", actor, Guid.NewGuid().ToString()), ct: http.RequestAborted);
            return LoginPage(http, options.Value, returnUrl, "Unknown user or wrong password.", StatusCodes.Status401Unauthorized);
        }
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, ConsoleApp.Principal(account.Name, account.Roles, "local"));
        await audit.WriteAsync("console.signed-in", account.Name, "console", EventIds.Derive("signed-in", account.Name, Guid.NewGuid().ToString()),
            details: new Dictionary<string, string?> { ["roles"] = string.Join(",", account.Roles) }, ct: http.RequestAborted);
        return Results.LocalRedirect(Uri.IsWellFormedUriString(returnUrl, UriKind.Relative) && returnUrl.StartsWith('/') && !returnUrl.StartsWith("//", StringComparison.Ordinal) ? returnUrl : "/");
    }

    private static async Task<IResult> SignOut(HttpContext http, ConsoleAudit audit)
    {
        var name = http.User.UserName();
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        await audit.WriteAsync("console.signed-out", name, "console", EventIds.Derive("signed-out", name, Guid.NewGuid().ToString()), ct: http.RequestAborted);
        return Results.Redirect("/login");
    }

    private static IResult Home(HttpContext http) => Results.Redirect(
        http.User.IsInRole(ConsoleRoles.Analyst) ? "/queue" : http.User.IsInRole(ConsoleRoles.Manager) ? "/contacts" : http.User.IsInRole(ConsoleRoles.Admin) ? "/users" : "/login");

    // ── review and assessment ──────────────────────────────────────────────

    private static string LockText(AssessmentLock? l, string user, DateTime now) => AssessmentLocks.Holder(l, now) is not { } h ? "free"
        : h.lockedBy == user ? $"<span class=\"mine\">locked by you until {E(h.expiresAt)}</span>"
        : $"<span class=\"lock\">locked by {E(h.lockedBy)} until {E(h.expiresAt)}</span>";

    private static string Hosting(HostingInfo? h) => h is null ? "not located"
        : $"{E(h.hosterName ?? h.hosterId ?? h.asOrganisation ?? "unknown hoster")} · {E(h.country ?? "??")}{(h.asn is { } asn ? " · AS" + E(asn) : "")}";

    private static string ReportLink(string caseKey, string reportId) => $"/report?case={Q(caseKey)}&id={Q(reportId)}";

    private static IResult Queue(HttpContext http, ConsoleTopics topics, TimeProvider time, string? sent = null)
    {
        var user = http.User.UserName();
        var now = time.GetUtcNow().UtcDateTime;
        var rows = topics.Waiting.Select(w =>
        {
            var review = topics.ReviewOf(w.reviewEventId);
            var key = AssessmentLocks.KeyOf(w.caseKey, w.reportId);
            return (IEnumerable<string>)
            [
                E(w.waitingSince), $"<a href=\"{E(ReportLink(w.caseKey, w.reportId))}\" class=\"open\" data-report=\"{E(w.reportId)}\">{E(w.reportId)}</a>",
                $"<span class=\"url\">{E(w.located.report.url)}</span>", Hosting(w.located.hosting),
                E(review?.reason ?? (w.assessment is { classification: Contracts.Classification.DOUBTFUL } ? "a DOUBTFUL assessment: a second assessment is needed" : "no bank knows the material")),
                E(review?.rule ?? Pipeline.Classification.ClassificationProcessor.NeedsAssessmentRule), $"<span class=\"lock-state\" data-report=\"{E(w.reportId)}\">{LockText(topics.LockOf(key), user, now)}</span>",
            ];
        });
        var body = (sent is null ? "" : $"<p class=\"ok\" id=\"sent\">Assessment of report {E(sent)} sent to {E(Topics.ReportsAssessed)}; classification releases the report.</p>")
            + $"<p>Reports that no hash bank knows wait here for an analyst's assessment ({E(Topics.ClassificationWaiting)}). Open one to lock it and assess it. Clock: {Now(time)}</p>"
            + Table("waiting", ["waiting since", "report", "URL (text only)", "hosting", "reason", "rule", "lock"], rows, "No report is waiting for an assessment.");
        return Page(http, "Assessment queue", body);
    }

    private static IResult Reviews(HttpContext http, ConsoleTopics topics)
    {
        var rows = topics.Reviews.Take(500).Select(r => (IEnumerable<string>)
        [
            E(r.requestedAt), $"<a href=\"/trace?id={Q(r.report.reportId)}\">{E(r.report.reportId)}</a>", $"<span class=\"url\">{E(r.report.url)}</span>",
            Hosting(r.hosting), E(r.verdict?.ToString() ?? "-"), E(r.reason), E(r.rule),
        ]);
        return Page(http, "Review requests", $"<p>Reports a stage could not place or decide ({E(Topics.ReportsReview)}), newest first.</p>"
            + Table("reviews", ["requested", "report", "URL (text only)", "hosting", "verdict", "reason", "rule"], rows, "No review request."));
    }

    private static WaitingReport? Waiting(ConsoleTopics topics, string? caseKey, string? reportId) =>
        caseKey is null || reportId is null ? null : topics.WaitingOf(AssessmentLocks.KeyOf(caseKey, reportId));

    private static async Task<IResult> Report(HttpContext http, ConsoleTopics topics, TimeProvider time, IOptions<KafkaOptions> kafka, AvroSerdes serdes,
        string? @case = null, string? id = null, string? error = null)
    {
        if (Waiting(topics, @case, id) is not { } w)
            return Page(http, "Report not found", $"<p class=\"error\">No waiting report {E(id)} on case {E(@case)}. It may have been classified already: <a href=\"/trace?id={Q(id ?? "")}\">trace it</a>.</p>", 404);
        var user = http.User.UserName();
        var now = time.GetUtcNow().UtcDateTime;
        var r = w.located.report;
        var h = w.located.hosting;
        var review = topics.ReviewOf(w.reviewEventId);
        var body = new StringBuilder();
        if (error is not null) body.Append("<p class=\"error\" id=\"error\">").Append(E(error)).Append("</p>");
        body.Append("<dl id=\"details\">")
            .Append($"<dt>Report</dt><dd id=\"report-id\">{E(r.reportId)}</dd>")
            .Append($"<dt>URL (text only)</dt><dd class=\"url\" id=\"report-url\">{E(r.url)}</dd>")
            .Append($"<dt>Case key</dt><dd class=\"url\">{E(w.caseKey)}</dd>")
            .Append($"<dt>Received</dt><dd>{E(r.receivedAt)} from {E(r.sourceHotline)} ({E(r.reporterType)})</dd>")
            .Append($"<dt>Content</dt><dd>{E(r.contentType)} on a {E(r.siteType)} site{(r.commercial ? ", commercial" : "")}</dd>")
            .Append($"<dt>Hosting</dt><dd id=\"hosting\">{Hosting(h)}{(h is null ? "" : $"; IPs {E(string.Join(", ", h.ips))}{(h.behindCdn ? $"; behind CDN {E(h.cdnName)}" : "")}")}</dd>")
            .Append($"<dt>Hashes</dt><dd class=\"url\" id=\"hashes\">{string.Join("<br>", new[] { ("MD5", r.hashes.md5), ("SHA-1", r.hashes.sha1), ("SHA-256", r.hashes.sha256), ("PDQ", r.hashes.pdq) }.Where(x => x.Item2 is not null).Select(x => E(x.Item1 + " " + x.Item2)))}</dd>")
            .Append($"<dt>Waiting since</dt><dd>{E(w.waitingSince)}</dd>")
            .Append($"<dt>Reason</dt><dd id=\"reason\">{E(review?.reason ?? "no bank knows the material")}</dd>")
            .Append($"<dt>Rule</dt><dd id=\"rule\">{E(review?.rule ?? Pipeline.Classification.ClassificationProcessor.NeedsAssessmentRule)}</dd>")
            .Append(w.assessment is { } earlier ? $"<dt>Earlier assessment</dt><dd>{E(earlier.classification)} by {E(earlier.analyst)} at {E(earlier.assessedAt)}</dd>" : "")
            .Append($"<dt>Lock</dt><dd id=\"lock\">{LockText(topics.LockOf(AssessmentLocks.KeyOf(w.caseKey, w.reportId)), user, now)}</dd>")
            .Append("</dl>");
        var holder = AssessmentLocks.Holder(topics.LockOf(AssessmentLocks.KeyOf(w.caseKey, w.reportId)), now);
        var ids = Hidden("case", w.caseKey) + Hidden("id", w.reportId);
        if (holder is null)
            body.Append(Form(http, "/report/lock", ids + "<button type=\"submit\" id=\"lock-report\">Lock and assess</button>"));
        else if (holder.lockedBy == user)
        {
            body.Append(Form(http, "/report/assess", ids
                + "<fieldset><legend>Assessment</legend>"
                + Select("classification", ["BASELINE", "NATIONAL", "NOT_ILLEGAL", "DOUBTFUL"], "BASELINE", "Verdict")
                + Select("category", ["NOT_DETERMINED", "A1", "A2", "B1", "B2"], "NOT_DETERMINED", "Category")
                + Select("ageGroup", Enum.GetNames<AgeGroup>(), "NOT_DETERMINED", "Age group")
                + Select("gender", Enum.GetNames<Gender>(), "NOT_DETERMINED", "Gender")
                + "<label><input type=\"checkbox\" name=\"isVirtual\" value=\"true\"> virtual (AI-generated)</label>"
                + "<label><input type=\"checkbox\" name=\"userGenerated\" value=\"true\"> self-generated</label>"
                + "<p><label>Note <textarea name=\"note\" id=\"note\" rows=\"3\" cols=\"60\" maxlength=\"2000\"></textarea></label></p>"
                + "<button type=\"submit\" id=\"send-assessment\">Send assessment</button></fieldset>", id: "assess"));
            body.Append(Form(http, "/report/unlock", ids + "<button type=\"submit\" id=\"unlock-report\">Release the lock</button>"));
        }
        else body.Append($"<p class=\"lock\" id=\"locked-by-other\">{E(holder.lockedBy)} is assessing this report (locked until {E(holder.expiresAt)}).</p>");

        // The report's history, put together by the same code as `pipeline trace`.
        var trace = await Task.Run(() => TraceOf(kafka.Value, serdes, w.reportId, http.RequestAborted), http.RequestAborted);
        body.Append("<h2>History</h2>").Append(TraceHtml(trace.Result, []));
        return Page(http, "Report " + w.reportId, body.ToString());
    }

    private static async Task<IResult> Lock(HttpContext http, ConsoleTopics topics, ConsoleActions actions)
    {
        var form = await http.Request.ReadFormAsync();
        if (Waiting(topics, form["case"], form["id"]) is not { } w) return Page(http, "Report not found", "<p class=\"error\">No such waiting report.</p>", 404);
        var (mine, holder) = await actions.LockAsync(w.caseKey, w.reportId, http.User.UserName(), http.RequestAborted);
        return mine ? Results.Redirect(ReportLink(w.caseKey, w.reportId))
            : Results.Redirect(ReportLink(w.caseKey, w.reportId) + "&error=" + Q($"{holder?.lockedBy} locked this report first."));
    }

    private static async Task<IResult> Unlock(HttpContext http, ConsoleTopics topics, ConsoleActions actions)
    {
        var form = await http.Request.ReadFormAsync();
        if (Waiting(topics, form["case"], form["id"]) is not { } w) return Page(http, "Report not found", "<p class=\"error\">No such waiting report.</p>", 404);
        await actions.UnlockAsync(w.caseKey, w.reportId, http.User.UserName(), http.RequestAborted);
        return Results.Redirect("/queue");
    }

    private static bool TryEnum<T>(string? text, out T value) where T : struct, Enum => Enum.TryParse(text, ignoreCase: false, out value) && Enum.IsDefined(value);

    private static async Task<IResult> Assess(HttpContext http, ConsoleTopics topics, ConsoleActions actions, TimeProvider time, IOptions<KafkaOptions> kafka, AvroSerdes serdes)
    {
        var form = await http.Request.ReadFormAsync();
        if (Waiting(topics, form["case"], form["id"]) is not { } w) return Page(http, "Report not found", "<p class=\"error\">No such waiting report.</p>", 404);
        if (!TryEnum<Contracts.Classification>(form["classification"], out var classification) || !TryEnum<SeverityCategory>(form["category"], out var category)
            || !TryEnum<AgeGroup>(form["ageGroup"], out var age) || !TryEnum<Gender>(form["gender"], out var gender))
            return await Report(http, topics, time, kafka, serdes, w.caseKey, w.reportId, "The verdict, category, age group or gender is not one of the choices.");
        var verdict = new ConsoleActions.Verdict(classification, category, age, gender, form["isVirtual"] == "true", form["userGenerated"] == "true", form["note"]);
        if (ConsoleActions.Problems(verdict) is { Count: > 0 } problems)
            return await Report(http, topics, time, kafka, serdes, w.caseKey, w.reportId, string.Join(" ", problems));
        var (sent, holder) = await actions.AssessAsync(w, verdict, http.User.UserName(), http.RequestAborted);
        if (sent is null) return Results.Redirect(ReportLink(w.caseKey, w.reportId) + "&error=" + Q($"{holder?.lockedBy} holds the lock on this report: nothing was sent."));
        return Results.Redirect("/queue?sent=" + Q(w.reportId));
    }

    // ── contacts ───────────────────────────────────────────────────────────

    private static IResult Contacts(HttpContext http, ConsoleTopics topics, string? done = null)
    {
        var held = topics.HeldNotices.GroupBy(h => h.contactId).ToDictionary(g => g.Key, g => g.ToList());
        var entries = topics.Contacts.Entries.ToDictionary(e => e.contactId);
        string ApproveButton(string id) => Form(http, "/contacts/approve", Hidden("id", id) + $"<button type=\"submit\" class=\"approve\" data-contact=\"{E(id)}\">Approve</button>", cls: "inline");
        var rows = entries.Keys.Union(held.Keys).Order(StringComparer.Ordinal).Select(id =>
        {
            entries.TryGetValue(id, out var e);
            var waiting = held.GetValueOrDefault(id) ?? [];
            var window = e?.sendWindow is { } sw ? $"{string.Join(",", sw.days)} {sw.opens}-{sw.closes} {sw.timeZone}" : "default";
            return (IEnumerable<string>)
            [
                $"<span class=\"url\">{E(id)}</span>", E(e?.hosterId ?? "-"),
                e is null ? "<strong>not in the directory</strong>" : e.approved ? $"approved by {E(e.approvedBy)} at {E(e.approvedAt)}" : "<strong>NOT APPROVED</strong>",
                E(e?.source.ToString() ?? "RDAP (held notice)"), E(e?.police == true ? "yes" : "no"), E(e?.groupingHours?.ToString(CultureInfo.InvariantCulture) ?? "default"),
                E(e?.language ?? "-"), E(window),
                $"<span class=\"held\" data-contact=\"{E(id)}\">{waiting.Count}</span>{(waiting.Count > 0 ? " (" + E(string.Join(", ", waiting.Select(x => x.heldFor).Distinct())) + ")" : "")}",
                (e?.approved == true ? "" : ApproveButton(id)) + $" <a href=\"/contacts/edit?id={Q(id)}\">edit</a>",
            ];
        });
        var body = (done is null ? "" : $"<p class=\"ok\" id=\"done\">{E(done)}</p>")
            + $"<p>The abuse contact directory ({E(Topics.ContactsDirectory)}) and the notices the takedown stage holds for each contact ({E(Topics.TakedownHeld)}). "
            + "Approving a contact releases its notices held for approval.</p>"
            + Table("contacts", ["contact", "hoster", "approval", "source", "police", "grouping h", "language", "send window", "held notices", ""], rows, "The directory is empty and no notice is held.");
        return Page(http, "Contacts", body);
    }

    private static async Task<IResult> Approve(HttpContext http, ConsoleActions actions)
    {
        var form = await http.Request.ReadFormAsync();
        var id = form["id"].ToString();
        if (ContactDirectory.Parse(id) is not { } parsed)
            return Page(http, "Not a contact", $"<p class=\"error\">'{E(id)}' is not a contact id (channel:address).</p>", 400);
        var contactId = ContactDirectory.IdOf(parsed.Channel, parsed.Address);
        await actions.ApproveContactAsync(contactId, http.User.UserName(), http.RequestAborted);
        return Results.Redirect("/contacts?done=" + Q($"Approved {contactId}: notices held for it are issued by the takedown stage."));
    }

    private static ContactDirectoryEntry? Entry(ConsoleTopics topics, string? id) => topics.Contacts.Entries.FirstOrDefault(e => e.contactId == id);

    private static IResult EditContact(HttpContext http, ConsoleTopics topics, TimeProvider time, string? id = null, string? error = null)
    {
        if (id is null || ContactDirectory.Parse(id) is null) return Page(http, "Not a contact", "<p class=\"error\">No contact id given.</p>", 400);
        var e = Entry(topics, id) ?? ContactEntries.New(id, ContactSource.CONSOLE, time.GetUtcNow().UtcDateTime);
        var w = e.sendWindow;
        string Text(string name, string label, string? value) => $"<p><label>{E(label)} <input name=\"{E(name)}\" id=\"{E(name)}\" value=\"{E(value)}\"></label></p>";
        var body = (error is null ? "" : $"<p class=\"error\" id=\"error\">{E(error)}</p>") + Form(http, "/contacts/edit", Hidden("id", id)
            + $"<p>Contact <span class=\"url\">{E(id)}</span> ({E(e.approved ? "approved" : "not approved")})</p>"
            + Select("channel", Enum.GetNames<NoticeChannel>(), e.channel.ToString(), "Channel (a change moves the entry to channel:address)")
            + Text("hoster", "Hoster id", e.hosterId) + Text("aliases", "Aliases (comma-separated)", string.Join(",", e.aliases))
            + Text("domains", "Domains (comma-separated)", string.Join(",", e.domains))
            + Text("groupingHours", "Grouping window, hours (empty: the configured one)", e.groupingHours?.ToString(CultureInfo.InvariantCulture))
            + Text("language", "Language (BCP 47, e.g. nl; texts exist for en and nl)", e.language) + Text("template", "Template (standard or brief)", e.template)
            + $"<p><label><input type=\"checkbox\" name=\"police\" value=\"true\"{(e.police ? " checked" : "")}> needs police consent first</label></p>"
            + "<fieldset><legend>Send window (all empty: the configured one)</legend>"
            + Text("days", "Days (e.g. Mon,Tue,Wed,Thu,Fri)", w is null ? null : string.Join(",", w.days)) + Text("opens", "Opens (HH:mm)", w?.opens)
            + Text("closes", "Closes (HH:mm)", w?.closes) + Text("timeZone", "Time zone (IANA)", w?.timeZone)
            + Text("holidays", "Holidays (yyyy-MM-dd, comma-separated)", w is null ? null : string.Join(",", w.holidays)) + "</fieldset>"
            + "<button type=\"submit\" id=\"save-contact\">Save</button>", id: "edit-contact");
        return Page(http, "Edit contact", body);
    }

    private static List<string> Csv(string? csv) => [.. (csv ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private static async Task<IResult> SaveContact(HttpContext http, ConsoleTopics topics, ConsoleActions actions, EventPublisher publisher, TimeProvider time)
    {
        var form = await http.Request.ReadFormAsync();
        var id = form["id"].ToString();
        if (ContactDirectory.Parse(id) is not { } parsed) return Page(http, "Not a contact", "<p class=\"error\">No contact id given.</p>", 400);
        var e = Entry(topics, id) is { } known ? ContactEntries.Copy(known) : ContactEntries.New(id, ContactSource.CONSOLE, time.GetUtcNow().UtcDateTime);
        var problems = new List<string>();
        if (!TryEnum<NoticeChannel>(form["channel"], out var channel)) problems.Add("The channel is not one of the choices.");
        e.hosterId = string.IsNullOrWhiteSpace(form["hoster"]) ? null : form["hoster"].ToString().Trim();
        e.aliases = Csv(form["aliases"]);
        e.domains = [.. Csv(form["domains"]).Select(d => d.ToLowerInvariant())];
        var grouping = form["groupingHours"].ToString();
        if (grouping.Length == 0) e.groupingHours = null;
        else if (double.TryParse(grouping, NumberStyles.Float, CultureInfo.InvariantCulture, out var g) && g is > 0 and <= 168) e.groupingHours = g;
        else problems.Add($"Grouping window '{grouping}' must be a number of hours between 0 and 168, e.g. 1.");
        e.language = string.IsNullOrWhiteSpace(form["language"]) ? null : form["language"].ToString().Trim();
        e.template = string.IsNullOrWhiteSpace(form["template"]) ? null : form["template"].ToString().Trim().ToLowerInvariant();
        if (NoticeStyle.TemplateError(e.template, "Template") is { } template) problems.Add(template);
        e.police = form["police"] == "true";
        string[] windowFields = ["days", "opens", "closes", "timeZone", "holidays"];
        if (windowFields.All(f => string.IsNullOrWhiteSpace(form[f]))) e.sendWindow = null;
        else
        {
            var defaults = new SendWindowSettings().ToRecord();
            var window = new SendWindow
            {
                days = string.IsNullOrWhiteSpace(form["days"]) ? defaults.days : Csv(form["days"]),
                opens = string.IsNullOrWhiteSpace(form["opens"]) ? defaults.opens : form["opens"].ToString().Trim(),
                closes = string.IsNullOrWhiteSpace(form["closes"]) ? defaults.closes : form["closes"].ToString().Trim(),
                timeZone = string.IsNullOrWhiteSpace(form["timeZone"]) ? defaults.timeZone : form["timeZone"].ToString().Trim(),
                holidays = Csv(form["holidays"]),
            };
            var (_, windowProblems) = ParsedWindow.Parse(window, "send window");
            problems.AddRange(windowProblems);
            e.sendWindow = window;
        }
        if (problems.Count > 0) return EditContact(http, topics, time, id, string.Join(" ", problems));
        var user = http.User.UserName();
        if (channel != parsed.Channel)
        {
            // The id is channel:address: the entry moves to its new id, and the old one is removed.
            e.channel = channel;
            e.contactId = ContactDirectory.IdOf(channel, e.address);
            await actions.SaveContactAsync(e, user, http.RequestAborted);
            await publisher.TombstoneAsync(Topics.ContactsDirectory, id, ct: http.RequestAborted);
        }
        else await actions.SaveContactAsync(e, user, http.RequestAborted);
        return Results.Redirect("/contacts?done=" + Q($"Saved {e.contactId}."));
    }

    // ── police holds ───────────────────────────────────────────────────────

    private static IResult Holds(HttpContext http, ConsoleTopics topics, string? done = null, string? error = null)
    {
        var rows = topics.PoliceHolds.Select(h => (IEnumerable<string>)
        [
            E(h.timeline.referredToPoliceAt ?? h.requestedAt), $"<a href=\"/trace?id={Q(h.report.reportId)}\">{E(h.report.reportId)}</a>",
            $"<span class=\"url\">{E(h.caseKey)}</span>", Hosting(h.hosting), E(h.rule),
            Form(http, "/holds/release", Hidden("case", h.caseKey)
                + $"<label>Reason <input name=\"reason\" class=\"reason\" required maxlength=\"500\" data-report=\"{E(h.report.reportId)}\"></label>"
                + "<label><input type=\"checkbox\" name=\"preserveEvidence\" value=\"true\"> preserve evidence</label>"
                + $"<button type=\"submit\" class=\"release\" data-report=\"{E(h.report.reportId)}\">Release</button>", cls: "inline"),
        ]);
        var body = (done is null ? "" : $"<p class=\"ok\" id=\"done\">{E(done)}</p>") + (error is null ? "" : $"<p class=\"error\" id=\"error\">{E(error)}</p>")
            + $"<p>Takedowns routing holds until the police release them or Routing:PoliceReleaseTimeout passes ({E(Topics.RoutingHeld)}). "
            + $"A release, with the police's word as its reason, goes to {E(Topics.PoliceReleases)}; routing then requests the takedown.</p>"
            + Table("holds", ["referred", "report", "case", "hosting", "rule", "release"], rows, "No takedown is held for the police.");
        return Page(http, "Police holds", body);
    }

    private static async Task<IResult> Release(HttpContext http, ConsoleTopics topics, ConsoleActions actions)
    {
        var form = await http.Request.ReadFormAsync();
        var caseKey = form["case"].ToString();
        var reason = form["reason"].ToString().Trim();
        if (topics.PoliceHoldOf(caseKey) is not { policeHold: true } held) return Holds(http, topics, error: "That takedown is not held (any more).");
        if (reason.Length == 0) return Holds(http, topics, error: "A release needs its reason (e.g. the police unit and reference that consented).");
        var release = await actions.ReleaseHoldAsync(held, reason, form["preserveEvidence"] == "true", http.User.UserName(), http.RequestAborted);
        return Results.Redirect("/holds?done=" + Q($"Released report {held.report.reportId} (referral {release.referralId}); routing requests its takedown."));
    }

    // ── trace and figures ──────────────────────────────────────────────────

    private sealed record Traced(TraceResult? Result, List<AuditRecord> Audit);

    private static Traced TraceOf(KafkaOptions kafka, AvroSerdes serdes, string id, CancellationToken ct)
    {
        var query = new ReportTrace.Query(id);
        List<TraceEvent> Read(IReadOnlyList<string> topics, Func<TraceEvent, bool> keep) =>
            TopicHistory.Read(kafka, serdes, topics, r => TraceEvent.Of(r) is { } e && keep(e) ? e : null, ct);
        var result = Read(ReportTrace.ResolvingTopics, query.Learn).Count == 0 ? null : ReportTrace.Build(query, Read(ReportTrace.TracedTopics, query.Touches));
        return new Traced(result, []);
    }

    private static string TraceHtml(TraceResult? result, List<AuditRecord> audit)
    {
        var sb = new StringBuilder();
        if (result is null || result.Reports.Count == 0) sb.Append("<p class=\"empty\" id=\"trace-empty\">No event of it is left on the operational topics.</p>");
        foreach (var report in result?.Reports ?? [])
        {
            sb.Append($"<h3>Report {E(report.ReportId)}</h3><p>Case {E(string.Join(", ", report.CaseKeys))} · state: <strong class=\"trace-state\">{E(report.State)}</strong></p>");
            sb.Append(Table("trace-" + report.ReportId, ["event time", "topic", "stage", "what", "fields"], report.Events.Select(e => (IEnumerable<string>)
            [
                E(TraceEvent.Time(e.At)), E(e.Topic), E(e.Source.Stage ?? "-"), E(e.What), $"<span class=\"url\">{E(string.Join("  ", e.Fields.Select(f => $"{f.Key}={f.Value}")))}</span>",
            ]), "No events."));
        }
        if (audit.Count > 0)
            sb.Append("<h3>Audit log</h3>").Append(Table("audit", ["at", "action", "actor", "stage", "details"], audit.Select(a => (IEnumerable<string>)
            [
                E(a.at), E(a.action), E(a.actor), E(a.stage ?? "-"), E(string.Join("  ", a.details.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => $"{d.Key}={d.Value}"))),
            ]), ""));
        return sb.ToString();
    }

    private static async Task<IResult> Trace(HttpContext http, IOptions<KafkaOptions> kafka, AvroSerdes serdes, IOptions<AuditOptions> auditOptions, string? id = null)
    {
        var form = $"<form method=\"get\" action=\"/trace\"><label>Report id, URL, case key or notice id <input name=\"id\" id=\"trace-id\" size=\"60\" value=\"{E(id)}\"></label> "
            + "<button type=\"submit\" id=\"trace\">Trace</button></form>";
        if (string.IsNullOrWhiteSpace(id)) return Page(http, "Trace", form);
        id = id.Trim();
        var tokens = string.IsNullOrWhiteSpace(auditOptions.Value.TokenKey) ? null : new CaseTokens(Convert.FromBase64String(auditOptions.Value.TokenKey));
        var traced = await Task.Run(() =>
        {
            var t = TraceOf(kafka.Value, serdes, id, http.RequestAborted);
            return t with { Audit = AuditTrail.Read(kafka.Value, serdes, id, t.Result, tokens, http.RequestAborted) };
        }, http.RequestAborted);
        return Page(http, "Trace of " + id, form + TraceHtml(traced.Result, traced.Audit));
    }

    private static async Task<IResult> Scorecards(HttpContext http, IOptions<KafkaOptions> kafka, AvroSerdes serdes, TimeProvider time, int days = 30)
    {
        days = Math.Clamp(days, 1, 3650);
        var history = new ScorecardHistory();
        using (var readers = ScorecardHistory.Follow(history, kafka.Value, serdes, NullLogger.Instance))
        {
            readers.Start();
            await readers.CaughtUp.WaitAsync(TimeSpan.FromMinutes(5), http.RequestAborted);
        }
        var now = time.GetUtcNow().UtcDateTime;
        static string Span(TimeSpan? t) => t is { } s ? TraceEvent.Duration(s) : "-";
        var rows = history.Rank(now, now.AddDays(-days), 3).Select(r => (IEnumerable<string>)
        [
            E(r.HosterName ?? r.Hoster), E(r.Notices), E(r.Removed), E(r.ShareWithinNorm is { } s ? s.ToString("P1", CultureInfo.InvariantCulture) : "-"),
            E(Span(r.MedianTimeToRemoval)), E(Span(r.P90TimeToRemoval)), E(r.OpenNow), E(r.OverdueNow), E(r.Breaches), E(r.Reminders), E(r.RepeatOffender ? "yes" : ""),
        ]);
        return Page(http, "Hoster scorecards", $"<p>Cases first noticed in the last {days} days (open and overdue: any age), worst first; the same figures as `pipeline sla scorecard`.</p>"
            + Table("scorecards", ["hoster", "notices", "removed", "within 24 h", "median", "p90", "open", "overdue", "breaches", "reminders", "repeat offender"], rows, "No notice in the period."));
    }

    private static async Task<IResult> Transparency(HttpContext http, IOptions<KafkaOptions> kafka, AvroSerdes serdes, TimeProvider time, int days = 365)
    {
        days = Math.Clamp(days, 1, 3650);
        var now = time.GetUtcNow().UtcDateTime;
        var history = await Task.Run(() => TransparencySource.Read(kafka.Value, serdes, http.RequestAborted), http.RequestAborted);
        var figures = TransparencyFigures.Compute(history, now.AddDays(-days), now.AddMinutes(1), anonymous: false);
        // The report's own page, as `pipeline report --format html` writes it (no script; charts as data URIs).
        return Results.Content(TransparencyReportFormats.Html(figures), "text/html; charset=utf-8", Encoding.UTF8);
    }

    // ── users ──────────────────────────────────────────────────────────────

    private static IResult Users(HttpContext http, ConsoleUsers users, string? done = null, string? error = null, int status = 200)
    {
        var rows = users.All.Select(u => (IEnumerable<string>)
        [
            E(u.Name), E(string.Join(", ", u.Roles)), E(u.Disabled ? "disabled" : "active"), E(u.PasswordHash is null ? "OpenID Connect only" : "local password"), E(u.Source),
        ]);
        var roles = string.Concat(ConsoleRoles.All.Select(r => $"<label><input type=\"checkbox\" name=\"roles\" value=\"{E(r)}\" id=\"role-{E(r)}\"> {E(r)}</label>"));
        var body = (done is null ? "" : $"<p class=\"ok\" id=\"done\">{E(done)}</p>") + (error is null ? "" : $"<p class=\"error\" id=\"error\">{E(error)}</p>")
            + Table("users", ["user", "roles", "state", "sign-in", "kept in"], rows, "No user.")
            + Form(http, "/users", "<fieldset><legend>Add or change a user</legend>"
                + "<p><label>User <input name=\"name\" id=\"user-name\" required></label> (a pseudonym: it names the analyst in assessments)</p>"
                + "<p><label>Password <input type=\"password\" name=\"password\" id=\"user-password\" autocomplete=\"new-password\"></label> (at least 12 characters; empty keeps the current one)</p>"
                + $"<p>{roles}<label><input type=\"checkbox\" name=\"disabled\" value=\"true\" id=\"user-disabled\"> disabled</label></p>"
                + "<button type=\"submit\" id=\"save-user\">Save</button></fieldset>", id: "user-form");
        return Page(http, "Users", body, status);
    }

    private static async Task<IResult> SaveUser(HttpContext http, ConsoleUsers users, ConsoleAudit audit)
    {
        var form = await http.Request.ReadFormAsync();
        var name = form["name"].ToString().Trim().ToLowerInvariant();
        var password = form["password"].ToString();
        var roles = form["roles"].Select(r => r ?? "").Where(ConsoleRoles.All.Contains).Distinct().ToList();
        var disabled = form["disabled"] == "true";
        string? error = null;
        if (!ConsoleRoles.UserName().IsMatch(name)) error = $"'{name}' is not a user name: lower-case letters, digits, '.', '_' or '-'.";
        else if (roles.Count == 0 && !disabled) error = "Give the user at least one role (or disable them).";
        else if (password.Length is > 0 and < 12) error = "The password has fewer than 12 characters.";
        else if (password.Length == 0 && users.Find(name)?.PasswordHash is null) error = "A new user needs a password.";
        if (error is not null) return Users(http, users, error: error, status: StatusCodes.Status400BadRequest);
        var by = http.User.UserName();
        var saved = await users.SaveAsync(name, password.Length > 0 ? password : null, roles, disabled, by, http.RequestAborted);
        await audit.WriteAsync("console.user-saved", by, Topics.ConsoleUsers, saved.eventId,
            details: new Dictionary<string, string?> { ["user"] = name, ["roles"] = string.Join(",", roles), ["disabled"] = disabled ? "true" : "false", ["passwordChanged"] = password.Length > 0 ? "true" : "false" },
            ct: http.RequestAborted);
        return Results.Redirect("/users?done=" + Q($"Saved {name}."));
    }
}
