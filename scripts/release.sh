#!/usr/bin/env bash
# The release path in one command: release checks, the whole test suite
# (scripts/test.sh, which installs what it needs), the dist binary, the
# Debian package, a binary tarball, the crate (`cargo publish --dry-run`),
# SHA-256 sums of all of them, and what to upload where.
#
# Usage: scripts/release.sh [--snapshot [--skip-tests]]
#   --snapshot    try the path on the current tree: no clean-tree or CHANGELOG
#                 checks; artifacts go to target/release-artifacts/snapshot/
#   --skip-tests  with --snapshot only: skip scripts/test.sh
#
# Needs a Rust toolchain (https://rustup.rs), git, and a Debian or Ubuntu
# machine with apt-get for the rest (run as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "release: $*" >&2
    exit 2
}

snapshot=false
skip_tests=false
for argument in "$@"; do
    case "$argument" in
    --snapshot) snapshot=true ;;
    --skip-tests) skip_tests=true ;;
    *) fail "unknown argument '$argument' (usage: scripts/release.sh [--snapshot [--skip-tests]])" ;;
    esac
done
if $skip_tests && ! $snapshot; then
    fail "--skip-tests only with --snapshot: a release runs the tests"
fi

for tool in cargo rustc git dpkg sha256sum tar gzip python3; do
    command -v "$tool" >/dev/null || fail "$tool is missing"
done

metadata=$(cargo metadata --no-deps --format-version 1 --locked)
field() {
    python3 -c 'import json, sys; print(json.load(sys.stdin)["packages"][0][sys.argv[1]] or "")' "$1" <<<"$metadata"
}
version=$(field version)
# The Cargo package (porthole-cli); the binary and the Debian package are porthole.
crate_name=$(field name)
repository=$(field repository)
host=$(rustc -vV | sed -n 's/^host: //p')

if ! $snapshot; then
    [ -z "$(git status --porcelain)" ] || fail "uncommitted changes: commit or stash them first"
    grep -Eq "^## \[$version\] - [0-9]{4}-[0-9]{2}-[0-9]{2}\$" CHANGELOG.md ||
        fail "CHANGELOG.md has no '## [$version] - YYYY-MM-DD' heading: move the [Unreleased] entries under it"
    # crates.io shows it as the crate's source; there is no public repository
    # to name yet, and a release must not invent one.
    [ -n "$repository" ] ||
        fail "Cargo.toml has no 'repository': set it to the public repository before publishing"
    if git rev-parse -q --verify "refs/tags/v$version" >/dev/null &&
        [ "$(git rev-parse "v$version^{commit}")" != "$(git rev-parse HEAD)" ]; then
        fail "tag v$version exists and is not HEAD: raise the version in Cargo.toml"
    fi
fi

if ! $skip_tests; then
    echo "== release: tests"
    ./scripts/test.sh
fi

echo "== release: dist binary and Debian package"
deb=$(./scripts/deb.sh | tail -n 1)
binary=target/dist/porthole

echo "== release: crate (cargo package, cargo publish --dry-run)"
dirty=()
if $snapshot; then dirty=(--allow-dirty); fi
# `cargo package` builds the crate from its tarball (what crates.io users
# get) and keeps the .crate; the dry run then checks it against the registry
# without building it again.
cargo package --locked "${dirty[@]}"
crate="target/package/$crate_name-$version.crate"
[ -f "$crate" ] || fail "cargo package did not write $crate"
publish_log=$(mktemp)
trap 'rm -f "$publish_log"' EXIT
cargo publish --dry-run --locked --no-verify "${dirty[@]}" 2>&1 | tee "$publish_log"
# The dry run only warns when the registry already has this name and
# version; the real upload would then be refused.
crate_taken=false
if grep -q "already exists on crates.io index" "$publish_log"; then
    crate_taken=true
fi

if $snapshot; then out=target/release-artifacts/snapshot; else out="target/release-artifacts/$version"; fi
rm -rf "$out"
mkdir -p "$out"

# The binary tarball: what the .deb installs, for other distributions.
name="porthole-$version-$host"
staging="target/release-artifacts/staging/$name"
rm -rf "target/release-artifacts/staging"
mkdir -p "$staging/completions" "$staging/systemd"
cp "$binary" README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE "$staging/"
cp target/deb-assets/porthole.1.gz "$staging/"
cp target/deb-assets/porthole.bash target/deb-assets/_porthole target/deb-assets/porthole.fish \
    "$staging/completions/"
cp dist/systemd/porthole-monitor.service "$staging/systemd/"
# Same input, same bytes: fixed order, owner and time (the commit's).
mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
    -C target/release-artifacts/staging -cf - "$name" | gzip -9n >"$out/$name.tar.gz"
rm -rf "target/release-artifacts/staging"

cp "$deb" "$crate" "$out/"
(cd "$out" && sha256sum -- * >SHA256SUMS)

glibc=$(objdump -T "$binary" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1 || true)
echo
"$binary" --version
echo "needs ${glibc:-glibc (install binutils to measure the version)}; built for $host"
echo
echo "Artifacts in $out:"
(cd "$out" && ls -l --time-style=+ -- * | awk '{ printf "  %-48s %10d bytes\n", $NF, $5 }')
echo
echo "SHA-256:"
sed 's/^/  /' "$out/SHA256SUMS"
echo
if $snapshot; then
    echo "Snapshot only: nothing here is for upload."
    if [ -z "$repository" ]; then
        echo "A release needs 'repository' in Cargo.toml (the public repository); it is not set."
    fi
else
    cat <<EOF
To publish porthole $version:
  1. git tag -a v$version -m "porthole $version" && git push origin v$version
  2. Create the release v$version on the repository's release page and upload:
       $out/$(basename "$deb")
       $out/$name.tar.gz
       $out/SHA256SUMS
     with the CHANGELOG.md section for $version as its notes.
  3. cargo publish --locked   (uploads $crate_name, the same crate as $out/$(basename "$crate"))
EOF
fi
if $crate_taken; then
    echo
    echo "Warning: crates.io already has a crate $crate_name $version (the name may belong to another"
    echo "project): cargo publish will be refused until the name or the version changes."
fi
