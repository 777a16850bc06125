using System.Globalization;
using System.Net;
using System.Text;

namespace Pipeline.Intake;

/// <summary>
/// Turns a reported URL into the case key: the same resource in any spelling gives the same key. Never throws, and
/// is idempotent: normalising a case key gives the same case key (proved by property tests).
/// </summary>
/// <remarks>
/// Steps (docs/architecture.md, "intake"): tab/CR/LF removed anywhere and C0/space trimmed at the ends (as browsers
/// do); zero-width characters removed, raw or percent-encoded (they are invisible and used to dodge matching);
/// scheme and host lower-cased; IDN hosts to punycode; a trailing dot dropped; IPv4 in any notation (0x7f.1,
/// 3221225985) to dotted decimal, IPv6 to RFC 5952 form in brackets; default port dropped; userinfo removed and
/// recorded; dot-segments resolved (also %2e%2e); escapes of unreserved characters decoded, other escapes' hex
/// upper-cased, stray '%' and characters outside RFC 3986 percent-encoded as UTF-8; %2F is kept (a/b ≠ a%2Fb);
/// the fragment dropped.
/// </remarks>
public static class UrlNormaliser
{
    private static readonly IdnMapping Idn = new() { AllowUnassigned = true, UseStd3AsciiRules = false };

    /// <summary>Characters invisible when displayed: zero-width space/non-joiner/joiner, word joiner, BOM, soft hyphen.</summary>
    private static readonly string[] ZeroWidth = ["\u200B", "\u200C", "\u200D", "\u2060", "\uFEFF", "\u00AD"];
    private static readonly string[] ZeroWidthEncoded = ["%E2%80%8B", "%E2%80%8C", "%E2%80%8D", "%E2%81%A0", "%EF%BB%BF", "%C2%AD"];

    public sealed record Result(string Key, string Host, bool UserinfoRemoved);

    public static bool TryNormalise(string? url, out Result result, out string reasonCode, out string message)
    {
        result = null!;
        try
        {
            return Normalise(url, out result, out reasonCode, out message);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException or InvalidOperationException or IndexOutOfRangeException or OverflowException)
        {
            // Uri and IdnMapping have corners that throw on hostile input; a bad URL is a rejection, never a crash.
            reasonCode = "URL_UNPARSABLE";
            message = $"The URL cannot be parsed ({e.GetType().Name}).";
            return false;
        }
    }

    private static bool Normalise(string? url, out Result result, out string reasonCode, out string message)
    {
        result = null!;
        reasonCode = "";
        message = "";
        if (string.IsNullOrWhiteSpace(url))
            return Fail("URL_MISSING", "The report has no URL.", out reasonCode, out message);
        var cleaned = Clean(url);
        if (cleaned.Length == 0)
            return Fail("URL_MISSING", "The report has no URL.", out reasonCode, out message);
        if (!Uri.TryCreate(cleaned, UriKind.Absolute, out var uri) || ((uri.IsFile || uri.IsUnc) && !cleaned.StartsWith("file:", StringComparison.OrdinalIgnoreCase)))
            return Fail("URL_UNPARSABLE", "The URL cannot be parsed as an absolute URL.", out reasonCode, out message);
        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            return Fail("URL_SCHEME_NOT_ALLOWED", $"Only http and https URLs can be reported, not '{Truncate(uri.Scheme)}'.", out reasonCode, out message);
        if (string.IsNullOrEmpty(uri.Host))
            return Fail("URL_NO_HOST", "The URL has no host.", out reasonCode, out message);

        var host = CanonicalHost(uri, out var hostCode, out var hostMessage);
        if (host is null)
            return Fail(hostCode, hostMessage, out reasonCode, out message);
        if (host.Length == 0)
            return Fail("URL_NO_HOST", "The URL has no host.", out reasonCode, out message);

        var port = uri.IsDefaultPort ? "" : ":" + uri.Port.ToString(CultureInfo.InvariantCulture);
        var path = RemoveDotSegments(NormaliseEscapes(uri.AbsolutePath, isQuery: false));
        if (path.Length == 0 || path[0] != '/') path = "/" + path;
        var query = uri.Query.Length == 0 ? "" : NormaliseEscapes(uri.Query, isQuery: true);
        var key = $"{uri.Scheme}://{host}{port}{path}{query}";
        result = new Result(key, host, !string.IsNullOrEmpty(uri.UserInfo));
        return true;
    }

    private static string Clean(string url)
    {
        var sb = new StringBuilder(url.Length);
        foreach (var c in url)
            if (c is not ('\t' or '\r' or '\n')) sb.Append(c);
        var s = sb.ToString();
        foreach (var z in ZeroWidth) s = s.Replace(z, "", StringComparison.Ordinal);
        foreach (var z in ZeroWidthEncoded) s = s.Replace(z, "", StringComparison.OrdinalIgnoreCase);
        return s.Trim(' ', '\0', '\u0001', '\u0002', '\u0003', '\u0004', '\u0005', '\u0006', '\u0007', '\b', '\u000B', '\f',
            '\u000E', '\u000F', '\u0010', '\u0011', '\u0012', '\u0013', '\u0014', '\u0015', '\u0016', '\u0017', '\u0018', '\u0019',
            '\u001A', '\u001B', '\u001C', '\u001D', '\u001E', '\u001F', '\u00A0', '\u3000');
    }

    /// <summary>The canonical host, or null (with a reason) if it is not a valid host.</summary>
    /// <remarks>As the WHATWG URL standard's host parser: UTS #46 processing (map, normalise, validate, punycode;
    /// nontransitional, as <see cref="IdnMapping"/> does on ICU: fullwidth and circled letters and ligatures map to
    /// ASCII, ẞ maps to "ss", ß stays ß), forbidden domain code points refused, and a host whose last label is a number
    /// is an IPv4 address or invalid, never a DNS name (4294967296 and 192.0.2.999 are refused; 0x7f.1 is 127.0.0.1).</remarks>
    private static string? CanonicalHost(Uri uri, out string code, out string message)
    {
        code = "URL_HOST_INVALID";
        message = $"The host '{Truncate(uri.Host)}' is not a valid host name.";
        switch (uri.HostNameType)
        {
            case UriHostNameType.IPv4:
                return IPAddress.Parse(uri.Host).ToString();
            case UriHostNameType.IPv6:
                if (uri.IdnHost.Contains('%', StringComparison.Ordinal))
                {
                    code = "URL_IPV6_ZONE_ID";
                    message = "The IPv6 address carries a zone id (%…), which only means something on the reporter's own machine.";
                    return null;
                }
                return "[" + IPAddress.Parse(uri.Host.Trim('[', ']')).ToString() + "]";
        }
        // Lower-case before IDNA: Uri lower-cases ASCII only, so "ΑΒΓ" and "αβγ" would become different punycode.
        var unicode = Uts46Compatibility.Map(Idn.GetUnicode(uri.IdnHost.TrimEnd('.'))).Normalize(NormalizationForm.FormC).ToLowerInvariant();
        if (unicode.EndsWith('.')) unicode = unicode.TrimEnd('.');
        var host = unicode.Length == 0 ? "" : Idn.GetAscii(unicode).ToLowerInvariant();
        if (host.Length == 0) return "";
        if (host.Contains("..", StringComparison.Ordinal) || host.StartsWith('.') || host.Any(IsForbiddenDomainCodePoint)) return null;
        if (WhatwgIPv4.EndsInNumber(host))
        {
            if (WhatwgIPv4.TryParse(host) is { } address) return address;
            message = $"The host '{Truncate(host)}' ends in a number but is not a valid IPv4 address.";
            return null;
        }
        return host;
    }

    /// <summary>WHATWG URL, "forbidden domain code point".</summary>
    private static bool IsForbiddenDomainCodePoint(char c) =>
        c <= 0x20 || c == 0x7F || c is '#' or '%' or '/' or ':' or '<' or '>' or '?' or '@' or '[' or '\\' or ']' or '^' or '|';

    private static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~';

    /// <summary>Characters that may stand unescaped in a path (pchar + '/') or a query (pchar + '/' + '?'), RFC 3986 §3.3–3.4.</summary>
    private static bool IsAllowed(char c, bool isQuery) =>
        IsUnreserved(c) || c is '!' or '$' or '&' or '\'' or '(' or ')' or '*' or '+' or ',' or ';' or '=' or ':' or '@' or '/'
        || (isQuery && c == '?');

    /// <summary>Decodes escapes of unreserved characters, upper-cases the hex of the others, and escapes everything
    /// else that may not stand raw (including a '%' that starts no valid escape) as UTF-8.</summary>
    private static string NormaliseEscapes(string s, bool isQuery)
    {
        var start = isQuery && s.StartsWith('?') ? 1 : 0;
        var sb = new StringBuilder(s.Length + 8);
        if (start == 1) sb.Append('?');
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = start; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '%' && i + 2 < s.Length && char.IsAsciiHexDigit(s[i + 1]) && char.IsAsciiHexDigit(s[i + 2]))
            {
                var value = (char)Convert.ToByte(s.Substring(i + 1, 2), 16);
                if (IsUnreserved(value)) sb.Append(value);
                else sb.Append('%').Append(char.ToUpperInvariant(s[i + 1])).Append(char.ToUpperInvariant(s[i + 2]));
                i += 2;
            }
            else if (IsAllowed(c, isQuery))
            {
                sb.Append(c);
            }
            else
            {
                int n;
                if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                {
                    n = new Rune(c, s[i + 1]).EncodeToUtf8(utf8);
                    i++;
                }
                else
                {
                    n = (Rune.TryCreate(c, out var rune) ? rune : Rune.ReplacementChar).EncodeToUtf8(utf8);
                }
                for (var b = 0; b < n; b++) sb.Append('%').Append(utf8[b].ToString("X2", CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }

    /// <summary>RFC 3986 §5.2.4, on a path whose escapes are already normalised (so %2E%2E has become "..").</summary>
    private static string RemoveDotSegments(string path)
    {
        if (!path.Contains('.', StringComparison.Ordinal)) return path;
        var segments = path.Split('/');
        var output = new List<string>(segments.Length);
        for (var i = 0; i < segments.Length; i++)
        {
            var seg = segments[i];
            var last = i == segments.Length - 1;
            if (seg == ".")
            {
                if (last) output.Add("");
            }
            else if (seg == "..")
            {
                if (output.Count > 1) output.RemoveAt(output.Count - 1);
                if (last) output.Add("");
            }
            else
            {
                output.Add(seg);
            }
        }
        var result = string.Join('/', output);
        return result.StartsWith('/') ? result : "/" + result;
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";

    private static bool Fail(string code, string text, out string reasonCode, out string message)
    {
        reasonCode = code;
        message = text;
        return false;
    }
}

/// <summary>
/// The UTS #46 mappings of the compatibility characters used to dodge matching (fullwidth forms, circled letters and
/// digits, Latin ligatures, ẞ, ideographic full stops), applied before <see cref="IdnMapping"/>.
/// </summary>
/// <remarks>Why by hand: every service runs with InvariantGlobalization (Directory.Build.props), where IdnMapping only
/// does punycode and string.Normalize(FormKC) does nothing, so the ICU-backed UTS #46 mapping is not available; and case
/// keys must not depend on which process computed them. The ranges below are exactly UTS #46's "mapped" entries for
/// them (IdnaMappingTable.txt); anything else outside ASCII goes to punycode as before.</remarks>
internal static class Uts46Compatibility
{
    public static string Map(string host)
    {
        var sb = new StringBuilder(host.Length);
        foreach (var c in host)
        {
            switch (c)
            {
                case >= '\uFF01' and <= '\uFF5E': sb.Append((char)(c - 0xFF01 + 0x21)); break;   // fullwidth ASCII
                case '\u3002' or '\uFF61': sb.Append('.'); break;                                // ideographic full stops
                case >= '\u24B6' and <= '\u24CF': sb.Append((char)('a' + (c - 0x24B6))); break;   // Ⓐ–Ⓩ
                case >= '\u24D0' and <= '\u24E9': sb.Append((char)('a' + (c - 0x24D0))); break;   // ⓐ–ⓩ
                case >= '\u2460' and <= '\u2473': sb.Append((c - 0x2460 + 1).ToString(CultureInfo.InvariantCulture)); break; // ①–⑳
                case '\u24EA': sb.Append('0'); break;                                              // ⓪
                case '\u1E9E': sb.Append("ss"); break;                                             // ẞ (ß itself stays ß: nontransitional)
                case '\uFB00': sb.Append("ff"); break;
                case '\uFB01': sb.Append("fi"); break;
                case '\uFB02': sb.Append("fl"); break;
                case '\uFB03': sb.Append("ffi"); break;
                case '\uFB04': sb.Append("ffl"); break;
                case '\uFB05' or '\uFB06': sb.Append("st"); break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }
}

/// <summary>The WHATWG URL standard's IPv4 parser (https://url.spec.whatwg.org/#concept-ipv4-parser): up to four
/// parts, each decimal, octal (leading 0) or hexadecimal (0x); the last part fills the remaining bytes.</summary>
internal static class WhatwgIPv4
{
    /// <summary>"ends in a number": the last label (ignoring one trailing empty label) is digits, or an IPv4 number.</summary>
    public static bool EndsInNumber(string host)
    {
        var parts = Parts(host);
        if (parts is null) return false;
        var last = parts[^1];
        return (last.Length > 0 && last.All(char.IsAsciiDigit)) || TryParseNumber(last, out _);
    }

    /// <summary>Dotted-decimal form, or null when the host is not a valid IPv4 address.</summary>
    public static string? TryParse(string host)
    {
        var parts = Parts(host);
        if (parts is null || parts.Length > 4) return null;
        var numbers = new ulong[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!TryParseNumber(parts[i], out numbers[i])) return null;
        for (var i = 0; i < numbers.Length - 1; i++)
            if (numbers[i] > 255) return null;
        if (numbers[^1] >= 1UL << (8 * (5 - numbers.Length))) return null;
        var ipv4 = numbers[^1];
        for (var i = 0; i < numbers.Length - 1; i++) ipv4 += numbers[i] << (8 * (3 - i));
        return $"{ipv4 >> 24}.{(ipv4 >> 16) & 255}.{(ipv4 >> 8) & 255}.{ipv4 & 255}";
    }

    private static string[]? Parts(string host)
    {
        var parts = host.Split('.');
        if (parts[^1].Length == 0)
        {
            if (parts.Length == 1) return null;
            parts = parts[..^1];
        }
        return parts;
    }

    /// <summary>One part; values beyond 2^40 saturate (they are invalid in any position anyway).</summary>
    private static bool TryParseNumber(string s, out ulong value)
    {
        value = 0;
        if (s.Length == 0) return false;
        var radix = 10;
        if (s.Length >= 2 && s[0] == '0' && s[1] is 'x' or 'X') { s = s[2..]; radix = 16; }
        else if (s.Length >= 2 && s[0] == '0') { s = s[1..]; radix = 8; }
        foreach (var c in s)
        {
            int digit;
            if (char.IsAsciiDigit(c)) digit = c - '0';
            else if (radix == 16 && char.IsAsciiHexDigit(c)) digit = (c | 0x20) - 'a' + 10;
            else return false;
            if (digit >= radix) return false;
            value = Math.Min(value * (ulong)radix + (ulong)digit, 1UL << 40);
        }
        return true;
    }
}
