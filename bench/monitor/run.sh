#!/usr/bin/env bash
# Builds porthole in release mode and runs the monitor benchmark inside a
# fresh network namespace (so only its own connections are recorded),
# printing the machine description and the figures in BENCHMARKS.md.
# Needs root. Usage: bench/monitor/run.sh [--quick | --latency [ROUNDS [SECONDS]] | --churn [SECONDS]]
# (knobs for --latency: PORTHOLE_BENCH_RECORDER_WRAPPER, PORTHOLE_BENCH_ONLY, and
# PORTHOLE_BENCH_BEFORE=PATH to compare an earlier build's eBPF recorder; see main.rs)
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "# command: bench/monitor/run.sh $*"
echo "# machine: $(nproc) CPUs, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
# Optimised, but without the release profile's thin LTO: a full LTO build
# of the library, binary and benchmark takes over half an hour on two
# shared cores, and this benchmark is bound by system calls, not code.
export CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 CARGO_PROFILE_BENCH_OPT_LEVEL=2
cargo bench --bench monitor --no-run
namespace="porthole-bench-$$"
ip netns add "$namespace"
trap 'ip netns del "$namespace"' EXIT
ip netns exec "$namespace" ip link set lo up
ip netns exec "$namespace" cargo bench --bench monitor -- "$@"
