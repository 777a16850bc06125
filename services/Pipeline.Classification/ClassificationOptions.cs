using Microsoft.Extensions.Options;

namespace Pipeline.Classification;

/// <summary>Matching settings; section <c>Classification</c>.</summary>
public sealed class ClassificationOptions
{
    public const string Section = "Classification";

    /// <summary>PDQ matches up to this Hamming distance (of 256 bits). 31 is Meta's recommended threshold.</summary>
    public int PdqRadius { get; set; } = 31;

    /// <summary>A report's PDQ hash with a quality score below this (0–100) is not matched: low-quality hashes
    /// (flat or tiny images) collide. Meta recommends 50. A report without a quality score is matched.</summary>
    public int PdqMinQuality { get; set; } = 50;

}

public sealed class ClassificationOptionsValidator : IValidateOptions<ClassificationOptions>
{
    public ValidateOptionsResult Validate(string? name, ClassificationOptions o)
    {
        var errors = new List<string>();
        if (o.PdqRadius is < 0 or > 64)
            errors.Add($"Classification:PdqRadius {o.PdqRadius} is outside 0..64. Fix: use 31 (Meta's recommended PDQ threshold) or a smaller value for fewer false positives.");
        if (o.PdqMinQuality is < 0 or > 100)
            errors.Add($"Classification:PdqMinQuality {o.PdqMinQuality} is outside 0..100. Fix: use 50 (Meta's recommendation), or 0 to match every PDQ hash.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
