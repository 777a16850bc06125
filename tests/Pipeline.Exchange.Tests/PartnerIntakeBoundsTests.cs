using Avro.Specific;
using Microsoft.Extensions.Options;
using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Exchange.Tests;

/// <summary>A partner's refused record close to Kafka's message limit must not make a rejection larger than that limit
/// (the produce would fail, stop the stage and be re-read on every restart: a poison pill).</summary>
public sealed class PartnerIntakeBoundsTests
{
    private sealed class Recorder : IOutput
    {
        public List<(string Topic, string Key, object? Value)> Sent { get; } = [];
        public void Send<T>(string topic, string key, T value) where T : class, ISpecificRecord => Sent.Add((topic, key, value));
        public void Send<T>(string topic, int partition, string key, T value) where T : class, ISpecificRecord => Sent.Add((topic, key, value));
        public void Tombstone(string topic, string key, int? partition = null) => Sent.Add((topic, key, null));
    }

    [Fact]
    public async Task A_huge_refused_partner_record_is_rejected_by_reference_with_its_length_and_hash()
    {
        var processing = new ProcessingOptions();
        var intake = new PartnerIntake(Options.Create(new ExchangeOptions { HomeHotline = "nl-hotline" }), Options.Create(processing), TimeProvider.System);
        var huge = new string('r', 2_000_000);
        var forwarded = new ReportForwarded
        {
            eventId = "fwd-1", caseKey = huge, partnerHotline = "someone-else", rule = "test",
            report = Hotline.Report(huge, "https://site.de-host.test/a.jpg", new string('a', 64)).report,
        };
        forwarded.report.hops = ["de-hotline"];
        var raw = System.Security.Cryptography.RandomNumberGenerator.GetBytes(1_500_000);
        var output = new Recorder();

        await intake.ProcessAsync(new Incoming<ReportForwarded>("k", forwarded, Topics.ExchangeInbound("de-hotline"), 0, 7, DateTime.UtcNow, raw), output, default);

        var (topic, key, value) = Assert.Single(output.Sent);
        var rejected = Assert.IsType<ReportRejected>(value);
        Assert.Equal((Topics.ReportsRejected, "WRONG_RECIPIENT"), (topic, rejected.reasonCode));
        Assert.True(rejected.originalPayload.Length <= processing.MaxRecordBytes - OriginalBytes.EnvelopeReserve);
        Assert.Equal(raw.LongLength, rejected.originalPayloadLength);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(raw)), rejected.originalPayloadSha256);
        Assert.Null(rejected.reportId); // 2 MB of id is left out, and the key falls back to the rejection's own id
        Assert.Null(rejected.caseKey);
        Assert.Equal(rejected.eventId, key);
    }
}
