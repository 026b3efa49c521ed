#!/usr/bin/env bash
# Runs every check CI runs: installs what the tests need when it is missing,
# then formatting, lints, and the whole test suite (including the tests that
# create network namespaces and talk to real servers).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --all-targets --all-features -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items --quiet
echo "== cargo test"
# Tests that cannot run here (not root, a program missing) record why in this
# log; under CI every such skip fails its test instead (tests/it/util.rs).
PORTHOLE_SKIP_LOG="$(mktemp)"
export PORTHOLE_SKIP_LOG
trap 'rm -f "$PORTHOLE_SKIP_LOG"' EXIT
cargo test --all-features -- --test-threads="${PORTHOLE_TEST_THREADS:-4}"
echo "== Debian package: build (dist profile), dpkg -i, check, dpkg -r"
# Ignored in the run above: it builds the LTO profile and installs into this
# machine (tests/it/package.rs).
cargo test --all-features --test it package:: -- --ignored
echo "== recorder tests that run alone: a stepped wall clock (felt machine-wide), a simultaneous open, a --netns all recorder"
cargo test --all-features --test it monitor_capture:: -- --ignored --test-threads=1
if [ -s "$PORTHOLE_SKIP_LOG" ]; then
    echo "== skipped: $(wc -l <"$PORTHOLE_SKIP_LOG") tests could not run here"
    sed 's/^/   /' "$PORTHOLE_SKIP_LOG"
fi
echo "== kill tests as a background job (SIGINT and SIGQUIT inherited as ignored)"
# What `./scripts/test.sh &`, nohup and some CI runners do to every child:
# the servers the tests start must still get the signals the tests send.
(trap '' INT QUIT && exec cargo test --all-features --test it kill:: --quiet) &
wait "$!"
echo "== Toxiproxy client conformance"
./scripts/conformance-toxiproxy.sh
