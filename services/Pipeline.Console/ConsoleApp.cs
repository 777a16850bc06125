using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pipeline.Audit;
using Pipeline.Platform;
using Pipeline.Takedown;

namespace Pipeline.Operator;

/// <summary>
/// The console's web application: cookie sessions with sliding expiry, OpenID Connect when Console:Oidc:Authority is
/// set, role policies (analyst, manager, admin), antiforgery on every form, and the pages (<see cref="ConsolePages"/>).
/// </summary>
public static class ConsoleApp
{
    public const string OidcScheme = OpenIdConnectDefaults.AuthenticationScheme;

    /// <summary>The console on <paramref name="urls"/>, configured by <paramref name="args"/>, appsettings and the
    /// environment plus <paramref name="overrides"/> (the demo and tests give the embedded cluster's address there).</summary>
    public static WebApplication Create(string[] args, IEnumerable<KeyValuePair<string, string?>>? overrides = null, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        if (overrides is not null) builder.Configuration.AddInMemoryCollection(overrides);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
            builder.WebHost.UseUrls("http://0.0.0.0:8080");
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        builder.AddConsole();
        services?.Invoke(builder.Services);
        var app = builder.Build();
        app.MapConsole();
        return app;
    }

    public static WebApplicationBuilder AddConsole(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        PipelineHostBuilder.AddPlatform(services); // Kafka options, registry, serdes, publisher, TimeProvider
        services.AddOptions<ConsoleOptions>().BindConfiguration(ConsoleOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConsoleOptions>, ConsoleOptionsValidator>());
        services.AddOptions<AuditOptions>().BindConfiguration(AuditOptions.Section); // optional here: the token key names cases in audit records
        services.TryAddSingleton<ContactDirectory>();
        services.AddTopicView<ConsoleTopics>();
        services.TryAddSingleton<ConsoleUsers>();
        services.TryAddSingleton<ConsoleAudit>();
        services.TryAddSingleton<ConsoleActions>();
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "console.csrf";
            o.FormFieldName = "__csrf";
        });

        var authentication = services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie();
        services.AddOptions<CookieAuthenticationOptions>(CookieAuthenticationDefaults.AuthenticationScheme).Configure<IOptions<ConsoleOptions>>((o, console) =>
        {
            o.Cookie.Name = "console.session";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Lax;
            o.Cookie.SecurePolicy = console.Value.SecureCookies ? CookieSecurePolicy.Always : CookieSecurePolicy.SameAsRequest;
            o.ExpireTimeSpan = TimeSpan.FromMinutes(console.Value.SessionMinutes);
            o.SlidingExpiration = true;
            o.LoginPath = "/login";
            o.LogoutPath = "/logout";
            o.Events.OnRedirectToAccessDenied = ctx => Html.Page(ctx.HttpContext, "Not for your role",
                "<p class=\"error\" id=\"forbidden\">This page is not for your role. Ask an admin if you need it.</p>", StatusCodes.Status403Forbidden).ExecuteAsync(ctx.HttpContext);
            o.Events.OnValidatePrincipal = ValidateLocalUser;
        });
        if (!string.IsNullOrWhiteSpace(builder.Configuration["Console:Oidc:Authority"]))
        {
            authentication.AddOpenIdConnect(OidcScheme, _ => { });
            services.AddOptions<OpenIdConnectOptions>(OidcScheme).Configure<IOptions<ConsoleOptions>>((o, console) =>
            {
                var oidc = console.Value.Oidc;
                o.Authority = oidc.Authority;
                o.ClientId = oidc.ClientId;
                o.ClientSecret = oidc.ClientSecret;
                o.RequireHttpsMetadata = oidc.RequireHttpsMetadata;
                o.ResponseType = "code";
                o.UsePkce = true;
                o.SaveTokens = false;
                o.Scope.Clear();
                o.Scope.Add("openid");
                o.Scope.Add("profile");
                o.SignInScheme = CookieAuthenticationDefaults.AuthenticationScheme;
                o.Events.OnTokenValidated = ctx =>
                {
                    // The provider's claims become the console's: its name claim names the user, its role claim the roles.
                    var name = ctx.Principal?.FindFirst(oidc.NameClaim)?.Value ?? ctx.Principal?.FindFirst("sub")?.Value ?? "unknown";
                    var roles = ctx.Principal?.FindAll(oidc.RoleClaim).Select(c => c.Value).Where(ConsoleRoles.All.Contains) ?? [];
                    ctx.Principal = Principal(name.ToLowerInvariant(), roles, "oidc");
                    return Task.CompletedTask;
                };
            });
        }
        services.AddAuthorization(o =>
        {
            foreach (var role in ConsoleRoles.All) o.AddPolicy(role, p => p.RequireAuthenticatedUser().RequireRole(role));
            o.AddPolicy(ReaderPolicy, p => p.RequireAuthenticatedUser().RequireRole(ConsoleRoles.Analyst, ConsoleRoles.Manager));
        });
        return builder;
    }

    /// <summary>Analysts and managers: trace.</summary>
    public const string ReaderPolicy = "reader";

    public static ClaimsPrincipal Principal(string name, IEnumerable<string> roles, string source)
    {
        var identity = new ClaimsIdentity(CookieAuthenticationDefaults.AuthenticationScheme, ClaimTypes.Name, ClaimTypes.Role);
        identity.AddClaim(new Claim(ClaimTypes.Name, name));
        identity.AddClaim(new Claim(SourceClaim, source));
        foreach (var role in roles.Distinct(StringComparer.Ordinal)) identity.AddClaim(new Claim(ClaimTypes.Role, role));
        return new ClaimsPrincipal(identity);
    }

    public const string SourceClaim = "console:source";

    /// <summary>A local user who was disabled, removed or given other roles since signing in is signed out (or gets the
    /// new roles) on the next request.</summary>
    private static async Task ValidateLocalUser(CookieValidatePrincipalContext ctx)
    {
        if (ctx.Principal?.FindFirst(SourceClaim)?.Value != "local") return;
        var users = ctx.HttpContext.RequestServices.GetRequiredService<ConsoleUsers>();
        var account = users.Find(ctx.Principal.UserName());
        if (account is null || account.Disabled || account.Roles.Count == 0)
        {
            ctx.RejectPrincipal();
            await ctx.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return;
        }
        var roles = ctx.Principal.FindAll(ClaimTypes.Role).Select(c => c.Value).Order(StringComparer.Ordinal);
        if (!roles.SequenceEqual(account.Roles.Order(StringComparer.Ordinal)))
        {
            ctx.ReplacePrincipal(Principal(account.Name, account.Roles, "local"));
            ctx.ShouldRenew = true;
        }
    }

    public static WebApplication MapConsole(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        PipelineHostBuilder.MapEndpoints(app); // /health/live, /health/ready (the console's topic view), /metrics
        ConsolePages.Map(app);
        return app;
    }
}
