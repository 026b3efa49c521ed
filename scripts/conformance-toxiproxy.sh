#!/usr/bin/env bash
# Conformance with Toxiproxy clients written elsewhere, run unmodified against
# `porthole proxy serve` on 127.0.0.1:8474 (the address they hard-code):
#   1. the 11 integration tests shipped in the crates.io crate toxiproxy_rust 0.1.6;
#   2. tests/conformance/toxiproxy_python.py, which drives the PyPI client
#      toxiproxy-python through create, populate, toxics, enable/disable, reset.
#
# Usage: scripts/conformance-toxiproxy.sh [PATH_TO_PORTHOLE_BINARY]
# Without an argument it uses $PORTHOLE_BIN, else target/{debug,release}/porthole
# (under $CARGO_TARGET_DIR when set), building it if needed.
# Downloads go to a temporary directory; the client crate's build is cached in
# $CONFORMANCE_TARGET_DIR (default: <target>/conformance) to keep reruns fast.
# Exits non-zero when any client test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
api=127.0.0.1:8474

binary="${1:-${PORTHOLE_BIN:-}}"
if [ -z "$binary" ]; then
    for candidate in "$target/debug/porthole" "$target/release/porthole"; do
        if [ -x "$candidate" ]; then binary=$candidate; break; fi
    done
fi
if [ -z "$binary" ]; then
    cargo build --bin porthole
    binary="$target/debug/porthole"
fi
binary=$(realpath "$binary")

# native-tls (used by reqwest in the client crate) links OpenSSL.
if ! pkg-config --exists openssl 2>/dev/null; then
    echo "conformance: installing libssl-dev and pkg-config"
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config >/dev/null
fi

work=$(mktemp -d)
server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT

# Each suite gets a fresh server: they assume they are alone on it.
start_server() {
    if (exec 3<>"/dev/tcp/${api%:*}/${api#*:}") 2>/dev/null; then
        echo "conformance: $api is already in use; stop whatever listens there" >&2
        exit 2
    fi
    "$binary" proxy serve --listen "$api" 2>>"$work/server.log" &
    server_pid=$!
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/${api%:*}/${api#*:}") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "conformance: porthole proxy serve did not start" >&2
    cat "$work/server.log" >&2
    exit 2
}

status=0

echo "== toxiproxy_rust 0.1.6 (crates.io) against porthole proxy serve"
crate="$work/toxiproxy_rust.crate"
curl -fsSL --retry 3 -o "$crate" \
    https://static.crates.io/crates/toxiproxy_rust/toxiproxy_rust-0.1.6.crate ||
    curl -fsSL --retry 3 -o "$crate" \
        https://crates.io/api/v1/crates/toxiproxy_rust/0.1.6/download
tar -xzf "$crate" -C "$work"
# The crate ships no lock file: pin its dependencies to versions known to build
# (the crate's own code and tests stay as published).
cp "$root/tests/conformance/toxiproxy_rust-0.1.6.Cargo.lock" "$work/toxiproxy_rust-0.1.6/Cargo.lock"
start_server
# The tests share one proxy named "socket" and one test counts every proxy on
# the server, so they must run one at a time. They bind localhost:2000
# themselves (the upstream) and the proxy listens on localhost:2001.
if ! (cd "$work/toxiproxy_rust-0.1.6" &&
    CARGO_TARGET_DIR="${CONFORMANCE_TARGET_DIR:-$target/conformance}" \
        cargo test --quiet --test toxiproxy_rust -- --test-threads=1); then
    status=1
fi
stop_server

echo "== toxiproxy-python (PyPI) against porthole proxy serve"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check toxiproxy-python==0.1.1 requests future
start_server
if ! "$work/venv/bin/python" "$root/tests/conformance/toxiproxy_python.py" -v; then
    status=1
fi
stop_server

if [ "$status" -ne 0 ]; then
    echo "conformance: FAILED (server log follows)" >&2
    cat "$work/server.log" >&2
fi
exit "$status"
