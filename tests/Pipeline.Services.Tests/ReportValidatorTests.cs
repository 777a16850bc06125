using Microsoft.Extensions.Time.Testing;
using Pipeline.Contracts;
using Pipeline.Intake;

namespace Pipeline.Services.Tests;

public class ReportValidatorTests
{
    private readonly FakeTimeProvider time = new(new DateTimeOffset(Fixtures.T0));

    private ReportValidator Validator(Action<IntakeOptions>? configure = null)
    {
        var options = new IntakeOptions();
        configure?.Invoke(options);
        return new ReportValidator(options, time);
    }

    private string? Code(Report report, Action<IntakeOptions>? configure = null) =>
        Validator(configure).Validate(Fixtures.Submitted(report))?.Code;

    [Fact]
    public void A_valid_report_passes() => Assert.Null(Validator().Validate(Fixtures.Submitted()));

    [Fact]
    public void A_report_without_hashes_passes()
    {
        var report = Fixtures.Report();
        report.hashes = Fixtures.Hashes(null, null, null, null);
        Assert.Null(Code(report));
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void Missing_report_id(string reportId) => Assert.Equal("REPORT_ID_MISSING", Code(Fixtures.Report(reportId: reportId)));

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void Missing_source_hotline(string hotline) =>
        Assert.Equal("SOURCE_HOTLINE_MISSING", Code(Fixtures.Report(sourceHotline: hotline)));

    [Fact]
    public void Unknown_source_hotline_when_hotlines_are_configured() =>
        Assert.Equal("SOURCE_HOTLINE_UNKNOWN",
            Code(Fixtures.Report(sourceHotline: "xx-hotline"), o => o.KnownHotlines = ["nl-hotline", "de-hotline"]));

    [Fact]
    public void Known_source_hotline_passes() =>
        Assert.Null(Code(Fixtures.Report(sourceHotline: "de-hotline"), o => o.KnownHotlines = ["nl-hotline", "de-hotline"]));

    [Fact]
    public void Any_source_hotline_passes_when_none_are_configured() =>
        Assert.Null(Code(Fixtures.Report(sourceHotline: "xx-hotline")));

    [Fact]
    public void Url_longer_than_the_maximum_is_too_long()
    {
        var report = Fixtures.Report();
        report.url = "http://site.example/" + new string('a', 45); // 65 characters
        Assert.Equal(65, report.url.Length);
        Assert.Equal("URL_TOO_LONG", Code(report, o => o.MaxUrlLength = 64));
    }

    [Fact]
    public void Url_of_exactly_the_maximum_length_passes()
    {
        var report = Fixtures.Report();
        report.url = "http://site.example/" + new string('a', 44);
        Assert.Null(Code(report, o => o.MaxUrlLength = 64));
    }

    [Fact]
    public void Received_beyond_the_clock_skew_is_in_the_future()
    {
        var report = Fixtures.Report();
        report.receivedAt = Fixtures.T0 + TimeSpan.FromMinutes(5) + TimeSpan.FromMilliseconds(1);
        Assert.Equal("RECEIVED_IN_FUTURE", Code(report));
    }

    [Fact]
    public void Received_at_exactly_the_clock_skew_passes()
    {
        var report = Fixtures.Report();
        report.receivedAt = Fixtures.T0 + TimeSpan.FromMinutes(5);
        Assert.Null(Code(report));
    }

    [Fact]
    public void The_future_check_follows_the_clock()
    {
        var report = Fixtures.Report();
        report.receivedAt = Fixtures.T0 + TimeSpan.FromHours(1);
        var validator = Validator();
        Assert.Equal("RECEIVED_IN_FUTURE", validator.Validate(Fixtures.Submitted(report))?.Code);
        time.Advance(TimeSpan.FromMinutes(55));
        Assert.Null(validator.Validate(Fixtures.Submitted(report)));
    }

    public static TheoryData<string, string?, string?, string?, string?> MalformedHashes => new()
    {
        { "md5 too short", Fixtures.Md5[..31], null, null, null },
        { "md5 too long", Fixtures.Md5 + "0", null, null, null },
        { "md5 not hex", "g" + Fixtures.Md5[1..], null, null, null },
        { "sha1 too short", null, Fixtures.Sha1[..39], null, null },
        { "sha1 not hex", null, Fixtures.Sha1[..39] + "z", null, null },
        { "sha256 too short", null, null, Fixtures.Sha256[..63], null },
        { "sha256 not hex", null, null, Fixtures.Sha256[..63] + " ", null },
        { "sha256 given as md5 length", null, null, Fixtures.Md5, null },
        { "pdq too short", null, null, null, Fixtures.Pdq[..63] },
        { "pdq not hex", null, null, null, Fixtures.Pdq[..63] + "-" },
        { "empty sha256", null, null, "", null },
    };

    [Theory]
    [MemberData(nameof(MalformedHashes))]
    public void Malformed_hash(string because, string? md5, string? sha1, string? sha256, string? pdq)
    {
        var report = Fixtures.Report();
        report.hashes = Fixtures.Hashes(md5, sha1, sha256, pdq);
        Assert.True("HASH_MALFORMED" == Code(report), because);
    }

    [Fact]
    public void Upper_case_hex_hashes_pass()
    {
        var report = Fixtures.Report();
        report.hashes = Fixtures.Hashes(Fixtures.Md5.ToUpperInvariant(), Fixtures.Sha1.ToUpperInvariant(), Fixtures.Sha256.ToUpperInvariant(), Fixtures.Pdq.ToUpperInvariant());
        Assert.Null(Code(report));
    }

    [Fact]
    public void Failure_messages_name_the_algorithm()
    {
        var report = Fixtures.Report();
        report.hashes = Fixtures.Hashes(sha256: "abc");
        Assert.Equal("sha256 must be 64 hexadecimal characters.", Validator().Validate(Fixtures.Submitted(report))?.Message);
    }
}
