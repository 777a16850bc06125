using System.Buffers.Binary;
using System.Net.Sockets;
using Prometheus;

namespace Pipeline.Platform.Embedded;

/// <summary>
/// Asks every broker of the embedded cluster, over the Kafka protocol on loopback, whether it answers (an ApiVersions
/// request on a fresh connection, as any client's first request) and exports the answer as
/// <c>pipeline_embedded_broker_up{broker}</c>. It measures rather than remembers: a broker set down by fault injection,
/// or a cluster whose process is wedged, reads 0 because it does not answer, not because someone said so.
/// </summary>
public sealed class EmbeddedClusterHealth : IDisposable
{
    public static readonly Gauge BrokerUp = Metrics.CreateGauge(
        "pipeline_embedded_broker_up", "1 when the embedded (demo) cluster's broker answered a Kafka ApiVersions request on loopback, 0 when it did not.",
        new GaugeConfiguration { LabelNames = ["broker"] });

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);
    private readonly (string Id, string Host, int Port)[] brokers;
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;

    /// <summary>Starts probing <paramref name="bootstrapServers"/> (the mock cluster lists brokers 1…N in order).</summary>
    public EmbeddedClusterHealth(string bootstrapServers, TimeSpan interval)
    {
        brokers = [.. bootstrapServers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select((address, i) =>
            {
                var colon = address.LastIndexOf(':');
                return ((i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), address[..colon], int.Parse(address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
            })];
        loop = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(interval);
            try
            {
                do
                {
                    var answers = await Task.WhenAll(brokers.Select(b => AnswersAsync(b.Host, b.Port, stop.Token)));
                    if (stop.IsCancellationRequested) return;
                    for (var i = 0; i < brokers.Length; i++) BrokerUp.WithLabels(brokers[i].Id).Set(answers[i] ? 1 : 0);
                }
                while (await timer.WaitForNextTickAsync(stop.Token));
            }
            catch (OperationCanceledException)
            {
            }
        });
    }

    /// <summary>Whether a Kafka broker at host:port answers an ApiVersions v0 request within a second.</summary>
    public static async Task<bool> AnswersAsync(string host, int port, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(Timeout);
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, cts.Token);
            var stream = client.GetStream();
            // Request header v1: api_key 18 (ApiVersions), api_version 0, correlation_id, client_id; no body.
            const string clientId = "embedded-health";
            const int correlation = 0x5EA1;
            var request = new byte[4 + 2 + 2 + 4 + 2 + clientId.Length];
            BinaryPrimitives.WriteInt32BigEndian(request, request.Length - 4);
            BinaryPrimitives.WriteInt16BigEndian(request.AsSpan(4), 18);
            BinaryPrimitives.WriteInt16BigEndian(request.AsSpan(6), 0);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(8), correlation);
            BinaryPrimitives.WriteInt16BigEndian(request.AsSpan(12), (short)clientId.Length);
            System.Text.Encoding.ASCII.GetBytes(clientId, request.AsSpan(14));
            await stream.WriteAsync(request, cts.Token);
            var header = new byte[8]; // response size + correlation id
            await stream.ReadExactlyAsync(header, cts.Token);
            return BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4)) == correlation;
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or EndOfStreamException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        loop.Wait(TimeSpan.FromSeconds(5));
        stop.Dispose();
    }
}
