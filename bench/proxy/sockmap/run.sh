#!/usr/bin/env bash
# Builds the sockmap experiment and runs direct / splice / sockmap in turn,
# three rounds of 2 GiB each. Needs root, clang, gcc and libbpf-dev.
set -euo pipefail
cd "$(dirname "$0")"
clang -O2 -g -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -c relay.bpf.c -o relay.bpf.o
gcc -O2 -o relay_bench relay_bench.c -lbpf
for round in 1 2 3; do
    for mode in direct splice sockmap; do
        ./relay_bench "$mode" 2048
        sleep 0.5
    done
done
rm -f relay.bpf.o relay_bench
