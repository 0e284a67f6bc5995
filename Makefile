# One command per job. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8080
REDIS_PORT ?= 6379

.PHONY: help bootstrap test lint unit run clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

bootstrap:  ## install what the other targets need (idempotent)
	@infra/bootstrap.sh

lint: bootstrap  ## ruff over the service and the tests
	$(PY) -m ruff check service tests

unit: bootstrap  ## unit tests: service against a real redis-server and the simulators
	$(PY) -m pytest tests/unit

test: lint unit  ## everything CI runs

run: bootstrap  ## run lucia locally on :$(PORT) with a local redis-server on :$(REDIS_PORT)
	@redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 || \
	  (echo "==> starting redis-server on 127.0.0.1:$(REDIS_PORT)"; \
	   redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --daemonize yes --save '' >/dev/null)
	REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0 LUCIA_PORT=$(PORT) $(PY) -m lucia

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache reports
