using Avro;
using Avro.Generic;
using Avro.Specific;

namespace Pipeline.Contracts.Tests;

/// <summary>Every generated type survives plain Avro binary encoding (no Confluent framing) with all fields populated.</summary>
public class RoundTripTests
{
    [Theory]
    [MemberData(nameof(Catalog.RecordTypeNames), MemberType = typeof(Catalog))]
    public void Generated_type_round_trips_through_avro_binary(string typeName)
    {
        var type = Catalog.TypeNamed(typeName);
        var schema = Schemas.Of(type);

        // generic (populated) -> bytes -> generated type -> bytes -> generic, compared with the original.
        var original = AvroTestData.Populate(schema);
        var specific = (ISpecificRecord)AvroTestData.ReadSpecific(type, schema, schema, AvroTestData.WriteGeneric(schema, original));
        var bytes = (byte[])typeof(AvroTestData).GetMethod(nameof(AvroTestData.WriteSpecific))!.MakeGenericMethod(type).Invoke(null, [specific])!;
        var back = AvroTestData.ReadGeneric(schema, schema, bytes);

        AvroTestData.AssertDeepEqual(original, back);
    }

    [Fact]
    public void Hand_built_event_round_trips_with_utc_timestamps_and_optional_values()
    {
        var received = new DateTime(2025, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);
        var assessment = new Assessment
        {
            classification = Classification.BASELINE,
            ageGroup = AgeGroup.PREPUBESCENT,
            gender = Gender.FEMALE,
            isVirtual = true,
            analyst = "analyst-7f3a",
            assessedAt = received.AddHours(2),
        };
        var report = new Report
        {
            reportId = "r-0c1d2e3f",
            sourceHotline = "hotline-test",
            sourceReference = "HT-2025-0001",
            externalIds = new Dictionary<string, string> { ["iccam"] = "ic-123" },
            receivedAt = received,
            reportedAt = null,
            url = "https://User:pw@Files.Example/a/b.jpg",
            isSourceUrl = true,
            contentType = ContentType.IMAGE,
            siteType = SiteType.FILE_HOST,
            hashes = new ContentHashes { sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", pdqQuality = 90 },
            reporterType = ReporterType.PUBLIC,
            assessment = assessment,
            hops = ["hotline-test"],
        };
        var notice = new TakedownNotice
        {
            eventId = "ev-1",
            noticeId = "n-1",
            caseKey = "https://files.example/a/b.jpg",
            sequence = 0,
            kind = NoticeKind.FIRST,
            recipient = new NoticeRecipient { role = RecipientRole.HOSTER, name = "Hoster Test", address = "abuse@hoster.example", channel = NoticeChannel.EMAIL, foundVia = "directory" },
            url = report.url,
            ips = ["192.0.2.10", "2001:db8::10"],
            asn = 64500,
            country = "NL",
            hashes = report.hashes,
            classification = Classification.BASELINE,
            detectionMethod = "hash_match",
            reportIds = [report.reportId],
            deadline = received.AddDays(1),
            policeHold = false,
            timeline = new Timeline { receivedAt = received, noticeSentAt = received.AddMinutes(30) },
            xarf = "{}",
            text = "Please remove.",
            issuedAt = received.AddMinutes(30),
        };

        var read = (TakedownNotice)AvroTestData.ReadSpecific(typeof(TakedownNotice), notice.Schema, notice.Schema, AvroTestData.WriteSpecific(notice));

        Assert.Equal(received.AddDays(1), read.deadline);
        Assert.Equal(DateTimeKind.Utc, read.deadline.Kind);
        Assert.Equal(received.AddMinutes(30), read.timeline.noticeSentAt);
        Assert.Null(read.timeline.referredToPoliceAt);
        Assert.Equal(64500L, read.asn);
        Assert.Null(read.hosterId);
        Assert.Equal(["192.0.2.10", "2001:db8::10"], read.ips);
        Assert.Equal(RecipientRole.HOSTER, read.recipient.role);
        Assert.Equal(90, read.hashes.pdqQuality);
        Assert.Null(read.hashes.md5);

        var accepted = new ReportAccepted
        {
            eventId = "ev-2",
            caseKey = "https://files.example/a/b.jpg",
            report = report,
            caseInfo = new CaseInfo { normalizedUrl = "https://files.example/a/b.jpg", host = "files.example", caseOpenedAt = received, reportCount = 1, userinfoRemoved = true },
            acceptedAt = received.AddSeconds(1),
        };
        var readAccepted = (ReportAccepted)AvroTestData.ReadSpecific(typeof(ReportAccepted), accepted.Schema, accepted.Schema, AvroTestData.WriteSpecific(accepted));
        Assert.Equal("ic-123", readAccepted.report.externalIds["iccam"]);
        Assert.Null(readAccepted.report.reportedAt);
        Assert.Null(readAccepted.report.reporterContact);
        Assert.True(readAccepted.report.assessment.isVirtual);
        Assert.Equal(AgeGroup.PREPUBESCENT, readAccepted.report.assessment.ageGroup);
        Assert.Equal(received.AddHours(2), readAccepted.report.assessment.assessedAt);
        Assert.Equal(received.AddSeconds(1), readAccepted.acceptedAt);
    }

    [Fact]
    public void Optional_enum_and_bytes_round_trip_as_null_and_as_value()
    {
        var schema = ReviewRequested._SCHEMA;
        var datum = (GenericRecord)AvroTestData.Populate(schema)!;
        datum.Add("verdict", null);
        datum.Add("hosting", null);
        var read = (ReviewRequested)AvroTestData.ReadSpecific(typeof(ReviewRequested), schema, schema, AvroTestData.WriteGeneric(schema, datum));
        Assert.Null(read.verdict);
        Assert.Null(read.hosting);
        Assert.NotNull(read.caseInfo);

        var dead = new DeadLetter
        {
            eventId = "ev-3", stage = "intake", reason = "boom", errorType = "System.FormatException", originTopic = "reports.submitted",
            originPartition = 2, originOffset = 42, key = null, value = [0, 1, 2], attempts = 3,
            failedAt = new DateTime(2025, 1, 1, 0, 0, 0, 1, DateTimeKind.Utc),
        };
        var readDead = (DeadLetter)AvroTestData.ReadSpecific(typeof(DeadLetter), dead.Schema, dead.Schema, AvroTestData.WriteSpecific(dead));
        Assert.Null(readDead.key);
        Assert.Equal(new byte[] { 0, 1, 2 }, readDead.value);
        Assert.Null(readDead.originTimestamp);
        Assert.Equal(dead.failedAt, readDead.failedAt);
    }
}
