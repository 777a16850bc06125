using Avro.Specific;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Pipeline.Platform;

/// <summary>
/// A read-only view of topics kept by a part of a service that is not a stage (the operator console's queues, locks,
/// holds and directory): it says which topics it follows and what each record does; the platform follows them
/// (<see cref="CompactedTopicReader{T}"/>: from the beginning, no consumer group, nothing committed) and reports them to
/// /health like a stage, under <see cref="Name"/>: ready once every topic has been read to where it ended at start,
/// neither ready nor live once a reader has died (<c>pipeline_background_failures_total{stage=Name}</c>).
/// </summary>
public interface ITopicView
{
    string Name { get; }

    void Follow(TopicFollows follows);
}

/// <summary>What a <see cref="ITopicView"/> follows: one apply action per topic (a null value is a tombstone).</summary>
public sealed class TopicFollows
{
    /// <summary>Each makes and starts one reader.</summary>
    internal List<Func<KafkaOptions, AvroSerdes, ILogger, (IDisposable Reader, Task CaughtUp, BackgroundWork Work)>> Readers { get; } = [];

    public TopicFollows Topic<T>(string topic, Action<string, T?> apply) where T : class, ISpecificRecord
    {
        Readers.Add((kafka, serdes, log) =>
        {
            var reader = new CompactedTopicReader<T>(kafka, serdes, topic, (key, value, _) => apply(key, value), log);
            reader.Start();
            return (reader, reader.CaughtUp, reader.AsBackgroundWork());
        });
        return this;
    }
}

/// <summary>Follows the topics of every registered <see cref="ITopicView"/> while the host runs.</summary>
internal sealed class TopicViewHost(IEnumerable<ITopicView> views, IOptions<KafkaOptions> kafka, AvroSerdes serdes, StageHealth health, ILogger<TopicViewHost> log)
    : IHostedService, IDisposable
{
    private readonly List<IDisposable> readers = [];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var view in views)
        {
            health.Expect(view.Name);
            var follows = new TopicFollows();
            view.Follow(follows);
            var caughtUp = new List<Task>();
            foreach (var make in follows.Readers)
            {
                var (reader, readerCaughtUp, work) = make(kafka.Value, serdes, log);
                readers.Add(reader);
                health.Watch(view.Name, work, log);
                caughtUp.Add(readerCaughtUp);
            }
            var name = view.Name;
            _ = Task.WhenAll(caughtUp).ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully) health.ViewReady(name);
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var reader in readers) reader.Dispose();
        readers.Clear();
    }
}

public static class TopicViewRegistration
{
    /// <summary>Registers <typeparamref name="TView"/> (a singleton) and has the platform follow its topics.</summary>
    public static IServiceCollection AddTopicView<TView>(this IServiceCollection services) where TView : class, ITopicView
    {
        services.TryAddSingleton<TView>();
        services.AddSingleton<ITopicView>(sp => sp.GetRequiredService<TView>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, TopicViewHost>());
        return services;
    }
}
