#!/bin/sh
# Benchmark of the history store: bytes per connection record and the
# 1-minute "who connected" query over 10 million rows, SQLite and
# PostgreSQL (PostgreSQL needs root). Pass --quick for a tenth of the rows,
# `sqlite` or `postgres` for one store only.
set -eu
cd "$(dirname "$0")/../.."
cargo bench --bench history -- "$@"
