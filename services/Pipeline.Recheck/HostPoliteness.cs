namespace Pipeline.Recheck;

/// <summary>
/// Per-host politeness: at most <see cref="RecheckOptions.PerHostConcurrency"/> checks of one host at a time, and their
/// starts at least <see cref="RecheckOptions.PerHostSpacing"/> apart. A host with thousands of noticed URLs therefore
/// gets a steady trickle of requests, and while its checks wait for their turn they hold none of the global
/// <see cref="RecheckOptions.Concurrency"/> slots, so other hosts are not starved.
/// <para>Runs on real time (the pacing clock), not on the stage clock: the demo and the tests speed the stage clock
/// up, but a hoster's server lives in real time.</para>
/// </summary>
public sealed class HostPoliteness(RecheckOptions options, TimeProvider pacing)
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Lane> lanes = new(StringComparer.OrdinalIgnoreCase);

    private sealed class Lane(int slots)
    {
        public PrioritySlots Slots { get; } = new(slots);
        public long NextStart { get; set; }
        public int Users { get; set; }
    }

    /// <summary>Waits for a turn at <paramref name="host"/> and then for one of the global <paramref name="slots"/>, both
    /// served by <paramref name="priority"/> (lower first); dispose the result when the check is done (it releases both).
    /// The spacing counts from the moment a check really starts (after it got its global slot), so a wait for a slot
    /// never squeezes two starts together.</summary>
    public async Task<IDisposable> EnterAsync(string host, int priority, PrioritySlots slots, CancellationToken ct)
    {
        Lane lane;
        lock (gate)
        {
            if (!lanes.TryGetValue(host, out lane!))
            {
                if (lanes.Count >= 4096) Prune();
                lanes[host] = lane = new Lane(options.PerHostConcurrency);
            }
            lane.Users++;
        }
        try
        {
            await lane.Slots.WaitAsync(priority, ct);
        }
        catch
        {
            Leave(host, lane, releaseSlot: false);
            throw;
        }
        try
        {
            while (true)
            {
                TimeSpan wait;
                lock (gate) wait = pacing.GetElapsedTime(pacing.GetTimestamp(), lane.NextStart);
                if (wait > TimeSpan.Zero) await Task.Delay(wait, pacing, ct);
                await slots.WaitAsync(priority, ct);
                lock (gate)
                {
                    var now = pacing.GetTimestamp();
                    if (now >= lane.NextStart)
                    {
                        lane.NextStart = now + (long)(options.PerHostSpacing.TotalSeconds * pacing.TimestampFrequency);
                        return new Turn(this, host, lane, slots);
                    }
                }
                slots.Release(); // another check of this host started meanwhile: wait for the spacing again
            }
        }
        catch
        {
            Leave(host, lane, releaseSlot: true);
            throw;
        }
    }

    /// <summary>Hosts with checks running or waiting (a lane is forgotten when its last check is done).</summary>
    public int ActiveHosts
    {
        get { lock (gate) return lanes.Count; }
    }

    private void Leave(string host, Lane lane, bool releaseSlot)
    {
        if (releaseSlot) lane.Slots.Release();
        lock (gate)
        {
            // A lane without users is dropped; its spacing is kept only while checks of the host follow each other,
            // which is when it matters. (A new lane starts at once: the last start is at least as old as its check.)
            if (--lane.Users == 0 && lane.NextStart <= pacing.GetTimestamp())
            {
                lanes.Remove(host);
            }
        }
    }

    /// <summary>Drops idle lanes whose spacing has passed (they were kept because their last check ended early).</summary>
    private void Prune()
    {
        var now = pacing.GetTimestamp();
        foreach (var (host, lane) in lanes.Where(l => l.Value.Users == 0 && l.Value.NextStart <= now).ToList())
        {
            lanes.Remove(host);
        }
    }

    private sealed class Turn(HostPoliteness owner, string host, Lane lane, PrioritySlots slots) : IDisposable
    {
        private int done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref done, 1) != 0) return;
            slots.Release();
            owner.Leave(host, lane, releaseSlot: true);
        }
    }
}
