#!/usr/bin/env bash
# Profiles the proxy process while the benchmark drives it: runs
# `cargo bench --bench proxy -- --only SECTIONS` (default: latency), attaches
# `perf stat` and `perf record -g` to the `porthole proxy serve` child, and
# prints the counters and the hottest symbols.
# Usage: bench/proxy/profile.sh [SECTIONS] [OUTPUT_DIR]
# Needs perf and permission to profile (root, or kernel.perf_event_paranoid <= 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
sections="${1:-latency}"
out="${2:-$(mktemp -d)}"
mkdir -p "$out"
cargo bench --bench proxy --no-run >/dev/null 2>&1
cargo bench --bench proxy -- --only "$sections" >"$out/bench.md" &
bench=$!
proxy=
for _ in $(seq 1 200); do
    proxy=$(pgrep -f -n "proxy serve --listen 127.0.0.1:0" -P "$(pgrep -P "$bench" | tr '\n' ',' | sed 's/,$//')" || true)
    [ -n "$proxy" ] && break
    sleep 0.05
done
if [ -z "$proxy" ]; then
    echo "profile: the proxy process did not start" >&2
    wait "$bench"
    exit 2
fi
perf stat -e task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter -p "$proxy" \
    -o "$out/perf-stat.txt" &
stat=$!
perf record -g -F 2000 -p "$proxy" -o "$out/perf.data" >/dev/null 2>&1 &
record=$!
wait "$bench"
kill -INT "$stat" "$record" 2>/dev/null || true
wait "$stat" "$record" 2>/dev/null || true
echo "# command: bench/proxy/profile.sh $sections"
cat "$out/bench.md"
echo "## perf stat (proxy process, whole run)"
cat "$out/perf-stat.txt"
echo "## perf report (self time, top 40)"
perf report -i "$out/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -v '^#' | grep '%' | head -40
echo "(profile data in $out)"
