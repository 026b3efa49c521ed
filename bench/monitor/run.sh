#!/usr/bin/env bash
# Builds porthole in release mode and runs the monitor benchmark inside a
# fresh network namespace (so only its own connections are recorded),
# printing the machine description and the figures in BENCHMARKS.md.
# Needs root. Usage: bench/monitor/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "# command: bench/monitor/run.sh $*"
echo "# machine: $(nproc) CPUs, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
cargo bench --bench monitor --no-run
namespace="porthole-bench-$$"
ip netns add "$namespace"
trap 'ip netns del "$namespace"' EXIT
ip netns exec "$namespace" ip link set lo up
ip netns exec "$namespace" cargo bench --bench monitor -- "$@"
