#!/usr/bin/env bash
# Installs the Debian packages the make targets need. Idempotent; needs root (or sudo) when
# something is missing. Nothing is fetched from anywhere but the Debian archive.
#   scripts/system-deps.sh                what the tests drive for real (make test, make bench)
#   scripts/system-deps.sh --venv PYTHON  what `PYTHON -m venv` needs (every target that makes .venv)
set -euo pipefail

# Installs the packages named, as root or through sudo; anyone else is told what to install.
apt_install() {
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
  elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "system-deps: missing Debian packages ($*) and not root; install them and re-run" >&2
    exit 1
  fi
  echo "system-deps: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ensurepip as venv runs it (an empty directory of that name would import, as a namespace package).
has_ensurepip() {
  "$1" -c 'import ensurepip; ensurepip.version()' >/dev/null 2>&1
}

# Debian ships a Python's ensurepip apart, in python3.X-venv: without it `python3 -m venv` makes a
# venv with no pip and fails. Only that package is installed, and only for a Python of Debian's.
venv_deps() {
  local py="$1" exe pkg
  if ! exe="$("$py" -c 'import sys; print(sys.executable)' 2>/dev/null)"; then
    echo "system-deps: no Python at PYTHON=$py; install python3 (3.11 or newer) or name one: make PYTHON=..." >&2
    exit 1
  fi
  has_ensurepip "$py" && return 0
  pkg="$("$py" -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])')"
  if ! dpkg-query -S "$(realpath "$exe")" >/dev/null 2>&1; then
    echo "system-deps: $exe has no ensurepip (venv needs it) and is not Debian's:" \
      "reinstall it with ensurepip, or name another: make PYTHON=/usr/bin/python3" >&2
    exit 1
  fi
  apt_install "$pkg"
  if ! has_ensurepip "$py"; then
    echo "system-deps: $exe still has no ensurepip after installing $pkg" >&2
    exit 1
  fi
}

if [ "${1:-}" = "--venv" ]; then
  venv_deps "${2:?usage: system-deps.sh --venv PYTHON}"
  exit 0
fi

need=()
dpkg -s awscli >/dev/null 2>&1 || need+=(awscli)                       # AWS CLI v2 (Debian build)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)  # PostgreSQL server for store tests
PATH="$PATH:/usr/sbin:/sbin" command -v pgbouncer >/dev/null 2>&1 || need+=(pgbouncer)  # pooler in front of it
command -v npm >/dev/null 2>&1 || need+=(npm)                             # installs @alicloud/pop-core for the tests
command -v faketime >/dev/null 2>&1 || need+=(faketime)                   # shifted clocks: old dates, expired sessions
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)     # distribution 2.8: our /token realm's user
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)                       # container client: push/pull against it
PATH="$PATH:/usr/sbin:/sbin" command -v nginx >/dev/null 2>&1 || need+=(nginx)  # auth_request front for pypiserver

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
apt_install "${need[@]}"
