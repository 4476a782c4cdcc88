# regauth: two commands on a fresh machine.
#   make run    - set up and start the server on an embedded SQLite store in the data dir (.regauth/)
#   make test   - set up (Python and Debian packages) and run every test
#   make setup  - only the venv (.venv): pip, regauth and its runtime and test dependencies at the versions of
#                 constraints.txt (scripts/refresh-constraints.sh moves them); a Debian python3 without ensurepip
#                 gets python3.X-venv first (as root or through sudo)
#   make clean  - removes the venv and pytest's cache; keeps the data dir
#   make destroy-data-and-master-key - deletes the data dir: the store and its master.key, so every account,
#                 access key, signing key and audit record, for good. Nothing else removes it.
# HOST, PORT and DATA are read from the command line only (make run PORT=9000), never from the environment:
# a HOST or PORT a shell exports for something else (a PaaS, a devcontainer) does not move or expose the server.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIN    := constraints.txt
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check -c $(PIN)
HOST   := 127.0.0.1
PORT   := 8080
DATA   := .regauth

.PHONY: setup system-deps run test bench bench-instructions clean destroy-data-and-master-key

NODE_STAMP := tests/node/node_modules/.installed

$(STAMP): pyproject.toml $(PIN)
	./scripts/system-deps.sh --venv $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) --build-constraint $(PIN) -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --silent
	touch $(NODE_STAMP)

setup: $(STAMP)

system-deps:
	./scripts/system-deps.sh

run: $(STAMP)
	$(BIN)/regauth serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

# one worker per core, a test file's tests on one worker (module fixtures are started once);
# make test PYTEST_ARGS='-p no:xdist tests/wire' runs serially, or any pytest arguments
PYTEST_ARGS ?= -n auto --dist loadfile
test: $(STAMP) system-deps $(NODE_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP) system-deps
	bash bench/setup.sh
	$(BIN)/python bench/run.py --readme $(BENCH_ARGS)

# the request path's instructions per request, counted by callgrind (~2 min; BENCH_ARGS=--against HEAD compares)
bench-instructions: $(STAMP)
	bash bench/setup.sh --debian-only
	$(BIN)/python bench/instructions.py $(BENCH_ARGS)

# The data dir is no cache: its regauth.db and master.key are every account, key and audit record
# (the only copy, unless backed up). clean leaves it; deleting it takes a target no one types by accident.
clean:
	rm -rf $(VENV) .pytest_cache
	@if [ -d $(DATA) ]; then echo "kept $(DATA)/ (make destroy-data-and-master-key deletes it)"; fi

destroy-data-and-master-key:
	@test -n "$(strip $(DATA))" || { echo "DATA is empty: name the data dir to delete" >&2; exit 2; }
	@echo "deleting $(DATA)/: the store and its master.key (every account, access key, signing key, audit record)"
	rm -rf -- "$(DATA)"
