#!/usr/bin/env bash
# Installs the system packages the tests need, when they are missing, with
# apt-get (as root, or through sudo). Safe to run again: it only installs
# what is absent.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "setup: need root or sudo to install: $*" >&2
        return 1
    fi
}

# command → Debian package that provides it
declare -A needed=(
    [ss]=iproute2
    [ip]=iproute2
    [nft]=nftables
    [iptables-save]=iptables
    [iptables-legacy]=iptables
    [setpriv]=util-linux
    [fuser]=psmisc
    [netstat]=net-tools
    [lsof]=lsof
    [openssl]=openssl
    [python3]=python3
    [sysctl]=procps
    [unshare]=util-linux
    [redis-server]=redis-server
    [memcached]=memcached
    [nginx]=nginx-light
    [mariadbd]=mariadb-server
    [mariadb-install-db]=mariadb-server
    [node]=nodejs
    [gcc]=gcc
    [tmux]=tmux
)
missing=()
for command in "${!needed[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${needed[$command]}")
done
# PostgreSQL's server binaries live under /usr/lib/postgresql/VERSION/bin,
# which is not on PATH.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "setup: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
