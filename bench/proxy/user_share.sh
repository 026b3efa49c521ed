#!/usr/bin/env bash
# Interleaved before/after runs of the proxy latency section with `perf record`
# attached to the proxy process: prints, per run, the load average, the
# share of the proxy's samples spent in user space (everything but the
# kernel: the porthole binary, libc, the vDSO) and the benchmark's medians.
# Usage: bench/proxy/user_share.sh ROUNDS BINARY...   (e.g. 5 /tmp/porthole-before /tmp/porthole-after)
# Needs a built benchmark (`cargo bench --bench proxy --no-run`, or PROXY_BENCH=path to
# a copy of it) and permission to profile (root, or kernel.perf_event_paranoid <= 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="$1"
shift
bench="${PROXY_BENCH:-$(ls -t target/release/deps/proxy-* | grep -v '\.d$' | head -1)}"
out="$(mktemp -d)"
for round in $(seq 1 "$rounds"); do
    for binary in "$@"; do
        load="$(cut -d' ' -f1-3 /proc/loadavg)"
        PORTHOLE_BENCH_BINARY="$binary" "$bench" --only "${SECTIONS:-latency}" >"$out/bench.md" 2>&1 &
        run=$!
        proxy=
        for _ in $(seq 1 400); do
            proxy=$(pgrep -f -n "^$binary proxy serve" || true)
            [ -n "$proxy" ] && break
            sleep 0.01
        done
        if [ -z "$proxy" ]; then
            echo "user_share: the proxy process of $binary did not start" >&2
            wait "$run" || true
            continue
        fi
        perf record -F 2000 -p "$proxy" -o "$out/perf.data" >/dev/null 2>&1 &
        record=$!
        wait "$run"
        kill -INT "$record" 2>/dev/null || true
        wait "$record" 2>/dev/null || true
        # dso column: [kernel.kallsyms] is the kernel, everything else user space.
        share=$(perf report -i "$out/perf.data" --no-children --sort dso --stdio 2>/dev/null |
            awk '/%/ && !/^#/ { gsub("%", "", $1); if ($2 == "[kernel.kallsyms]") k += $1; else u += $1 }
                 END { printf "%.1f", u }')
        medians=$(grep '^Medians' "$out/bench.md" | sed 's/^Medians of the runs: //')
        echo "round $round | $binary | load $load | perf user share $share% | $medians"
    done
done
rm -rf "$out"
