#!/usr/bin/env python3
"""`porthole top` refresh cost: CPU share of one core at a 1 s interval.

Loads a private network namespace with bench/loadgen.py (N established
loopback connections = 2N sockets plus 80 listeners), then runs, one after
the other inside it, for --seconds each:
  - the live view, `porthole top` in a tmux session (drawing included; no
    row expanded), measured from /proc/PID/stat over --seconds after a
    warm-up, so start-up and the first frame's /proc walk are left out;
  - `porthole top --jsonl --interval 1s` (every connection of every
    listener serialised each refresh; start-up included);
  - the usual stand-in, `ss -tlnp` once a second (what `watch -n1 'ss
    -tlnp'` runs), which shows no rates and no connection counts;
  - `ss -tinp` once a second, the closest `ss` gets to per-connection byte
    counters with owners.
CPU is user+system time of the process (and its children) divided by wall
time: the share of one core. Prints a Markdown table; writes nothing.

Needs tmux for the live view.

Usage (root): python3 bench/top.py [--binary target/release/porthole]
              [--connections 30000] [--seconds 20]
"""

import argparse
import os
import resource
import subprocess
import sys
import time

NAMESPACE = "porthole-bench-top"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def sh(command):
    subprocess.run(command, shell=True, check=True)


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_for(argv, seconds):
    """Runs argv in the namespace for `seconds`; returns its CPU share."""
    before = children_cpu()
    start = time.perf_counter()
    process = subprocess.Popen(
        ["ip", "netns", "exec", NAMESPACE] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        process.wait(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    wall = time.perf_counter() - start
    return (children_cpu() - before) / wall, wall


def live_view(binary, seconds, warm_up=6):
    """The live view in a detached tmux terminal: CPU seconds it used over
    `seconds` of wall time once `warm_up` seconds have passed, from its
    /proc/PID/stat (`ip netns exec` execs porthole, so the pane's pid is
    porthole's)."""
    session = "porthole-bench-top"
    subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
         "ip", "netns", "exec", NAMESPACE, binary, "top"],
        check=True,
    )
    try:
        pid = int(subprocess.run(
            ["tmux", "display-message", "-p", "-t", session, "#{pane_pid}"],
            capture_output=True, text=True, check=True,
        ).stdout)
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu():
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks

        time.sleep(warm_up)
        before, start = cpu(), time.perf_counter()
        time.sleep(seconds)
        return cpu() - before, time.perf_counter() - start
    finally:
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)


def every_second(command, seconds):
    """A shell loop running `command`, then sleeping a second (as `watch -n1`
    does), for `seconds` of wall time: on a slow or loaded machine a run of
    `ss -p` over 60k sockets can itself take seconds."""
    return [
        "sh",
        "-c",
        f"end=$(($(date +%s) + {seconds})); while [ $(date +%s) -lt $end ]; do {command} >/dev/null; sleep 1; done",
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/porthole"))
    parser.add_argument("--connections", type=int, default=30000)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/top.py needs root (network namespaces)")

    subprocess.run(["ip", "netns", "del", NAMESPACE], stderr=subprocess.DEVNULL)
    sh(f"ip netns add {NAMESPACE}")
    sh(f"ip netns exec {NAMESPACE} ip link set lo up")
    load = subprocess.Popen(
        ["ip", "netns", "exec", NAMESPACE, sys.executable, os.path.join(HERE, "loadgen.py"),
         "--connections", str(args.connections), "--ttl", str(4 * args.seconds + 120)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        if load.stdout.readline().strip() != "ready":
            sys.exit("loadgen did not start")
        sockets = subprocess.run(
            ["ip", "netns", "exec", NAMESPACE, "ss", "-tanH"], capture_output=True, text=True
        ).stdout.count("\n")
        seconds = args.seconds
        print(f"{sockets} TCP sockets in the namespace, {seconds} s per command\n")
        print("| command | CPU (share of one core) | wall |")
        print("|---|---|---|", flush=True)
        used, wall = live_view(args.binary, seconds)
        print(f"| `porthole top` (live view, steady state) | {used / wall * 100:.1f}% | {wall:.1f} s |",
              flush=True)
        commands = [
            (
                f"porthole top --jsonl --interval 1s ({seconds} frames)",
                [args.binary, "top", "--jsonl", "--interval", "1s", "--count", str(seconds)],
            ),
            ("ss -tlnp once a second", every_second("ss -tlnp", seconds)),
            ("ss -tinp once a second", every_second("ss -tinp", seconds)),
        ]
        # Each row is printed as soon as it is measured.
        top_cpu = None
        for label, argv in commands:
            share, wall = run_for(argv, seconds)
            print(f"| `{label}` | {share * 100:.1f}% | {wall:.1f} s |", flush=True)
            if top_cpu is None:
                top_cpu = share * wall
        # On a loaded machine a refresh can take longer than the interval,
        # which stretches the wall time and flatters the share above; CPU per
        # frame (start-up included) is what one refresh costs.
        print(f"\nporthole top: {top_cpu:.2f} s CPU for {seconds} frames, "
              f"{top_cpu / seconds * 1000:.0f} ms per frame (start-up included)")
    finally:
        load.stdin.close()
        load.terminate()
        load.wait()
        subprocess.run(["ip", "netns", "del", NAMESPACE], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
