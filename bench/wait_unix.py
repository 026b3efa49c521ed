#!/usr/bin/env python3
"""`porthole wait unix:PATH` cost with many Unix sockets in the namespace.

Unix sockets belong to a network namespace, and `unix_diag` lists only the
caller's, so the load lives in a private one: --pairs socketpairs (2 sockets
each) held open by one Python process, plus two listeners:
  - `accepting.sock`: accepts at once and keeps each connection open (a
    healthy server: `wait` is ready after one look at its own end);
  - `stuck.sock`: listen(64) and never accept() (`wait` looks at its own
    end every 20 ms until the 1 s accept grace runs out, then again each
    round, and explains the timeout).
Each binary given with --binary runs, in turn (alternating, so a load
change on the machine hits both alike), --runs times:
  - `porthole wait unix:accepting.sock` (CPU and wall time of one wait);
  - `porthole wait unix:stuck.sock --timeout 3s -q` (CPU over the 3 s).
CPU is user+system time of the porthole process (wait4 rusage). Prints a
Markdown table with the median of the runs; the sockets live in a temporary
directory removed at the end.

Usage (root): python3 bench/wait_unix.py --binary before=PATH --binary after=PATH
              [--pairs 10000] [--runs 5]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

NAMESPACE = "porthole-bench-wait-unix"

LOAD = r"""
import os, resource, socket, sys, threading
pairs = int(sys.argv[1])
directory = sys.argv[2]
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
# The descriptor limit may be below 2 * pairs: each process holds at most
# 6,000 pairs, the rest go to forked children that hold theirs and wait.
share = 6000
children = 0
done_reader, done_writer = os.pipe()
while pairs > share:
    pairs -= share
    children += 1
    if os.fork() == 0:
        held = [socket.socketpair() for _ in range(share)]
        os.write(done_writer, b"x")
        os.read(0, 1)
        os._exit(0)
held = [socket.socketpair() for _ in range(pairs)]
for _ in range(children):
    os.read(done_reader, 1)
def listener(name, backlog):
    path = os.path.join(directory, name)
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(backlog)
    return server
accepting = listener("accepting.sock", 512)
stuck = listener("stuck.sock", 64)
kept = []
def serve():
    while True:
        connection, _ = accepting.accept()
        kept.append(connection)
        # Only the newest few stay open: enough for the wait's watch.
        if len(kept) > 64:
            kept.pop(0).close()
threading.Thread(target=serve, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


def run(binary, argv):
    """Runs porthole inside the namespace; returns (cpu s, wall s, code)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        ["ip", "netns", "exec", NAMESPACE, binary] + argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, wall, process.returncode


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", action="append", required=True, help="LABEL=PATH")
    parser.add_argument("--pairs", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/wait_unix.py needs root (a network namespace)")
    binaries = [tuple(b.split("=", 1)) for b in args.binary]

    subprocess.run(["ip", "netns", "del", NAMESPACE], stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "netns", "add", NAMESPACE], check=True)
    directory = tempfile.mkdtemp(prefix="porthole-bench-wait-unix-")
    load = subprocess.Popen(
        ["ip", "netns", "exec", NAMESPACE, sys.executable, "-c", LOAD, str(args.pairs), directory],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if load.stdout.readline().strip() != "ready":
            sys.exit("the load did not start")
        count = subprocess.run(
            ["ip", "netns", "exec", NAMESPACE, "ss", "-xaH"], capture_output=True, text=True
        ).stdout.count("\n")
        print(f"{count} Unix sockets in the namespace; median of {args.runs} runs\n")
        ready = ["wait", f"unix:{directory}/accepting.sock", "-q"]
        stuck = ["wait", f"unix:{directory}/stuck.sock", "--timeout", "3s", "-q"]
        results = {label: {"ready": [], "stuck": []} for label, _ in binaries}
        for _ in range(args.runs):
            for label, binary in binaries:
                cpu, wall, code = run(binary, ready)
                if code != 0:
                    sys.exit(f"{label}: wait on the accepting listener exited {code}")
                results[label]["ready"].append((cpu, wall))
                cpu, wall, code = run(binary, stuck)
                if code != 1:
                    sys.exit(f"{label}: wait on the stuck listener exited {code}")
                results[label]["stuck"].append((cpu, wall))
        print("| build | ready: CPU (ms) | ready: wall (ms) | never accepts, 3 s: CPU (ms) |")
        print("|---|---|---|---|")
        for label, _ in binaries:
            ready_runs, stuck_runs = results[label]["ready"], results[label]["stuck"]
            print(
                f"| {label} "
                f"| {statistics.median(c for c, _ in ready_runs) * 1000:.0f} "
                f"| {statistics.median(w for _, w in ready_runs) * 1000:.0f} "
                f"| {statistics.median(c for c, _ in stuck_runs) * 1000:.0f} |"
            )
    finally:
        load.stdin.close()
        load.terminate()
        load.wait()
        subprocess.run(["ip", "netns", "del", NAMESPACE], stderr=subprocess.DEVNULL)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
