#!/usr/bin/env bash
# Compiles the monitor's eBPF programs into the object committed next to
# their source, so that building porthole never needs clang. Run it after
# editing src/inventory/ebpf/*.{c,h}; the test
# `inventory::ebpf::tests::object_matches_source` fails until the object
# and its recorded source hash are refreshed.
#
# Needs clang and libbpf's headers (Debian: clang libbpf-dev). The flags
# make the output reproducible: relative paths, no DWARF (BTF and its
# CO-RE relocations are kept).
set -euo pipefail
cd "$(dirname "$0")/../src/inventory/ebpf"
out="${1:-monitor.bpf.o}"
clang -O2 -g -target bpf -D__TARGET_ARCH_x86 \
    -fdebug-prefix-map="$PWD"=. -fdebug-compilation-dir=. \
    -Wall -Werror -c monitor.bpf.c -o "$out"
llvm-strip -g "$out"
if [ "$out" = monitor.bpf.o ]; then
    cat kernel_types.h monitor.bpf.c | sha256sum | cut -d' ' -f1 > monitor.bpf.sha256
fi
