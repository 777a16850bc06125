using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Pipeline.Platform;

namespace Pipeline.Platform.Tests;

/// <summary>Event ids are how a replay is recognised: they must never change between releases. The id is pinned to the
/// string-built form it had before it was written straight into a byte buffer (issue 11).</summary>
public class EventIdsTests
{
    [Fact]
    public void An_id_is_the_same_as_the_string_built_form_for_any_cause()
    {
        var random = new Random(11);
        string?[] samples = ["", "a", "nl-2026-000001", "https://media.hoster-a.example/gallery/7f3a.jpg", "Tékst € 😀", "\ud800", "x\udc00y", null,
            new string('é', 400), new string('z', 2000)];
        Assert.Equal("575048f9-00ba-8463-9fb0-65e0acae61db", Reference("audit", ["notices.issued.v1", "e-1"])); // the reference itself, pinned
        Assert.Equal(Reference("audit", ["notices.issued.v1", "e-1"]), EventIds.Derive("audit", "notices.issued.v1", "e-1"));
        for (var i = 0; i < 500; i++)
        {
            var cause = Enumerable.Range(0, random.Next(0, 5)).Select(_ => samples[random.Next(samples.Length)]).ToArray();
            var kind = samples[random.Next(samples.Length - 3)] ?? "kind";
            Assert.Equal(Reference(kind, cause), EventIds.Derive(kind, cause));
        }
        Assert.NotEqual(EventIds.Derive("k", null), EventIds.Derive("k", ""));
        Assert.NotEqual(EventIds.Derive("k", "a|1:b"), EventIds.Derive("k", "a", "b"));
    }

    private static string Reference(string kind, string?[] cause)
    {
        var text = new StringBuilder(kind);
        foreach (var part in cause)
            text.Append('|').Append(part is null ? "-1" : part.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(part);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true).ToString();
    }
}
