#!/usr/bin/env bash
# sphere's test suite, the README's test command: installs what the tests need and is
# missing, starts the real protocol peers on loopback, runs `cargo test --locked`, and
# stops the peers on every exit path. `.ci/run` calls it.
#
#   scripts/test.sh                      # the whole suite
#   scripts/test.sh --test it kube_provider::   # extra arguments go to `cargo test --locked`
#
# What it installs when missing:
#   - tmux and procps (the smoke and end-to-end tests drive the real binary in tmux),
#     with apt-get, only as root; otherwise it says what to install and stops;
#   - moto's AWS server and the Kubernetes emulator kmock (behind tests/peers/kube_peer.py),
#     from tests/peers/requirements.txt into .ci/venv (PyPI);
#   - the Kafka-compatible broker tansu, with `cargo install` (crates.io; ~15-20 min
#     the first time, so only when it is not on the PATH yet).
# A peer whose variable is already set (SPHERE_TEST_MOTO_URL, SPHERE_TEST_KUBE_URL,
# SPHERE_TEST_KAFKA) is used as it is, not started.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n=== %s\n' "$*"; }
# Output lines cut at 600 characters: a failed link prints the whole linker command
# line (tens of kilobytes) before the reason, which would push the reason out of view.
clip() { cut -c1-600; }

apt_install() {
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: the tests need $* installed (not root, or no apt-get: install it yourself)" >&2
        exit 1
    fi
    log "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$@" >/dev/null
}

need_apt=()
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
command -v pkill >/dev/null 2>&1 || need_apt+=(procps)
if [ ${#need_apt[@]} -gt 0 ]; then
    apt_install "${need_apt[@]}"
fi

# The shared fixtures sit beside the repository (../shared); the catalog tests need them.
if [ ! -d ../shared/fixtures/backstage ]; then
    echo "test.sh: ../shared/fixtures/backstage is missing (the catalog tests read it)" >&2
    exit 1
fi

venv=.ci/venv
if ! "$venv/bin/python3" -c 'import moto, kmock' >/dev/null 2>&1; then
    log "installing the test peers into $venv (moto, kmock)"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian's own python3 keeps venv in a separate package.
        apt_install python3-venv
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check -r tests/peers/requirements.txt
fi
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tansu >/dev/null 2>&1; then
    log "installing tansu (Kafka-compatible broker for the tests)"
    cargo install tansu --locked --features dynostore
fi

peer_pids=()
stop_peers() {
    # TERM, a few seconds to go, then KILL: a peer still draining an open watch must
    # not hold the run up. Only the peers this script started.
    [ ${#peer_pids[@]} -gt 0 ] || return 0
    for pid in "${peer_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
        local alive=0
        for pid in "${peer_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${peer_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop_peers EXIT
free_port() { "$venv/bin/python3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port name
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "test.sh: $2 did not listen on 127.0.0.1:$1 (its log: target/peers/)" >&2
    return 1
}
mkdir -p target/peers
if [ -z "${SPHERE_TEST_MOTO_URL:-}" ]; then
    port=$(free_port)
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >target/peers/moto.log 2>&1 &
    peer_pids+=($!)
    wait_port "$port" moto_server
    export SPHERE_TEST_MOTO_URL="http://127.0.0.1:$port"
fi
if [ -z "${SPHERE_TEST_KUBE_URL:-}" ]; then
    port=$(free_port)
    "$venv/bin/python3" tests/peers/kube_peer.py --port "$port" >target/peers/kube.log 2>&1 &
    peer_pids+=($!)
    wait_port "$port" "the Kubernetes emulator"
    export SPHERE_TEST_KUBE_URL="http://127.0.0.1:$port"
fi
if [ -z "${SPHERE_TEST_KAFKA:-}" ]; then
    port=$(free_port)
    tansu broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ >target/peers/tansu.log 2>&1 &
    peer_pids+=($!)
    wait_port "$port" tansu
    export SPHERE_TEST_KAFKA="127.0.0.1:$port"
fi
log "peers: moto $SPHERE_TEST_MOTO_URL, kube $SPHERE_TEST_KUBE_URL, kafka $SPHERE_TEST_KAFKA"

log "cargo test --locked $*"
out=$(mktemp)
set +e
cargo test --locked "$@" 2>&1 | clip | tee "$out"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ {
    for (i = 1; i <= NF; i++) {
        if ($i ~ /^passed/) p += $(i - 1)
        if ($i ~ /^failed/) f += $(i - 1)
    }
} END { printf "%d passed, %d failed\n", p, f }' "$out"
rm -f "$out"
exit "$status"
