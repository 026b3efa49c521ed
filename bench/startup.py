#!/usr/bin/env python3
"""Start-up cost and size of porthole binaries: `BINARY --version` as a whole
process (exec, dynamic linking, argument parsing, exit), 1 warm-up run and
then --runs runs of each binary in alternating order, so drift of a shared
machine hits every binary alike. Prints, per binary, the file size and the
median (min-max) wall time and CPU time (user+sys), the latter from the
kernel's accounting of each finished child (wait4). Peak memory is left
out: for a spawned child the kernel reports the spawning interpreter's.

Usage: python3 bench/startup.py [--runs 50] BINARY [BINARY...]
   e.g. python3 bench/startup.py target/dist/porthole target/release/porthole
"""

import argparse
import os
import statistics
import subprocess
import sys
import time


def run_once(binary):
    """Runs `binary --version` with output discarded; (wall s, cpu s)."""
    start = time.perf_counter()
    pid = os.posix_spawn(
        binary,
        [binary, "--version"],
        os.environ,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        ],
    )
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"startup: {binary} --version failed")
    return wall, usage.ru_utime + usage.ru_stime


def summary(values, scale, digits):
    values = [value * scale for value in values]
    return "{:.{d}f} ({:.{d}f}-{:.{d}f})".format(
        statistics.median(values), min(values), max(values), d=digits
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()
    binaries = [os.path.abspath(binary) for binary in args.binaries]
    for binary in binaries:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True)
        print(f"{binary}: {version.stdout.strip()}")
        run_once(binary)  # warm-up: page cache, dynamic loader cache
    samples = {binary: [] for binary in binaries}
    for _ in range(args.runs):
        for binary in binaries:
            samples[binary].append(run_once(binary))
    print(f"\n{args.runs} runs each, median (min-max)")
    print("| binary | size bytes | wall ms | CPU ms |")
    print("|---|---|---|---|")
    for binary in binaries:
        walls, cpus = zip(*samples[binary])
        print(
            f"| `{os.path.relpath(binary)}` | {os.path.getsize(binary):,} "
            f"| {summary(walls, 1000, 2)} | {summary(cpus, 1000, 1)} |"
        )


if __name__ == "__main__":
    main()
