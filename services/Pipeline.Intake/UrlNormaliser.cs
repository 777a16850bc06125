using System.Globalization;
using System.Net;

namespace Pipeline.Intake;

/// <summary>
/// Turns a reported URL into the case key: the same resource in any spelling gives the same key. Never throws.
/// </summary>
public static class UrlNormaliser
{
    private static readonly IdnMapping Idn = new() { AllowUnassigned = true, UseStd3AsciiRules = false };

    public sealed record Result(string Key, string Host, bool UserinfoRemoved);

    public static bool TryNormalise(string? url, out Result result, out string reasonCode, out string message)
    {
        result = null!;
        reasonCode = "";
        message = "";
        if (string.IsNullOrWhiteSpace(url))
            return Fail("URL_MISSING", "The report has no URL.", out reasonCode, out message);
        if (!Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) || ((uri.IsFile || uri.IsUnc) && !url.TrimStart().StartsWith("file:", StringComparison.OrdinalIgnoreCase)))
            return Fail("URL_UNPARSABLE", "The URL cannot be parsed as an absolute URL.", out reasonCode, out message);
        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            return Fail("URL_SCHEME_NOT_ALLOWED", $"Only http and https URLs can be reported, not '{uri.Scheme}'.", out reasonCode, out message);
        if (string.IsNullOrEmpty(uri.Host))
            return Fail("URL_NO_HOST", "The URL has no host.", out reasonCode, out message);

        string host;
        try
        {
            host = uri.HostNameType switch
            {
                UriHostNameType.IPv4 => IPAddress.Parse(uri.Host).ToString(),
                UriHostNameType.IPv6 => "[" + IPAddress.Parse(uri.Host.Trim('[', ']')).ToString() + "]",
                _ => Idn.GetAscii(uri.IdnHost.TrimEnd('.')).ToLowerInvariant(),
            };
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            return Fail("URL_HOST_INVALID", $"The host '{uri.Host}' is not a valid host name.", out reasonCode, out message);
        }
        if (host.Length == 0)
            return Fail("URL_NO_HOST", "The URL has no host.", out reasonCode, out message);

        var port = uri.IsDefaultPort ? "" : ":" + uri.Port.ToString(CultureInfo.InvariantCulture);
        var path = string.IsNullOrEmpty(uri.AbsolutePath) ? "/" : uri.AbsolutePath; // dot-segments resolved by Uri
        var key = $"{uri.Scheme}://{host}{port}{UpperHex(path)}{UpperHex(uri.Query)}";
        result = new Result(key, host, !string.IsNullOrEmpty(uri.UserInfo));
        return true;
    }

    /// <summary>Percent-escapes in upper-case hex (RFC 3986 §6.2.2.1), so %2f and %2F give one key.</summary>
    private static string UpperHex(string s)
    {
        if (!s.Contains('%', StringComparison.Ordinal)) return s;
        var chars = s.ToCharArray();
        for (var i = 0; i + 2 < chars.Length; i++)
        {
            if (chars[i] != '%' || !char.IsAsciiHexDigit(chars[i + 1]) || !char.IsAsciiHexDigit(chars[i + 2])) continue;
            chars[i + 1] = char.ToUpperInvariant(chars[i + 1]);
            chars[i + 2] = char.ToUpperInvariant(chars[i + 2]);
        }
        return new string(chars);
    }

    private static bool Fail(string code, string text, out string reasonCode, out string message)
    {
        reasonCode = code;
        message = text;
        return false;
    }
}
