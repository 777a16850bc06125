using System.Text;
using System.Text.Json;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Classification;

/// <summary>One line of a hash list that could not be taken, with its 1-based line number and the reason.</summary>
public sealed record HashListProblem(int Line, string Reason);

/// <summary>An entry of a hash list already seen (earlier in the file, or already in the bank).</summary>
public sealed record HashListDuplicate(int Line, string Key, string Where);

/// <summary>A parsed and validated hash list for one bank.</summary>
public sealed record HashListImport(List<(int Line, KnownHash Entry)> Entries, List<HashListDuplicate> Duplicates, List<HashListProblem> Invalid);

/// <summary>
/// Reads hash lists for <c>pipeline hashes import</c>. CSV: <c>algorithm,value[,category[,reference]]</c> per line,
/// an optional header line starting with <c>algorithm</c>, blank lines and lines starting with # ignored.
/// JSON: an array of objects <c>{"algorithm":"pdq","value":"…","category":"A","reference":"…"}</c>, or one
/// such object per line (JSON Lines). Algorithms: md5, sha1, sha256, pdq; values are hex of the algorithm's length.
/// </summary>
public static class HashList
{
    public static HashListImport Read(string path, string bank, string addedBy, DateTime addedAt, ISet<string>? alreadyInBank = null)
    {
        var text = File.ReadAllText(path);
        return Path.GetExtension(path).Equals(".json", StringComparison.OrdinalIgnoreCase) || Path.GetExtension(path).Equals(".jsonl", StringComparison.OrdinalIgnoreCase)
            ? ReadJson(text, bank, addedBy, addedAt, alreadyInBank)
            : ReadCsv(text, bank, addedBy, addedAt, alreadyInBank);
    }

    public static string? BankProblem(string? bank) =>
        string.IsNullOrWhiteSpace(bank) ? "the bank name is empty"
        : bank.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) ? $"bank '{bank}' may hold only letters, digits, '-', '_' and '.' (it is part of the key bank:algorithm:value)"
        : null;

    public static HashListImport ReadCsv(string text, string bank, string addedBy, DateTime addedAt, ISet<string>? alreadyInBank = null)
    {
        var builder = new Builder(bank, addedBy, addedAt, alreadyInBank);
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r').Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (builder.Seen == 0 && line.StartsWith("algorithm", StringComparison.OrdinalIgnoreCase)) continue;
            builder.Seen++;
            var f = line.Split(',').Select(s => s.Trim()).ToArray();
            if (f.Length is < 2 or > 4) { builder.Invalid(i + 1, $"expected algorithm,value[,category[,reference]], got {f.Length} field(s)"); continue; }
            builder.Add(i + 1, f[0], f[1], f.Length > 2 ? f[2] : null, f.Length > 3 ? f[3] : null);
        }
        return builder.Result();
    }

    public static HashListImport ReadJson(string text, string bank, string addedBy, DateTime addedAt, ISet<string>? alreadyInBank = null)
    {
        var builder = new Builder(bank, addedBy, addedAt, alreadyInBank);
        var trimmed = text.TrimStart();
        if (trimmed.StartsWith('['))
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            try
            {
                while (reader.Read())
                {
                    if (reader.CurrentDepth != 1 || reader.TokenType is JsonTokenType.EndArray) continue;
                    var line = LineAt(bytes, (int)reader.TokenStartIndex);
                    using var doc = JsonDocument.ParseValue(ref reader);
                    builder.Seen++;
                    FromElement(builder, line, doc.RootElement);
                }
            }
            catch (JsonException e)
            {
                builder.Invalid((int)(e.LineNumber ?? 0) + 1, "not valid JSON: " + e.Message);
            }
        }
        else
        {
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i].Trim();
                if (line.Length == 0) continue;
                builder.Seen++;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    FromElement(builder, i + 1, doc.RootElement);
                }
                catch (JsonException e)
                {
                    builder.Invalid(i + 1, "not valid JSON: " + e.Message);
                }
            }
        }
        return builder.Result();
    }

    private static void FromElement(Builder builder, int line, JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) { builder.Invalid(line, "expected an object {\"algorithm\":…, \"value\":…}"); return; }
        builder.Add(line, Text(e, "algorithm"), Text(e, "value"), Text(e, "category"), Text(e, "reference"));

        static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
    }

    private static int LineAt(byte[] bytes, int index)
    {
        var line = 1;
        for (var i = 0; i < index; i++) if (bytes[i] == (byte)'\n') line++;
        return line;
    }

    public static bool TryAlgorithm(string? text, out HashAlgorithm algorithm)
    {
        algorithm = default;
        switch (text?.Trim().ToLowerInvariant())
        {
            case "md5": algorithm = HashAlgorithm.MD5; return true;
            case "sha1": case "sha-1": algorithm = HashAlgorithm.SHA1; return true;
            case "sha256": case "sha-256": algorithm = HashAlgorithm.SHA256; return true;
            case "pdq": algorithm = HashAlgorithm.PDQ; return true;
            default: return false;
        }
    }

    private sealed class Builder(string bank, string addedBy, DateTime addedAt, ISet<string>? alreadyInBank)
    {
        private readonly List<(int, KnownHash)> entries = [];
        private readonly List<HashListDuplicate> duplicates = [];
        private readonly List<HashListProblem> invalid = [];
        private readonly Dictionary<string, int> firstLine = new(StringComparer.Ordinal);

        public int Seen { get; set; }

        public void Invalid(int line, string reason) => invalid.Add(new HashListProblem(line, reason));

        public void Add(int line, string? algorithmText, string? value, string? category, string? reference)
        {
            if (!TryAlgorithm(algorithmText, out var algorithm)) { Invalid(line, $"unknown algorithm '{algorithmText}' (expected md5, sha1, sha256 or pdq)"); return; }
            if (HashBank.Problem(algorithm, value) is { } problem) { Invalid(line, problem); return; }
            var key = HashBank.KeyOf(bank, algorithm, value!);
            if (firstLine.TryGetValue(key, out var first)) { duplicates.Add(new HashListDuplicate(line, key, $"line {first}")); return; }
            firstLine[key] = line;
            if (alreadyInBank?.Contains(key) == true) { duplicates.Add(new HashListDuplicate(line, key, "already in the bank")); return; }
            entries.Add((line, new KnownHash
            {
                eventId = EventIds.Derive("known-hash", key, addedBy),
                algorithm = algorithm,
                value = value!.ToLowerInvariant(),
                bank = bank,
                category = string.IsNullOrEmpty(category) ? null : category,
                addedBy = addedBy,
                addedAt = addedAt,
                reference = string.IsNullOrEmpty(reference) ? null : reference,
            }));
        }

        public HashListImport Result() => new(entries, duplicates, invalid);
    }
}
