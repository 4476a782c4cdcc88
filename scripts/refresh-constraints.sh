#!/usr/bin/env bash
# Rewrites constraints.txt, the exact versions `make setup` / `make run` / `make test` install, with the
# newest versions pyproject.toml's ranges allow today: resolved from nothing in a scratch venv (never
# .venv), so what a fresh machine would get is what gets pinned. Review the diff, run `make test`,
# commit constraints.txt alone. PYTHON=python3.X picks the interpreter (CI's is python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
"$PYTHON" -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
# A copy of the sources: building in place would leave build/ and egg-info behind in the work tree.
mkdir "$scratch/src"
cp -r pyproject.toml README.md src "$scratch/src/"
"$scratch/venv/bin/pip" install --quiet --disable-pip-version-check "$scratch/src[test]"
python_version="$("$scratch/venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

{
  echo "# Exact versions for make setup, make run and make test: the Makefile passes this file to pip as -c"
  echo "# and as --build-constraint, so pip itself, the setuptools that builds regauth and every runtime and"
  echo "# test dependency are these, resolved on Python $python_version. A user's \`pip install .\` ignores this file"
  echo "# and takes pyproject.toml's ranges. A package listed here that nothing asks for is not installed."
  echo "# Refresh (newest versions the ranges allow, resolved in a scratch venv; review the diff, run make test):"
  echo "#   scripts/refresh-constraints.sh"
  "$scratch/venv/bin/pip" freeze --all --exclude regauth
} >constraints.txt.new
mv constraints.txt.new constraints.txt
echo "constraints.txt: $(grep -c '==' constraints.txt) pins (git diff constraints.txt)" >&2
