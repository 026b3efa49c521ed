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
    [script]=bsdutils
    [redis-server]=redis-server
    [memcached]=memcached
    # memcached -S with a sasldb for weak-password (tests/it/audit_passwords.rs).
    [saslpasswd2]=sasl2-bin
    [socat]=socat
    [nginx]=nginx-light
    [mariadbd]=mariadb-server
    [mariadb-install-db]=mariadb-server
    [node]=nodejs
    # debugger-exposed against a real JDWP agent (tests/it/audit.rs).
    [java]=default-jdk-headless
    [gcc]=gcc
    [dpkg-deb]=dpkg
    [dpkg-scanpackages]=dpkg-dev
    [apt-get]=apt
    [psql]=postgresql-client
    [mariadb]=mariadb-client
    # weak-password against RabbitMQ's management API (its own node, epmd
    # and ports per test; see tests/it/audit_passwords.rs).
    [rabbitmq-server]=rabbitmq-server
    # outdated-package the rpm way (tests/it/audit_packages.rs): rpms built
    # with rpmbuild, a private rpm database, a file: repository made with
    # createrepo_c, dnf's cache-only queries.
    [rpm]=rpm
    [rpmbuild]=rpm
    [dnf]=dnf
    [createrepo_c]=createrepo-c
    [modifyrepo_c]=createrepo-c
    # The package test (tests/it/package.rs): build the .deb, read its man
    # page, load its completions in each shell, check its systemd unit.
    [dpkg-shlibdeps]=dpkg-dev
    [man]=man-db
    [zsh]=zsh
    [fish]=fish
    [systemd-analyze]=systemd
    # The monitor's socket-activation test (tests/it/monitor.rs).
    [systemd-socket-activate]=systemd
    # Rebuild check of the committed eBPF object (scripts/build-bpf.sh).
    [clang]=clang
    [llvm-strip]=llvm
    [tmux]=tmux
    # The monitor's simultaneous-open test reads the kernel map of clients
    # between connect() and the handshake (tests/it/monitor_capture.rs).
    [bpftool]=bpftool
    # The dashboard tests (tests/it/dashboard.rs): headless Chromium driven
    # through chromedriver (promtool is installed below).
    [chromium]=chromium
    [chromedriver]=chromium-driver
)
missing=()
for command in "${!needed[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${needed[$command]}")
done
# PostgreSQL's server binaries live under /usr/lib/postgresql/VERSION/bin,
# which is not on PATH.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
# bash-completion is a library, not a command.
[ -f /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion)
[ -e /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
# The monitor's io_uring tests compile a peer against liburing
# (tests/it/monitor_capture.rs).
[ -e /usr/include/liburing.h ] || missing+=(liburing-dev)
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "setup: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# promtool (checks a live /metrics scrape in tests/it/dashboard.rs) ships in
# the prometheus package: installed without its recommends (node exporter),
# and the Prometheus server it brings is not left running, so no test sees
# its listeners.
if ! command -v promtool >/dev/null 2>&1; then
    echo "setup: installing prometheus (for promtool)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        prometheus >/dev/null
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi

# Jupyter Server for the weak-password tests, in its own virtual
# environment (tests/it/audit_passwords.rs looks for it there).
if [ ! -x /opt/porthole-jupyter/bin/jupyter-server ]; then
    echo "setup: installing jupyter_server into /opt/porthole-jupyter"
    as_root python3 -m venv /opt/porthole-jupyter
    as_root /opt/porthole-jupyter/bin/pip install -q jupyter_server
fi

# Vite 5.4.11, the last release before its dev server checked Host and the
# Origin of its HMR WebSocket (GHSA-vg6x-rcgg-rjx6): tests/it/audit.rs runs
# it from /opt/porthole-vite against a temporary root. Bounded: npm gives up
# after two minutes.
if [ ! -f /opt/porthole-vite/node_modules/vite/bin/vite.js ]; then
    echo "setup: installing vite 5.4.11 into /opt/porthole-vite"
    as_root mkdir -p /opt/porthole-vite
    echo '{"name":"porthole-vite","private":true}' | as_root tee /opt/porthole-vite/package.json >/dev/null
    as_root timeout 120 npm install --prefix /opt/porthole-vite --no-audit --no-fund -q \
        vite@5.4.11 >/dev/null
fi

# pymongo (and its bson) for the MongoDB weak-password tests: no MongoDB
# server is packaged for Debian, so tests/it/audit_passwords.rs logs in to
# a SCRAM stand-in and proves it faithful with this real client first.
if [ ! -x /opt/porthole-pymongo/bin/python ] \
    || ! /opt/porthole-pymongo/bin/python -c 'import pymongo, bson' 2>/dev/null; then
    echo "setup: installing pymongo into /opt/porthole-pymongo"
    as_root python3 -m venv /opt/porthole-pymongo
    as_root /opt/porthole-pymongo/bin/pip install -q pymongo
fi
