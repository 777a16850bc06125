using ScottPlot;

namespace Pipeline.Inspection.Transparency;

/// <summary>The report's bar charts, drawn by ScottPlot (SkiaSharp) as PNG bytes for data URIs, so the HTML page needs
/// no script and no file beside it.</summary>
public static class TransparencyCharts
{
    public const int Width = 720;
    public const int Height = 320;

    /// <summary>A bar per key, labelled under the bar, with its count above it.</summary>
    public static byte[] Bars(string title, string yLabel, IReadOnlyList<KeyedCount> bars, string colour = "#2b6cb0")
    {
        using var plot = new Plot();
        var positions = Enumerable.Range(0, bars.Count).Select(i => (double)i).ToArray();
        var plotted = plot.Add.Bars(positions, bars.Select(b => (double)b.Count).ToArray());
        foreach (var bar in plotted.Bars)
        {
            bar.FillColor = Color.FromHex(colour);
            bar.LineWidth = 0;
            bar.Label = ((int)bar.Value).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        plotted.ValueLabelStyle.FontSize = 13;
        plot.Axes.Bottom.SetTicks(positions, [.. bars.Select(b => b.Key)]);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Bottom.TickLabelStyle.FontSize = bars.Count > 8 ? 11 : 13;
        plot.Axes.Left.TickLabelStyle.FontSize = 12;
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true }; // counts
        plot.Grid.XAxisStyle.MajorLineStyle.Width = 0;
        plot.Title(title, 15);
        plot.YLabel(yLabel, 13);
        plot.Axes.Margins(bottom: 0, top: 0.15);
        if (bars.Count == 0 || bars.All(b => b.Count == 0)) plot.Axes.SetLimitsY(0, 1);
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }
}
