#!/usr/bin/env python3
"""Bounded socket load for the inventory benchmark.

Opens N established loopback TCP connections spread over several process
pairs (25% over ::1, 75% over 127.0.0.1), a set of extra listeners, and an
optional "fd farm" of processes holding many regular-file descriptors, then
prints "ready" and holds everything until stdin closes or --ttl expires.

Every process has a hard deadline and dies with its parent (PR_SET_PDEATHSIG);
connections are closed with SO_LINGER {1, 0} so no TIME-WAIT is left behind.
Run it inside a private network namespace (bench/run.py does).
"""

import argparse
import ctypes
import os
import resource
import select
import signal
import socket
import struct
import sys
import tempfile
import time

PR_SET_PDEATHSIG = 1
LINGER_RESET = struct.pack("ii", 1, 0)


def die_with_parent():
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def raise_fd_limit(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, wanted)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def hold(deadline, ready_fd):
    os.write(ready_fd, b"1")
    os.close(ready_fd)
    while time.time() < deadline:
        time.sleep(0.5)
    os._exit(0)


def shard(port, count, deadline, ready_fd):
    """One process pair's worth: a listener and `count` connections to it.

    Both ends live in this one process so the fds per process stay below
    RLIMIT_NOFILE while the socket count per shard is 2 * count.
    """
    die_with_parent()
    raise_fd_limit(2 * count + 64)
    servers = []
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        server = socket.socket(family, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        server.listen(4096)
        server.setblocking(False)
        servers.append(server)
    kept = []
    pending = 0
    for index in range(count):
        v6 = index % 4 == 0
        client = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        client.connect(("::1" if v6 else "127.0.0.1", port))
        kept.append(client)
        pending += 1
        if pending >= 512:
            pending = drain(servers, kept, pending)
    while pending:
        pending = drain(servers, kept, pending, wait=True)
    hold(deadline, ready_fd)


def drain(servers, kept, pending, wait=False):
    readable, _, _ = select.select(servers, [], [], 1.0 if wait else 0)
    for server in readable:
        while True:
            try:
                connection, _ = server.accept()
            except BlockingIOError:
                break
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            kept.append(connection)
            pending -= 1
    return pending


def listeners(base_port, count, deadline, ready_fd):
    die_with_parent()
    kept = []
    for index in range(count):
        family, address = (socket.AF_INET6, "::1") if index % 2 else (socket.AF_INET, "127.0.0.1")
        server = socket.socket(family, socket.SOCK_STREAM)
        server.bind((address, base_port + index))
        server.listen(16)
        kept.append(server)
    hold(deadline, ready_fd)


def farm(count, deadline, ready_fd):
    die_with_parent()
    raise_fd_limit(count + 64)
    handle, path = tempfile.mkstemp(prefix="porthole-farm-")
    os.close(handle)
    kept = [os.open(path, os.O_RDONLY) for _ in range(count)]
    os.unlink(path)
    hold(deadline, ready_fd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--per-shard", type=int, default=5000)
    parser.add_argument("--listeners", type=int, default=80)
    parser.add_argument("--farm-processes", type=int, default=0)
    parser.add_argument("--farm-fds", type=int, default=200)
    parser.add_argument("--base-port", type=int, default=10000)
    parser.add_argument("--ttl", type=float, default=900.0, help="hard deadline in seconds")
    args = parser.parse_args()
    deadline = time.time() + args.ttl
    children = []

    def start(target, *target_args):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                target(*target_args, deadline, write_end)
            finally:
                os._exit(1)
        os.close(write_end)
        children.append((pid, read_end))

    remaining = args.connections
    port = args.base_port
    while remaining > 0:
        count = min(args.per_shard, remaining)
        start(shard, port, count)
        remaining -= count
        port += 1
    start(listeners, port + 1, args.listeners)
    for _ in range(args.farm_processes):
        start(farm, args.farm_fds)
    for pid, read_end in children:
        if os.read(read_end, 1) != b"1":
            sys.exit(f"loadgen: child {pid} failed to start")
        os.close(read_end)
    print("ready", flush=True)
    try:
        while time.time() < deadline:
            readable, _, _ = select.select([sys.stdin], [], [], 1.0)
            if readable and not sys.stdin.read(1):
                break
    finally:
        for pid, _ in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid, _ in children:
            os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
