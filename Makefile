# Freeway — the verbs. `make run` and `make test` are the two set-up commands.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

.PHONY: chromium install gen gen-check native native-tuned native-aarch64 run demo test test-unit \
        test-integration test-e2e lint bench bench-gateway bench-kernel bench-catalog \
        bench-analytics bench-router bench-quality bench-quota bench-usage bench-keys bench-metrics bench-ws chaos clean

install: $(STAMP)  ## venv, deps, generated gRPC code, compiled kernel, `freeway` CLI

$(STAMP): pyproject.toml native/_kernel_c.pyx
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet "grpcio-tools==1.85.1" "mypy-protobuf==5.1.0" "cython>=3.0" "numpy>=1.24"
	$(PY) -m pip install --quiet --no-build-isolation -e '.[dev]'
	touch $(STAMP)

gen: $(STAMP)  ## regenerate gRPC code + .pyi stubs from protos/ into gen/
	$(PY) scripts/gen_protos.py

gen-check: $(STAMP)  ## fail if protos/ and gen/ disagree (generated code is never edited by hand)
	$(PY) scripts/gen_protos.py --check

native: $(STAMP)  ## rebuild the Cython kernel in place (portable flags)
	$(PY) scripts/build_native.py

native-tuned: $(STAMP)  ## rebuild the kernel tuned for the host (or FREEWAY_CPU, e.g. neoverse-n1)
	$(PY) scripts/build_native.py --tuned

native-aarch64: $(STAMP)  ## cross-compile the kernel for aarch64 and run its vectors under qemu-user
	bash scripts/native_aarch64.sh

run: $(STAMP)  ## start the whole suite locally behind Envoy (Ctrl-C stops it); TLS=1 for HTTPS
	$(BIN)/freeway run $(if $(TLS),--tls)

demo: $(STAMP)  ## the suite against the provider simulator: a routed completion with no API key
	$(BIN)/freeway demo $(if $(TLS),--tls)

chromium:  ## Debian's chromium for the dashboard's browser tests: installed when missing (as root)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || echo "no chromium: the dashboard's browser tests skip (fail under CI=true); apt-get install -y chromium"

test: $(STAMP) chromium  ## every tier: unit, native, integration, e2e
	$(PY) scripts/gen_protos.py --check
	$(PY) -m pytest -q

test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit tests/native

test-integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

test-e2e: $(STAMP) chromium
	$(PY) -m pytest -q tests/e2e

lint: $(STAMP)  ## ruff + mypy (strict, generated code excluded); promtool for the metric tests
	command -v promtool >/dev/null || apt-get install -y prometheus || echo "promtool missing: apt-get install -y prometheus"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy services native scorer tests bench scripts

bench: bench-kernel bench-quality bench-quota bench-catalog bench-analytics bench-router bench-usage bench-keys bench-metrics bench-ws bench-gateway  ## every benchmark; tables + bench/results/*.json

bench-kernel: $(STAMP)  ## µs per routing decision, and the speed-up over the Python twin
	$(PY) -m bench.kernel

bench-quality: $(STAMP)  ## routing quality RouteLLM's way (APGR, CPT) on held-out labelled prompts
	$(PY) -m scorer.cli eval --cv --ood

bench-quota: $(STAMP)  ## requests a day's free quota serves well, sparing scarce quota or not
	$(PY) -m bench.quota

bench-catalog: $(STAMP)
	$(PY) -m bench.catalog

bench-gateway: $(STAMP)
	$(PY) -m bench.gateway

bench-analytics: $(STAMP)  ## usage events/s durably stored in PostgreSQL through Ingest
	$(PY) -m bench.analytics

clean:
	rm -rf $(VENV) gen build *.egg-info native/*.c native/*.so var .pytest_cache .mypy_cache

bench-router: $(STAMP)  ## Route RPS and p50/p99 over gRPC against a bare grpc.aio echo server
	$(PY) -m bench.router

bench-usage: $(STAMP)  ## µs per usage event written to the spool before the answer leaves
	$(PY) -m bench.usage

chaos: $(STAMP)  ## kill / restart / failover probes on loopback (~3 min): success rate, 5xx, added latency, events lost / duplicated
	$(PY) -m bench.chaos
	$(PY) -m bench.failover

bench-keys: $(STAMP)  ## µs per request of auth + limits + budgets, embedded and Redis, vs the edge without
	$(PY) -m bench.keys

bench-metrics: $(STAMP)  ## ns per counter/histogram update; µs the metrics add per request (router, edge)
	$(PY) -m bench.metrics
bench-ws: $(STAMP)  ## one catalogue change to 1,000 WebSocket subscribers: p50/p95/p99 delivery vs the 100 ms bar
	$(PY) -m bench.ws_fanout
