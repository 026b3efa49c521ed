#!/usr/bin/env bash
# Builds porthole in release mode and runs the loopback proxy benchmark,
# printing the machine description and Markdown tables (as in BENCHMARKS.md).
# Usage: bench/proxy/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "# command: bench/proxy/run.sh $*"
echo "# machine: $(nproc) CPUs, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
cargo bench --bench proxy -- "$@"
