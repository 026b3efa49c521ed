#!/usr/bin/env bash
# A PORTHOLE_BENCH_RECORDER_WRAPPER for `bench/monitor/run.sh --latency R 4`:
# runs the recorder, stops it (SIGSTOP) 1.2 s after its start, when the
# benchmark's load has begun, and lets it go on 4.5 s later, after the
# 4-second load. What the load then pays for is what the kernel does for a
# recording (the eBPF program, or the destroy subscription), without the
# recorder's own CPU. Use a build with a ring buffer large enough for the
# whole load (RING_BYTES), or eBPF events are dropped once it fills.
(sleep 1.2; kill -STOP $$; sleep 4.5; kill -CONT $$) &
exec "$@"
