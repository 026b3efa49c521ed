#!/bin/sh
# Benchmark of the alert rules of `porthole monitor`: time per recorded
# event and per alert on the recording thread (release build).
set -eu
cd "$(dirname "$0")/../.."
cargo bench --bench alerts -- "$@"
