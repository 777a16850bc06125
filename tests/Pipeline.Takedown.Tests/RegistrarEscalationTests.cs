using System.Globalization;
using Pipeline.Contracts;
using Pipeline.Geolocation.Simulation;
using Pipeline.Platform;

namespace Pipeline.Takedown.Tests;

/// <summary>
/// Issue 12, "registrar (from the domain's RDAP)": the escalation ladder's REGISTRAR step sends to the abuse contact of the
/// registrar that the domain's registry names (a loopback RDAP registry), unless Takedown:Escalation:Registrars names one
/// for the domain (configuration wins, and RDAP is not asked); an IP-literal host and a domain the registry does not know
/// skip the step visibly. Takedown and delivery on the test clock, a real SMTP server on loopback.
/// <para>It counts skipped steps with the process-wide <c>pipeline_takedown_escalations_skipped_total</c>, which a flow
/// test whose ladder passes a REGISTRAR step for a domain nobody knows also raises (the default ladder has one at day 4,
/// and ReminderTests runs to day 7): so it runs alone (a CI run counted 3 skips where this test made 2).</para>
/// </summary>
[Collection(ProcessWideMetrics.Name)]
public class RegistrarEscalationTests
{
    private static readonly DateTime T0 = TakedownFlow.T0;

    [Fact]
    public async Task The_registrar_step_goes_to_the_RDAP_registrar_abuse_address_configuration_wins_and_an_ip_host_or_unknown_domain_is_skipped()
    {
        await using var rdap = await LoopbackRdapServer.StartAsync();
        rdap.AddDomain("rdaphost.example", "Example Registrar B.V. (test)", "64502", "abuse@registrar-rdap.example");
        rdap.AddDomain("confighost.example", "Not Asked Registrar (test)", "64503", "abuse@not-asked.example");
        await using var f = await TakedownFlow.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Takedown:Escalation:Steps:0:Role"] = "REGISTRAR",
            ["Takedown:Escalation:Steps:0:After"] = "1.00:00:00",
            ["Takedown:Escalation:Registrars:confighost.example:Name"] = "Configured Registrar (test)",
            ["Takedown:Escalation:Registrars:confighost.example:Address"] = "abuse@registrar-config.example",
            ["Geolocation:Rdap:Domains:0:Suffix"] = "example",
            ["Geolocation:Rdap:Domains:0:BaseUrl"] = rdap.BaseUrl,
            ["Geolocation:Rdap:TrustContacts"] = "true",
        });
        var fromRdap = TakedownFlow.Requested("rdaphost", "abuse@rdaphost.example");
        var configured = TakedownFlow.Requested("confighost", "abuse@confighost.example");
        var unknown = TakedownFlow.Requested("unknownhost", "abuse@unknownhost.example");
        var ipLiteral = AtUrl(TakedownFlow.Requested("iphost", "abuse@iphost.example"), "https://192.0.2.44/m/a.jpg");
        var all = new[] { fromRdap, configured, unknown, ipLiteral };
        var skippedBefore = Escalations.Skipped.WithLabels(nameof(RecipientRole.REGISTRAR)).Value;
        await f.RequestAsync(all);
        await f.Until(() => all.All(r => f.Notices(r.caseKey).Count == 1), () => "four first notices");

        f.At(T0.AddDays(1).AddMinutes(-2));
        await f.StepUntil(() => f.Notices(fromRdap.caseKey).Any(n => n.kind == NoticeKind.ESCALATION) && f.Notices(configured.caseKey).Any(n => n.kind == NoticeKind.ESCALATION)
                && Escalations.Skipped.WithLabels(nameof(RecipientRole.REGISTRAR)).Value - skippedBefore >= 2,
            () => $"two escalations and two skipped steps; skipped {Escalations.Skipped.WithLabels(nameof(RecipientRole.REGISTRAR)).Value - skippedBefore}");

        var escalation = f.Notices(fromRdap.caseKey).Single(n => n.kind == NoticeKind.ESCALATION);
        Assert.Equal((RecipientRole.REGISTRAR, "abuse@registrar-rdap.example", "Example Registrar B.V. (test)", NoticeChannel.EMAIL),
            (escalation.recipient.role, escalation.recipient.address, escalation.recipient.name, escalation.recipient.channel));
        Assert.StartsWith("rdap:", escalation.recipient.foundVia, StringComparison.Ordinal);
        Assert.Contains("domain/rdaphost.example", escalation.recipient.foundVia, StringComparison.Ordinal);
        Assert.Contains("registrar 64502", escalation.recipient.foundVia, StringComparison.Ordinal);
        Assert.Equal(EventIds.Derive("escalation", f.First(fromRdap).noticeId, "1"), escalation.noticeId);
        await f.Until(() => f.Mails(escalation.noticeId).Count == 1, () => "the escalation mailed to the RDAP registrar");
        Assert.Equal("abuse@registrar-rdap.example", Assert.Single(f.Mails(escalation.noticeId).Single().To.Mailboxes).Address);
        Assert.True(rdap.RequestsFor("domain/rdaphost.example") >= 1);

        var fromConfig = f.Notices(configured.caseKey).Single(n => n.kind == NoticeKind.ESCALATION);
        Assert.Equal(("abuse@registrar-config.example", "config:Takedown:Escalation:Registrars:confighost.example"), (fromConfig.recipient.address, fromConfig.recipient.foundVia));
        Assert.Equal(0, rdap.RequestsFor("domain/confighost.example")); // configured wins: the registry is not asked

        // The unknown domain (404 from the registry) and the IP-literal host: skipped, counted, the ladder done.
        Assert.Equal(2, Escalations.Skipped.WithLabels(nameof(RecipientRole.REGISTRAR)).Value - skippedBefore);
        Assert.True(rdap.RequestsFor("domain/unknownhost.example") >= 1);
        foreach (var r in new[] { unknown, ipLiteral })
            Assert.DoesNotContain(f.Notices(r.caseKey), n => n.kind == NoticeKind.ESCALATION);
        Assert.Equal(0, rdap.RequestsFor("domain/192.0.2.44"));
        await f.Until(() => f.Watch.Events<TakedownNotice>(Topics.TakedownReminders, n => n.caseKey == ipLiteral.caseKey && n.escalationsIssued == 1).Count > 0
                && f.Watch.Events<TakedownNotice>(Topics.TakedownReminders, n => n.caseKey == unknown.caseKey && n.escalationsIssued == 1).Count > 0,
            () => "the skipped steps recorded as done in the timers");
    }

    /// <summary>The request for another URL of the same hoster (its ids derived from the URL).</summary>
    private static TakedownRequested AtUrl(TakedownRequested r, string url)
    {
        r.eventId = EventIds.Derive("takedown-requested", url);
        r.caseKey = url;
        r.report.url = url;
        r.caseInfo.normalizedUrl = url;
        r.caseInfo.host = new Uri(url).Host;
        r.report.reportId = "nl-ip-" + url.Length.ToString(CultureInfo.InvariantCulture);
        return r;
    }
}

/// <summary>Tests that measure a process-wide Prometheus counter by its change: they run after the parallel tests, one at
/// a time, so no other test moves the counter meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideMetrics
{
    public const string Name = "process-wide metrics";
}
