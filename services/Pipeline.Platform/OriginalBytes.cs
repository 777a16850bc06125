using System.Security.Cryptography;

namespace Pipeline.Platform;

/// <summary>
/// Original bytes copied into a record a stage writes (a rejection, a dead letter), bounded so that the record always
/// fits Kafka's message limit. A hostile input near that limit plus the envelope around it would otherwise fail to
/// produce, stop the stage and be re-read on every restart (a poison pill). Beyond the budget the bytes are kept by
/// reference: their first bytes, their full length and their SHA-256.
/// </summary>
public readonly record struct OriginalBytes(byte[] Bytes, long? OriginalLength, string? Sha256)
{
    /// <summary>Room kept within Processing:MaxRecordBytes for everything around the original bytes: ids, reason,
    /// origin, Kafka key and headers.</summary>
    public const int EnvelopeReserve = 32 * 1024;

    /// <summary>Longest error text written into a record or header (a processor's exception message may quote its input).</summary>
    public const int MaxReasonLength = 4096;

    public bool Cut => OriginalLength is not null;

    public static OriginalBytes Keep(byte[] bytes, int budget)
    {
        budget = Math.Max(0, budget);
        return bytes.Length <= budget
            ? new(bytes, null, null)
            : new(bytes[..budget], bytes.LongLength, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    public static string CutText(string text, int max = MaxReasonLength) => text.Length <= max ? text : text[..max] + "…";
}
