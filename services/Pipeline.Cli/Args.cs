using System.Globalization;

namespace Pipeline.Cli;

/// <summary>--name value / --name=value options after the command words.</summary>
public sealed class Args
{
    private readonly Dictionary<string, string> options = new(StringComparer.OrdinalIgnoreCase);

    public Args(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            if (!list[i].StartsWith("--", StringComparison.Ordinal)) { Words.Add(list[i]); continue; }
            var name = list[i][2..];
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0) options[name[..eq]] = name[(eq + 1)..];
            else if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal)) options[name] = list[++i];
            else options[name] = "true";
        }
    }

    public List<string> Words { get; } = [];

    public string? Text(string name) => options.GetValueOrDefault(name);

    public double Number(string name, double fallback) =>
        options.TryGetValue(name, out var v) ? double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d
            : throw new ArgumentException($"--{name} '{v}' is not a number. Fix: e.g. --{name} {fallback.ToString(CultureInfo.InvariantCulture)}.") : fallback;

    public int Whole(string name, int fallback) =>
        options.TryGetValue(name, out var v) ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var d) ? d
            : throw new ArgumentException($"--{name} '{v}' is not a whole number. Fix: e.g. --{name} {fallback}.") : fallback;
}
