using System.Globalization;
using System.Net;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;

namespace Pipeline.Operator;

/// <summary>
/// The console's pages, written as HTML strings with every value encoded (<see cref="E"/>). Server-rendered, no
/// script, no external resource; URLs of reported material appear as text only, never as a link or an image.
/// </summary>
public static class Html
{
    public static string E(object? value) => WebUtility.HtmlEncode(value switch
    {
        null => "",
        DateTime t => t.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    });

    public static string Q(string value) => Uri.EscapeDataString(value);

    /// <summary>A form that posts to <paramref name="action"/> with the antiforgery token.</summary>
    public static string Form(HttpContext http, string action, string body, string? id = null, string? cls = null)
    {
        var tokens = http.RequestServices.GetService(typeof(IAntiforgery)) is IAntiforgery af ? af.GetAndStoreTokens(http) : null;
        var hidden = tokens is null ? "" : $"<input type=\"hidden\" name=\"{E(tokens.FormFieldName)}\" value=\"{E(tokens.RequestToken)}\">";
        return $"<form method=\"post\" action=\"{E(action)}\"{(id is null ? "" : $" id=\"{E(id)}\"")}{(cls is null ? "" : $" class=\"{E(cls)}\"")}>{hidden}{body}</form>";
    }

    public static string Hidden(string name, string value) => $"<input type=\"hidden\" name=\"{E(name)}\" value=\"{E(value)}\">";

    public static string Select(string name, IEnumerable<string> options, string? selected = null, string? label = null) =>
        $"<label>{E(label ?? name)} <select name=\"{E(name)}\" id=\"{E(name)}\">"
        + string.Concat(options.Select(o => $"<option value=\"{E(o)}\"{(o == selected ? " selected" : "")}>{E(o)}</option>"))
        + "</select></label>";

    public static string Table(string id, IEnumerable<string> headers, IEnumerable<IEnumerable<string>> rows, string empty)
    {
        var list = rows.Select(r => r.ToList()).ToList();
        if (list.Count == 0) return $"<p class=\"empty\" id=\"{E(id)}-empty\">{E(empty)}</p>";
        var sb = new StringBuilder($"<table id=\"{E(id)}\"><thead><tr>");
        foreach (var h in headers) sb.Append("<th>").Append(E(h)).Append("</th>");
        sb.Append("</tr></thead><tbody>");
        foreach (var row in list)
        {
            sb.Append("<tr>");
            foreach (var cell in row) sb.Append("<td>").Append(cell).Append("</td>");
            sb.Append("</tr>");
        }
        return sb.Append("</tbody></table>").ToString();
    }

    private const string Style = """
        body{font-family:system-ui,sans-serif;margin:0;color:#1a202c;background:#f7fafc}
        header{background:#2d3748;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
        header a{color:#e2e8f0;text-decoration:none}header a:hover{text-decoration:underline}
        header .who{margin-left:auto;font-size:.9rem}header form{display:inline}
        main{padding:1rem 1.4rem;max-width:1200px}
        table{border-collapse:collapse;width:100%;background:#fff;margin:.6rem 0 1.2rem}
        th,td{border:1px solid #e2e8f0;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
        th{background:#edf2f7}.url{font-family:monospace;word-break:break-all}
        .lock{color:#9c4221;font-weight:600}.mine{color:#276749;font-weight:600}
        .error{background:#fed7d7;border:1px solid #c53030;padding:.5rem;margin:.5rem 0}
        .ok{background:#c6f6d5;border:1px solid #2f855a;padding:.5rem;margin:.5rem 0}
        form.inline{display:inline}label{margin-right:.8rem}fieldset{margin:.6rem 0;background:#fff}
        button{cursor:pointer}pre{white-space:pre-wrap;background:#fff;padding:.5rem;border:1px solid #e2e8f0}
        dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem;background:#fff;padding:.6rem;border:1px solid #e2e8f0}
        dt{font-weight:600}
        """;

    public static IResult Page(HttpContext http, string title, string body, int status = 200)
    {
        var user = http.User;
        var nav = new StringBuilder();
        if (user.Identity?.IsAuthenticated == true)
        {
            if (user.IsInRole(ConsoleRoles.Analyst)) nav.Append("<a href=\"/queue\">Assessment queue</a><a href=\"/reviews\">Review requests</a>");
            if (user.IsInRole(ConsoleRoles.Manager)) nav.Append("<a href=\"/contacts\">Contacts</a><a href=\"/holds\">Police holds</a><a href=\"/scorecards\">Hoster scorecards</a><a href=\"/transparency\">Transparency report</a>");
            if (user.IsInRole(ConsoleRoles.Analyst) || user.IsInRole(ConsoleRoles.Manager)) nav.Append("<a href=\"/trace\">Trace</a>");
            if (user.IsInRole(ConsoleRoles.Admin)) nav.Append("<a href=\"/users\">Users</a>");
            var roles = string.Join(", ", ConsoleRoles.All.Where(user.IsInRole));
            nav.Append("<span class=\"who\" id=\"who\">").Append(E(user.Identity.Name)).Append(" (").Append(E(roles)).Append(") ")
                .Append(Form(http, "/logout", "<button type=\"submit\" id=\"sign-out\">Sign out</button>", cls: "inline")).Append("</span>");
        }
        var html = $"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{E(title)} · hotline console</title><style>{Style}</style></head>"
            + $"<body><header><strong>Hotline console</strong>{nav}</header><main><h1>{E(title)}</h1>{body}</main></body></html>";
        return Results.Content(html, "text/html; charset=utf-8", Encoding.UTF8, status);
    }

    public static string UserName(this ClaimsPrincipal user) => user.Identity?.Name ?? throw new InvalidOperationException("No signed-in user.");
}
