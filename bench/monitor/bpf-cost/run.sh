#!/usr/bin/env bash
# Times what each part of the monitor's eBPF program costs per run: builds
# variants of src/inventory/ebpf/monitor.bpf.c (variants.py), loads each
# with a small libbpf loader that drains the ring buffer every 15 ms as the
# recorder does, runs N loopback connect/request/close rounds in a fresh
# network namespace, and prints the kernel's run_time_ns / run_cnt.
# With a git revision as BEFORE, the program as it was there is timed too
# (variant "before"), interleaved with the others.
# Needs root, clang, gcc and libbpf-dev.
# Usage: bench/monitor/bpf-cost/run.sh [N] [ROUNDS] [BEFORE]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
n="${1:-10000}"
rounds="${2:-3}"
before="${3:-}"
# PORTHOLE_BPF_VARIANTS picks which of variants.py's variants to time.
variants="${PORTHOLE_BPF_VARIANTS:-full empty no-records no-stash plain-hash stash-8192}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "# command: bench/monitor/bpf-cost/run.sh $n $rounds${before:+ $before}"
echo "# machine: $(nproc) CPUs, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 "$here/variants.py" "$here/../../../src/inventory/ebpf" "$work"
if [ -n "$before" ]; then
    # Its own directory: kernel_types.h may differ between the revisions.
    mkdir "$work/before"
    for file in kernel_types.h monitor.bpf.c; do
        git -C "$here" show "$before:src/inventory/ebpf/$file" > "$work/before/$file"
    done
    clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Wno-unused-function \
        -c "$work/before/monitor.bpf.c" -o "$work/before.o"
    variants="before $variants"
fi
gcc -O2 "$here/loader.c" -o "$work/loader" -lbpf
sysctl -qw kernel.bpf_stats_enabled=1
for variant in $variants; do
    [ "$variant" = before ] && continue
    clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Wno-unused-function \
        -c "$work/$variant.c" -o "$work/$variant.o"
done
for round in $(seq "$rounds"); do
    for variant in $variants; do
        ns="porthole-bpfcost-$$"
        ip netns add "$ns"
        ip netns exec "$ns" ip link set lo up
        coproc LOADER { exec "$work/loader" "$work/$variant.o"; }
        read -r _ready <&"${LOADER[0]}"
        ip netns exec "$ns" python3 "$here/workload.py" "$n"
        kill -TERM "$LOADER_PID"
        read -r result <&"${LOADER[0]}"
        wait "$LOADER_PID" || true
        ip netns del "$ns"
        echo "round $round $variant: $result"
    done
done
