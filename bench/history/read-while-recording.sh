#!/usr/bin/env bash
# `porthole history` while `porthole monitor` records 1,000 connections/s:
# every answer's time, and whether any reader waited on or was refused by
# the writer ("database is locked"). Needs root (a private network
# namespace and the recorder). Usage:
#   bench/history/read-while-recording.sh [PORTHOLE] [SECONDS] [CAPTURE]
# PORTHOLE defaults to target/release/porthole, SECONDS to 30, CAPTURE to
# ebpf. Prints one summary line.
set -euo pipefail
porthole=${1:-target/release/porthole}
seconds=${2:-30}
capture=${3:-ebpf}
namespace=porthole-bench-read-$$
work=$(mktemp -d)
chmod 700 "$work"
cleanup() {
    kill "${load:-}" "${monitor:-}" "${server:-}" 2>/dev/null || true
    wait 2>/dev/null || true
    ip netns del "$namespace" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$namespace"
ip netns exec "$namespace" ip link set lo up
# `ip netns exec` execs its command, so `$!` below is the program's pid
# (a shell function run with `&` would be a subshell that a kill leaves
# the program behind).
in_ns=(ip netns exec "$namespace")

"${in_ns[@]}" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8080)); s.listen(4096)
while True:
    c, _ = s.accept(); c.recv(64); c.close()
' &
server=$!
"${in_ns[@]}" "$porthole" monitor --capture "$capture" --no-alerts --store "$work/history.sqlite" \
    >/dev/null 2>"$work/monitor.err" &
monitor=$!
sleep 5
# 1,000 connections a second, paced per 10 ms.
"${in_ns[@]}" python3 -c '
import socket, sys, time
end = time.monotonic() + float(sys.argv[1]); tick = time.monotonic(); made = 0
while time.monotonic() < end:
    for _ in range(10):
        c = socket.create_connection(("127.0.0.1", 8080)); c.send(b"x"); c.close()
        made += 1
    tick += 0.01
    time.sleep(max(0.0, tick - time.monotonic()))
open(sys.argv[2], "w").write(str(made))
' "$seconds" "$work/made" &
load=$!
: >"$work/times"
errors=0
while kill -0 "$load" 2>/dev/null; do
    start=$(date +%s%N)
    if ! "$porthole" history 8080 --since 1m --store "$work/history.sqlite" \
        >/dev/null 2>"$work/err"; then
        errors=$((errors + 1))
        cat "$work/err" >&2
    fi
    echo $(( ($(date +%s%N) - start) / 1000000 )) >>"$work/times"
    grep -qi "locked\|busy" "$work/err" && errors=$((errors + 1))
done
wait "$load" || true
sleep 2
# SIGTERM: a script's background jobs ignore SIGINT.
kill -TERM "$monitor"; wait "$monitor" || true
made=$(cat "$work/made")
recorded=$("$porthole" history 8080 --json --store "$work/history.sqlite" |
    python3 -c 'import json,sys; print(sum(c["connections"] for c in json.load(sys.stdin)["clients"]))')
sort -n "$work/times" | awk -v errors="$errors" -v recorded="$recorded" -v made="$made" -v seconds="$seconds" '
    { t[NR] = $1 }
    END {
        printf "queries %d, errors %d, ms p50 %d p99 %d max %d; connections recorded %d of %d made (%d/s)\n",
            NR, errors, t[int(NR * 0.5) + 1], t[int(NR * 0.99) + 1], t[NR], recorded, made, made / seconds
    }'
