using System.Globalization;
using Pipeline.Contracts;

namespace Pipeline.Takedown;

/// <summary>Section <c>Takedown:SendWindow</c>: when notices and reminders may leave, by default (a contact directory
/// entry's <c>sendWindow</c> overrides it for that contact). A notice due outside the window is held on
/// takedown.held.v1 and issued at the window's next start; its removal deadline is not moved.</summary>
public sealed class SendWindowSettings
{
    /// <summary>False (the default): notices go out whenever they are due. Turn it on per deployment
    /// (<c>Takedown__SendWindow__Enabled=true</c>); a contact's own window in the directory applies either way.</summary>
    public bool Enabled { get; set; }

    /// <summary>Working days: English day names or their three-letter abbreviations.</summary>
    public List<string> Days { get; set; } = ["Mon", "Tue", "Wed", "Thu", "Fri"];

    /// <summary>Local start of the working hours, HH:mm.</summary>
    public string Opens { get; set; } = "09:00";

    /// <summary>Local end of the working hours, HH:mm, after <see cref="Opens"/>.</summary>
    public string Closes { get; set; } = "17:00";

    /// <summary>IANA time zone id (TimeZoneInfo.FindSystemTimeZoneById).</summary>
    public string TimeZone { get; set; } = "Europe/Amsterdam";

    /// <summary>Local dates (yyyy-MM-dd) on which nothing is sent.</summary>
    public List<string> Holidays { get; set; } = [];

    public SendWindow ToRecord() => new() { days = [.. Days], opens = Opens, closes = Closes, timeZone = TimeZone, holidays = [.. Holidays] };
}

/// <summary>A send window, parsed: working days, local hours, time zone and holidays. <see cref="NextOpen"/> is the
/// whole rule: the instant itself if the window is open then, else the start of the next open period.</summary>
/// <remarks>Written here rather than taken from a library: the rule is a few lines over <see cref="TimeZoneInfo"/>
/// (IANA ids on .NET 10 on every platform), and a scheduling library (Quartz calendars, NCrontab) would bring its own
/// model of time without the holidays-per-recipient rule.</remarks>
public sealed record ParsedWindow(IReadOnlySet<DayOfWeek> Days, TimeOnly Opens, TimeOnly Closes, TimeZoneInfo Zone, IReadOnlySet<DateOnly> Holidays)
{
    /// <summary>The window's settings, or the problems, each naming <paramref name="setting"/> and the fix.</summary>
    public static (ParsedWindow? Window, List<string> Problems) Parse(SendWindow w, string setting)
    {
        var problems = new List<string>();
        var days = new HashSet<DayOfWeek>();
        foreach (var d in w.days)
        {
            if (Day(d) is { } day) days.Add(day);
            else problems.Add($"{setting}:Days '{d}' is not a day. Fix: use English day names or abbreviations, e.g. [\"Mon\",\"Tue\",\"Wed\",\"Thu\",\"Fri\"].");
        }
        if (w.days.Count == 0)
            problems.Add($"{setting}:Days is empty, so nothing would ever be sent. Fix: list the working days, e.g. [\"Mon\",\"Tue\",\"Wed\",\"Thu\",\"Fri\"], or set Takedown:SendWindow:Enabled to false.");
        var opens = Time(w.opens);
        var closes = Time(w.closes);
        if (opens is null) problems.Add($"{setting}:Opens '{w.opens}' is not a time of day. Fix: HH:mm, e.g. 09:00.");
        if (closes is null) problems.Add($"{setting}:Closes '{w.closes}' is not a time of day. Fix: HH:mm, e.g. 17:00.");
        if (opens is { } o && closes is { } c && c <= o)
            problems.Add($"{setting}:Closes {w.closes} is not after Opens {w.opens}. Fix: e.g. Opens 09:00 and Closes 17:00 (a window over midnight is not supported).");
        TimeZoneInfo? zone = null;
        try { zone = TimeZoneInfo.FindSystemTimeZoneById(w.timeZone); }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException or ArgumentException)
        {
            problems.Add($"{setting}:TimeZone '{w.timeZone}' is not a known time zone. Fix: use an IANA id such as Europe/Amsterdam or UTC.");
        }
        var holidays = new HashSet<DateOnly>();
        foreach (var h in w.holidays)
        {
            if (DateOnly.TryParseExact(h, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)) holidays.Add(date);
            else problems.Add($"{setting}:Holidays '{h}' is not a date. Fix: yyyy-MM-dd, e.g. 2026-12-25.");
        }
        return problems.Count > 0 ? (null, problems) : (new ParsedWindow(days, opens!.Value, closes!.Value, zone!, holidays), problems);
    }

    private static DayOfWeek? Day(string s)
    {
        var t = s.Trim();
        foreach (var d in Enum.GetValues<DayOfWeek>())
        {
            var name = d.ToString();
            if (string.Equals(t, name, StringComparison.OrdinalIgnoreCase) || string.Equals(t, name[..3], StringComparison.OrdinalIgnoreCase)) return d;
        }
        return null;
    }

    private static TimeOnly? Time(string s) =>
        TimeOnly.TryParseExact(s, ["HH:mm", "H:mm"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var t) ? t : null;

    /// <summary>The first instant at or after <paramref name="utc"/> at which the window is open (UTC).</summary>
    public DateTime NextOpen(DateTime utc)
    {
        utc = DateTime.SpecifyKind(utc, DateTimeKind.Utc);
        var local = TimeZoneInfo.ConvertTimeFromUtc(utc, Zone);
        for (var i = 0; i < 400; i++)
        {
            var date = DateOnly.FromDateTime(local).AddDays(i);
            if (!Days.Contains(date.DayOfWeek) || Holidays.Contains(date)) continue;
            var start = ToUtc(date.ToDateTime(Opens));
            var end = ToUtc(date.ToDateTime(Closes));
            if (utc < start) return start;
            if (utc < end) return utc;
        }
        return utc; // no open day within 400 days (every day a holiday): send rather than hold for ever
    }

    /// <summary>A local time to UTC; a local time skipped by a clock change counts from the hour after.</summary>
    private DateTime ToUtc(DateTime local)
    {
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        if (Zone.IsInvalidTime(local)) local = local.AddHours(1);
        return TimeZoneInfo.ConvertTimeToUtc(local, Zone);
    }

    /// <summary>For hold reasons, logs and the console, in English: "Mon–Fri 09:00–17:00 Europe/Amsterdam".</summary>
    public string Describe() =>
        $"{DayRange(NoticeTexts.English)} {Opens:HH\\:mm}–{Closes:HH\\:mm} {Zone.Id}{(Holidays.Count == 0 ? "" : $", except {Holidays.Count} holiday(s)")}";

    /// <summary>The window as the sentence a notice carries, in the recipient's language.</summary>
    public string Line(NoticeTexts texts) => texts.SendWindow(DayRange(texts), $"{Opens:HH\\:mm}", $"{Closes:HH\\:mm}", Zone.Id, Holidays.Count);

    private string DayRange(NoticeTexts texts)
    {
        var order = new[] { DayOfWeek.Monday, DayOfWeek.Tuesday, DayOfWeek.Wednesday, DayOfWeek.Thursday, DayOfWeek.Friday, DayOfWeek.Saturday, DayOfWeek.Sunday };
        var on = order.Where(Days.Contains).ToList();
        var contiguous = on.Count > 1 && Array.IndexOf(order, on[^1]) - Array.IndexOf(order, on[0]) == on.Count - 1;
        return contiguous ? $"{texts.Day(on[0])}–{texts.Day(on[^1])}" : string.Join(", ", on.Select(texts.Day));
    }
}
