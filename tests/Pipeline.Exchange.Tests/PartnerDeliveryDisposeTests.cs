using Confluent.SchemaRegistry;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Contracts;
using Pipeline.Platform;
using Pipeline.Platform.Embedded;
using Pipeline.TestSupport;

namespace Pipeline.Exchange.Tests;

/// <summary>
/// Regression test for issue 16, the native test host crash of this project. Confluent.Kafka's clients do not
/// reference-count their librdkafka handle: <c>Dispose</c> destroys it while another thread may still be inside
/// <c>Produce</c>, a use after free that ends the process natively (glibc "tpp.c: __pthread_tpp_change_priority:
/// Assertion … failed", SIGABRT, no .NET exception). A partner delivery's producer was disposed by its stage's host
/// while the stage thread could still be delivering through it. Before the fix this test aborted the test host within
/// a few rounds; a delivery racing the disposal must now be deferred (redone after the restart), never a crash.
/// More rounds: PIPELINE_CRASH_ROUNDS (default 10).
/// </summary>
public sealed class PartnerDeliveryDisposeTests
{
    [Fact]
    public async Task Disposing_a_partner_delivery_while_it_delivers_defers_the_delivery_instead_of_crashing_the_process()
    {
        var rounds = int.TryParse(Environment.GetEnvironmentVariable("PIPELINE_CRASH_ROUNDS"), out var r) && r > 0 ? r : 10;
        await using var partner = await EmbeddedRuntime.StartAsync(brokers: 1);
        var topic = Topics.ExchangeInbound("nl-hotline");
        partner.Cluster.CreateTopic(topic, partitions: 3);
        using (var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = partner.SchemaRegistryUrl }))
            await registry.RegisterSchemaAsync(topic + "-value", new Schema(Schemas.Of<ReportForwarded>().ToString(), SchemaType.Avro));
        var options = new ExchangeOptions { HomeHotline = "nl-hotline", DeliveryTimeout = TimeSpan.FromSeconds(5), RetryAfter = TimeSpan.FromSeconds(1) };
        var endpoint = new PartnerEndpoint { BootstrapServers = partner.BootstrapServers, SchemaRegistryUrl = partner.SchemaRegistryUrl };
        var random = new Random(16);
        long delivered = 0, deferred = 0;
        for (var round = 0; round < rounds; round++)
        {
            var delivery = new PartnerDelivery("de-hotline", endpoint, options, NullLogger.Instance);
            using var stop = new CancellationTokenSource();
            Exception? unexpected = null;
            long started = 0;
            // Deliveries started back to back, as a stage thread and its retries do, while the delivery is disposed.
            var senders = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
            {
                var pending = new List<Task>();
                for (var n = 0; !stop.IsCancellationRequested; n++)
                {
                    var forwarded = Hotline.Forwarded($"r-{round}-{n}", "de-hotline", "DE", "site.de-host.test", "198.51.100.10", "ab" + new string('0', 62));
                    pending.Add(Deliver(delivery, forwarded));
                    Interlocked.Increment(ref started);
                    if (pending.Count >= 256) Drain(pending);
                }
                Drain(pending);
            }) { IsBackground = true, Name = "partner-delivery-sender" }).ToList();

            void Drain(List<Task> pending)
            {
                foreach (var t in pending)
                {
                    try
                    {
                        t.GetAwaiter().GetResult();
                        Interlocked.Increment(ref delivered);
                    }
                    catch (DeferException)
                    {
                        Interlocked.Increment(ref deferred);
                    }
                    catch (Exception e)
                    {
                        Interlocked.CompareExchange(ref unexpected, e, null);
                    }
                }
                pending.Clear();
            }

            senders.ForEach(s => s.Start());
            // The disposal lands at a different point of the stream each round: after a random number of deliveries
            // have started (every sender is then inside the producer or about to enter it).
            var disposeAfter = random.Next(50, 2_000);
            await Polling.Until(() => Interlocked.Read(ref started) >= disposeAfter, TimeSpan.FromSeconds(60),
                () => $"round {round}: {Interlocked.Read(ref started)} of {disposeAfter} deliveries started before the disposal");
            delivery.Dispose();
            stop.Cancel();
            Assert.All(senders, s => Assert.True(s.Join(TimeSpan.FromSeconds(60)), "a sender did not stop after the delivery was disposed"));
            Assert.Null(unexpected);
        }
        Assert.True(delivered > 0, $"nothing was delivered in {rounds} rounds ({deferred} deferred)");
    }

    private static Task Deliver(PartnerDelivery delivery, ReportForwarded forwarded)
    {
        try
        {
            return delivery.ProcessAsync(new Incoming<ReportForwarded>(forwarded.caseKey, forwarded, Topics.ExchangeOutbound, 0, 0, DateTime.UtcNow, null), null!, CancellationToken.None).AsTask();
        }
        catch (Exception e)
        {
            return Task.FromException(e);
        }
    }
}
