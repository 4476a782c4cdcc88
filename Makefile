# regauth: two commands on a fresh machine.
#   make run   - set up and start the server on an embedded SQLite store
#   make test  - set up (Python and Debian packages) and run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8080
DATA   ?= .regauth

.PHONY: setup system-deps run test bench bench-instructions clean

NODE_STAMP := tests/node/node_modules/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --silent
	touch $(NODE_STAMP)

setup: $(STAMP)

system-deps:
	./scripts/system-deps.sh

run: $(STAMP)
	$(BIN)/regauth serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

test: $(STAMP) system-deps $(NODE_STAMP)
	$(BIN)/pytest

bench: $(STAMP) system-deps
	bash bench/setup.sh
	$(BIN)/python bench/run.py --readme $(BENCH_ARGS)

# the request path's instructions per request, counted by callgrind (~2 min; BENCH_ARGS=--against HEAD compares)
bench-instructions: $(STAMP)
	bash bench/setup.sh --debian-only
	$(BIN)/python bench/instructions.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .regauth .pytest_cache
