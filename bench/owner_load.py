#!/usr/bin/env python3
"""Bounded process shapes that make the owner scan of `porthole ls` work.

Each shape is something a real machine has, and each one exercises a part
of the owner scan that the socket load of bench/loadgen.py does not:

  --threads N               one process with N threads (a JVM, a Go or
                            Python server with a thread pool): the scan looks
                            for threads with a descriptor table of their own
  --pool P --pool-threads T P processes with T threads each (a fleet of
                            worker processes)
  --mappings M              one process with M separate memory mappings
                            (a JVM-like heap of many small regions): read
                            when the scan looks for sockets held only by a
                            mapping
  --listeners L             L TCP listeners on 127.0.0.1 held by the main
                            process (so that `ls` has owners to find)
  --time-wait               one TIME-WAIT socket (no file, no owner by
                            nature)
  --in-flight               one listener whose only descriptor is in flight
                            in a Unix-socket message nobody received: a
                            socket with a file that no process holds, so the
                            scan looks for it everywhere, mappings included

Prints "ready" once everything is set up, then holds it until stdin closes
or --ttl expires. Every process dies with its parent (PR_SET_PDEATHSIG) and
has a hard deadline. Run it inside the namespace being listed (bench/run.py
does, with --owners).
"""

import argparse
import array
import ctypes
import mmap
import os
import select
import signal
import socket
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
LIBC = ctypes.CDLL("libc.so.6", use_errno=True)


def die_with_parent():
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def sleeper(deadline):
    while time.time() < deadline:
        time.sleep(1.0)


def start_threads(count, deadline):
    # Small stacks: 2,000 threads at the default 8 MiB reserve 16 GiB of
    # address space; the scan does not care about the size.
    threading.stack_size(64 * 1024)
    for _ in range(count):
        threading.Thread(target=sleeper, args=(deadline,), daemon=True).start()


def threaded(count, deadline, ready_fd):
    die_with_parent()
    start_threads(count - 1, deadline)
    os.write(ready_fd, b"1")
    os.close(ready_fd)
    sleeper(deadline)
    os._exit(0)


def mapped(count, deadline, ready_fd):
    die_with_parent()
    # Private anonymous memory, as a JVM's heap and thread stacks are
    # (Python's default, MAP_SHARED, would make each one a shmem file).
    # Alternating protections keep neighbouring regions from being merged
    # into one mapping, as guard pages do.
    kept = []
    for index in range(count):
        protection = mmap.PROT_READ if index % 2 else mmap.PROT_READ | mmap.PROT_WRITE
        kept.append(mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE, prot=protection))
    lines = sum(1 for _ in open(f"/proc/{os.getpid()}/maps"))
    if lines < count:
        sys.exit(f"owner_load: only {lines} mappings (vm.max_map_count?)")
    os.write(ready_fd, b"1")
    os.close(ready_fd)
    sleeper(deadline)
    os._exit(0)


def time_wait():
    """Leaves one TIME-WAIT socket: the side that closes first keeps it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    client.close()
    accepted.close()
    server.close()


def in_flight():
    """A listener whose only descriptor sits in an unreceived message."""
    sender, receiver = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    rights = array.array("i", [listener.fileno()])
    sender.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, rights)])
    listener.close()
    return sender, receiver


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--pool", type=int, default=0)
    parser.add_argument("--pool-threads", type=int, default=20)
    parser.add_argument("--mappings", type=int, default=0)
    parser.add_argument("--listeners", type=int, default=4)
    parser.add_argument("--time-wait", action="store_true")
    parser.add_argument("--in-flight", action="store_true")
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

    if args.threads:
        start(threaded, args.threads)
    for _ in range(args.pool):
        start(threaded, args.pool_threads)
    if args.mappings:
        start(mapped, args.mappings)
    held = []
    for _ in range(args.listeners):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        held.append(listener)
    kept = in_flight() if args.in_flight else None
    if args.time_wait:
        time_wait()
    try:
        for pid, read_end in children:
            if os.read(read_end, 1) != b"1":
                sys.exit(f"owner_load: child {pid} failed to start")
            os.close(read_end)
        print("ready", flush=True)
        while time.time() < deadline:
            readable, _, _ = select.select([sys.stdin], [], [], 1.0)
            if readable and not sys.stdin.read(1):
                break
    finally:
        del kept, held
        for pid, _ in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid, _ in children:
            os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
