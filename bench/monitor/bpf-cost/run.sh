#!/usr/bin/env bash
# Times what each part of the monitor's eBPF program costs per run: builds
# variants of src/inventory/ebpf/monitor.bpf.c (variants.py), loads each
# with a small libbpf loader that drains the ring buffer every 15 ms as the
# recorder does, runs N loopback connect/request/close rounds in a fresh
# network namespace, and prints the kernel's run_time_ns / run_cnt.
# Needs root, clang, gcc and libbpf-dev. Usage: bench/monitor/bpf-cost/run.sh [N] [ROUNDS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
n="${1:-10000}"
rounds="${2:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "# command: bench/monitor/bpf-cost/run.sh $n $rounds"
echo "# machine: $(nproc) CPUs, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 "$here/variants.py" "$here/../../../src/inventory/ebpf" "$work"
gcc -O2 "$here/loader.c" -o "$work/loader" -lbpf
sysctl -qw kernel.bpf_stats_enabled=1
for variant in full empty no-records no-stash plain-hash; do
    clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Wno-unused-function \
        -c "$work/$variant.c" -o "$work/$variant.o"
done
for round in $(seq "$rounds"); do
    for variant in full empty no-records no-stash plain-hash; do
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
