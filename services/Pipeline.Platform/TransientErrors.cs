using System.Net.Http;
using System.Net.Sockets;
using Confluent.SchemaRegistry;

namespace Pipeline.Platform;

/// <summary>Thrown by a processor for a failure that may go away on retry (a dependency timed out or is down).</summary>
public class TransientException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Thrown when an input cannot be turned into its typed record; never retried.</summary>
public sealed class UndeserialisableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Thrown when an output a processor made from its input cannot be written as Avro (e.g. an enum value outside
/// its symbols, decoded from a crafted payload): the input's fault, so it is dead-lettered, never retried, and never a
/// reason to stop the stage.</summary>
public sealed class UnserialisableOutputException(string message, Exception inner) : Exception(message, inner);

public static class TransientErrors
{
    /// <summary>Whether retrying may help: timeouts, network errors and 5xx answers from the Schema Registry.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        TransientException => true,
        UndeserialisableException u => u.InnerException is not null && IsTransient(u.InnerException),
        SchemaRegistryException s => (int)s.Status >= 500,
        TimeoutException or HttpRequestException or SocketException or IOException => true,
        AggregateException a => a.InnerExceptions.All(IsTransient),
        _ => e.InnerException is not null && e.InnerException is not UndeserialisableException && IsTransient(e.InnerException),
    };
}
