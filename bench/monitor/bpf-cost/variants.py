#!/usr/bin/env python3
"""Writes variants of the monitor's eBPF program, each without one part of
its work, so run.sh can time what each part costs per program run.

Usage: variants.py SOURCE_DIR OUT_DIR
Each variant keeps the program's shape (and so its verifier result); a
`recorded_netns == 12345` test the loader never makes true stands in for
the removed work, so the compiler cannot drop the rest around it.
"""
import pathlib
import sys

source_dir, out_dir = map(pathlib.Path, sys.argv[1:3])
source = (source_dir / "monitor.bpf.c").read_text()
out_dir.mkdir(parents=True, exist_ok=True)
(out_dir / "kernel_types.h").write_text((source_dir / "kernel_types.h").read_text())


def variant(name, old, new):
    if old not in source:
        sys.exit(f"variants.py: the source no longer has the text variant {name} edits")
    (out_dir / f"{name}.c").write_text(source.replace(old, new, 1))


(out_dir / "full.c").write_text(source)
# The tracepoint's own cost: the program returns at once.
variant(
    "empty",
    "int BPF_PROG(on_state, struct sock *sk, int oldstate, int newstate)\n{",
    "int BPF_PROG(on_state, struct sock *sk, int oldstate, int newstate)\n{\n\tif (recorded_netns != 12345) return 0;",
)
# Everything but the ring-buffer records.
variant(
    "no-records",
    "struct event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);",
    "struct event *event = 0; if (recorded_netns == 12345) event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);",
)
# Everything but the stash of connect()'s caller in the LRU hash.
variant(
    "no-stash",
    "bpf_map_update_elem(&connecting, &cookie, &client, BPF_ANY);",
    "if (recorded_netns == 12345) bpf_map_update_elem(&connecting, &cookie, &client, BPF_ANY);",
)
# The stash in a plain (preallocated) hash instead of an LRU hash.
variant("plain-hash", "__uint(type, BPF_MAP_TYPE_LRU_HASH);", "__uint(type, BPF_MAP_TYPE_HASH);")
# The connect() stash in a map of 8,192 entries instead of 65,536.
variant("stash-8192", "__uint(max_entries, 65536);", "__uint(max_entries, 8192);")
