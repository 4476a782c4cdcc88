#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real. Idempotent; needs root (or sudo) when
# something is missing. Nothing is fetched from anywhere but the Debian archive.
set -euo pipefail

need=()
dpkg -s awscli >/dev/null 2>&1 || need+=(awscli)                       # AWS CLI v2 (Debian build)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)  # PostgreSQL server for store tests
command -v npm >/dev/null 2>&1 || need+=(npm)                             # installs @alicloud/pop-core for the tests
command -v faketime >/dev/null 2>&1 || need+=(faketime)                   # shifted clocks: stale dates, expired sessions
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)     # distribution 2.8: our /token realm's consumer
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)                       # container client: push/pull against it
PATH="$PATH:/usr/sbin:/sbin" command -v nginx >/dev/null 2>&1 || need+=(nginx)  # auth_request front for pypiserver

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "system-deps: installing ${need[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "system-deps: missing Debian packages (${need[*]}) and not root; install them and re-run" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
