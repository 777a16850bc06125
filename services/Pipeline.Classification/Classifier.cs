using Pipeline.Contracts;

namespace Pipeline.Classification;

/// <summary>The decision of DESIGN.md: known if any bank matches; otherwise the analyst's verdict decides.</summary>
public static class Classifier
{
    public static Verdict Decide(IReadOnlyCollection<HashMatch> matches, Assessment? assessment) =>
        matches.Count > 0 ? Verdict.KNOWN
        : assessment?.classification switch
        {
            Contracts.Classification.BASELINE or Contracts.Classification.NATIONAL => Verdict.NEW,
            Contracts.Classification.NOT_ILLEGAL => Verdict.NOT_ILLEGAL,
            _ => Verdict.NEEDS_ASSESSMENT,
        };
}
