namespace Pipeline.Recheck;

/// <summary>
/// A counting semaphore whose waiters are served by priority (lower first), then in order of arrival: the recheck's
/// first checks go before retries, and retries before routine checks, when checks queue for the global slots or for
/// their host's turn. Written here because neither <see cref="SemaphoreSlim"/> nor System.Threading.Channels orders
/// waiters; it is a <see cref="PriorityQueue{TElement,TPriority}"/> of waiters under a lock.
/// </summary>
public sealed class PrioritySlots(int count)
{
    private readonly Lock gate = new();
    private readonly PriorityQueue<Waiter, (int Priority, long Arrival)> waiting = new();
    private int free = count;
    private long arrivals;

    private sealed class Waiter
    {
        public readonly TaskCompletionSource Granted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Abandoned;
        public CancellationTokenRegistration Registration;
    }

    /// <summary>Free slots.</summary>
    public int Free
    {
        get { lock (gate) return free; }
    }

    /// <summary>Waits for a slot; <see cref="Release"/> it when done. A cancelled wait holds no slot.</summary>
    public Task WaitAsync(int priority, CancellationToken ct)
    {
        Waiter waiter;
        lock (gate)
        {
            // Free slots exist only while nobody waits: Release hands a slot to a waiter before it frees one.
            if (free > 0)
            {
                free--;
                return Task.CompletedTask;
            }
            waiter = new Waiter();
            waiting.Enqueue(waiter, (priority, arrivals++));
        }
        if (ct.CanBeCanceled) waiter.Registration = ct.Register(() => Abandon(waiter, ct));
        return waiter.Granted.Task;
    }

    public void Release()
    {
        lock (gate)
        {
            while (waiting.TryDequeue(out var next, out _))
            {
                if (next.Abandoned) continue;
                next.Registration.Unregister(); // never Dispose under the lock: it waits for a running Abandon, which waits for the lock
                next.Granted.TrySetResult();
                return;
            }
            free++;
        }
    }

    private void Abandon(Waiter waiter, CancellationToken ct)
    {
        lock (gate)
        {
            if (waiter.Granted.Task.IsCompleted) return; // granted first: the caller holds the slot and releases it
            waiter.Abandoned = true;
        }
        waiter.Granted.TrySetCanceled(ct);
    }
}
