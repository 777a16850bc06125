using Microsoft.Playwright;

namespace Pipeline.Console.Tests;

/// <summary>Debian's chromium driven by Playwright (no browser is downloaded): one browser, a fresh context (its own
/// cookies: its own user) per <see cref="SignInAsync"/>.</summary>
public sealed class Browser : IAsyncDisposable
{
    /// <summary>Debian's package; PIPELINE_CHROMIUM names another Chromium binary.</summary>
    private static string ChromiumPath => Environment.GetEnvironmentVariable("PIPELINE_CHROMIUM") ?? "/usr/bin/chromium";

    private readonly IPlaywright playwright;
    private readonly IBrowser browser;
    private readonly string baseUrl;

    private Browser(IPlaywright playwright, IBrowser browser, string baseUrl)
    {
        this.playwright = playwright;
        this.browser = browser;
        this.baseUrl = baseUrl;
    }

    public static async Task<Browser> LaunchAsync(string baseUrl)
    {
        if (!File.Exists(ChromiumPath))
            Assert.Fail($"No Chromium at {ChromiumPath}: these tests drive the console in Debian's chromium. Install it with `apt-get install -y chromium` "
                + "(.ci/run does, as root), or set PIPELINE_CHROMIUM to a Chromium binary. Playwright downloads no browser here.");
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = ChromiumPath, Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        });
        return new Browser(playwright, browser, baseUrl);
    }

    /// <summary>A new browser context signed in as <paramref name="user"/>, on the page the console shows after sign-in.</summary>
    public async Task<IPage> SignInAsync(string user)
    {
        var context = await browser.NewContextAsync(new() { BaseURL = baseUrl, ViewportSize = new() { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/login");
        await page.FillAsync("#name", user);
        await page.FillAsync("#password", ConsoleFixture.Password);
        await page.ClickAsync("#sign-in");
        await page.WaitForSelectorAsync("#who");
        return page;
    }

    /// <summary>Saves a screenshot of <paramref name="page"/> as &lt;name&gt;.png when PIPELINE_CONSOLE_SCREENSHOTS names a folder
    /// (docs/images for the README).</summary>
    public static async Task ScreenshotAsync(IPage page, string name)
    {
        if (Environment.GetEnvironmentVariable("PIPELINE_CONSOLE_SCREENSHOTS") is not { Length: > 0 } folder) return;
        Directory.CreateDirectory(folder);
        await page.ScreenshotAsync(new() { Path = Path.Combine(folder, "console-" + name + ".png"), FullPage = false });
    }

    public async ValueTask DisposeAsync()
    {
        await browser.DisposeAsync();
        playwright.Dispose();
    }
}
