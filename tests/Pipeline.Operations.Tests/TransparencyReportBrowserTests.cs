using Microsoft.Playwright;
using Pipeline.Inspection.Transparency;

namespace Pipeline.Operations.Tests;

/// <summary>
/// The transparency report's HTML page as a reader sees it: opened from disk in Debian's headless chromium (driven by
/// Playwright; no browser is downloaded), its headline figures shown and every chart image loaded.
/// </summary>
/// <remarks>The README's screenshot: <c>PIPELINE_REPORT_HTML=&lt;a report, e.g. the demo's&gt;
/// PIPELINE_REPORT_SCREENSHOT=docs/images/transparency-report.png dotnet test tests/Pipeline.Operations.Tests --filter
/// TransparencyReportBrowserTests</c>.</remarks>
public sealed class TransparencyReportBrowserTests
{
    /// <summary>Debian's package; PIPELINE_CHROMIUM names another Chromium binary.</summary>
    private static string ChromiumPath => Environment.GetEnvironmentVariable("PIPELINE_CHROMIUM") ?? "/usr/bin/chromium";

    [Fact]
    public async Task The_report_shows_its_headline_figures_and_loads_every_chart_in_chromium()
    {
        var file = Write(TransparencyReportFormats.Html(TransparencyFiguresTests.Figures()));
        await using var chromium = await Chromium.LaunchAsync();
        var page = await chromium.OpenAsync(file);

        Assert.Equal("Transparency report", await page.Locator("h1").InnerTextAsync());
        Assert.Equal("Reports received 2026-01-01 to 2026-03-31 (UTC)", await page.Locator(".sub").InnerTextAsync());
        Assert.Equal(
            [("10", "reports received"), ("5", "assessed illegal (71.4 % of classified)"), ("4", "takedown notices"), ("10.0 h", "median time to removal (from notice)"),
             ("50.0 %", "removed within 24 h of the notice"), ("1", "police referrals")],
            await Tiles(page));
        Assert.True(await page.Locator("#by-country").IsVisibleAsync());
        Assert.Equal(["NL\t4\t80.0 %", "DE\t1\t20.0 %"], await page.Locator("#by-country tbody tr").AllInnerTextsAsync());
        Assert.Equal("from the notice\t4\t10.0 h\t3.3 d\t50.0 %\t75.0 %", await page.Locator("#removal tbody tr").First.InnerTextAsync());
        Assert.Equal(["chart-monthly", "chart-countries", "chart-removal-times"], await ChartsLoaded(page));
        Assert.True(await page.Locator("#slowest").IsVisibleAsync());
    }

    [Fact]
    public async Task An_anonymous_report_page_renders_with_its_charts_and_no_per_case_list()
    {
        // A report given by PIPELINE_REPORT_HTML (e.g. the demo's, for the README's screenshot), or the known history's.
        var given = Environment.GetEnvironmentVariable("PIPELINE_REPORT_HTML");
        var file = given is { Length: > 0 } ? Path.GetFullPath(given) : Write(TransparencyReportFormats.Html(TransparencyFiguresTests.Figures(anonymous: true)));
        await using var chromium = await Chromium.LaunchAsync();
        var page = await chromium.OpenAsync(file);

        Assert.Equal(6, (await Tiles(page)).Count);
        Assert.Contains("chart-removal-times", await ChartsLoaded(page));
        if (given is not { Length: > 0 })
        {
            Assert.Equal(0, await page.Locator("#slowest").CountAsync());
            Assert.DoesNotContain(".test", await page.ContentAsync(), StringComparison.Ordinal);
        }
        if (Environment.GetEnvironmentVariable("PIPELINE_REPORT_SCREENSHOT") is { Length: > 0 } screenshot)
            await page.ScreenshotAsync(new() { Path = Path.GetFullPath(screenshot), FullPage = true });
    }

    /// <summary>Each tile's (value, label), visible ones only.</summary>
    private static async Task<List<(string, string)>> Tiles(IPage page)
    {
        var tiles = new List<(string, string)>();
        foreach (var tile in await page.Locator(".tile").AllAsync())
        {
            Assert.True(await tile.IsVisibleAsync());
            tiles.Add((await tile.Locator(".v").InnerTextAsync(), await tile.Locator(".l").InnerTextAsync()));
        }
        return tiles;
    }

    /// <summary>The ids of the chart images, each asserted visible and decoded by the browser (naturalWidth &gt; 0).</summary>
    private static async Task<List<string>> ChartsLoaded(IPage page)
    {
        var ids = new List<string>();
        foreach (var img in await page.Locator("figure img").AllAsync())
        {
            await img.ScrollIntoViewIfNeededAsync();
            Assert.True(await img.IsVisibleAsync());
            var width = await img.EvaluateAsync<int>("i => i.complete ? i.naturalWidth : -1");
            Assert.True(width == TransparencyCharts.Width, $"chart {await img.GetAttributeAsync("id")} did not load: naturalWidth {width}");
            ids.Add((await img.GetAttributeAsync("id"))!);
        }
        return ids;
    }

    private static string Write(string html)
    {
        var path = Path.Combine(Path.GetTempPath(), "transparency-browser-test-" + Guid.NewGuid().ToString("N") + ".html");
        File.WriteAllText(path, html);
        return path;
    }

    /// <summary>Debian's chromium with the Playwright driver that runs it: disposing closes both.</summary>
    private sealed class Chromium(IPlaywright playwright, IBrowser browser) : IAsyncDisposable
    {
        public static async Task<Chromium> LaunchAsync()
        {
            if (!File.Exists(ChromiumPath))
                Assert.Fail($"No Chromium at {ChromiumPath}: this test renders the report in Debian's chromium. Install it with `apt-get install -y chromium` "
                    + "(.ci/run does, as root), or set PIPELINE_CHROMIUM to a Chromium binary. Playwright downloads no browser here.");
            Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
            var playwright = await Playwright.CreateAsync();
            return new Chromium(playwright, await playwright.Chromium.LaunchAsync(new() { ExecutablePath = ChromiumPath, Headless = true, Args = ["--no-sandbox"] }));
        }

        /// <summary>A page of 1000 × 900 CSS pixels showing the file.</summary>
        public async Task<IPage> OpenAsync(string file)
        {
            var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1000, Height = 900 } });
            await page.GotoAsync(new Uri(file).AbsoluteUri);
            return page;
        }

        public async ValueTask DisposeAsync()
        {
            await browser.DisposeAsync();
            playwright.Dispose();
        }
    }
}
