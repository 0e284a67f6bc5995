# One command per job. `make up` is the main job; `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEPLOY := $(VENV)/bin/lucia-deploy
STACK ?= dev
PORT ?= 8080
REDIS_PORT ?= 6379

.PHONY: help bootstrap lock up down purge preview prune status outputs images policy verify test lint \
        swarm-smoke swarm-kill swarm-backup \
        checklist unit program fidelity gates live proof load load-llm soak bench footprint backup restore faults docs run \
        clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

bootstrap:  ## install what the other targets need: packages, dockerd, .venv, base images
	@infra/bootstrap.sh

lock: bootstrap  ## re-resolve requirements/*.lock (UPGRADE="pkg ..." to move those packages)
	UPGRADE="$(UPGRADE)" infra/lock.sh

up: bootstrap  ## build and deploy STACK (default dev), wait until healthy, print the URL
	$(DEPLOY) up --stack $(STACK)

down: bootstrap  ## remove STACK's containers and network (the Redis volume is kept)
	$(DEPLOY) down --stack $(STACK)

purge: bootstrap  ## remove STACK including its Redis volume
	$(DEPLOY) down --stack $(STACK) --purge

preview: bootstrap  ## the plan `make up` would apply to STACK, changing nothing
	$(DEPLOY) preview --stack $(STACK)

status: bootstrap  ## STACK's containers and their health
	$(DEPLOY) status --stack $(STACK)

backup: bootstrap  ## snapshot STACK's Redis to FILE (default backups/STACK-TIME.rdb)
	$(DEPLOY) backup --stack $(STACK) $(if $(FILE),--file $(FILE))

restore: bootstrap  ## load FILE into STACK's Redis volume; STACK must be down
	$(DEPLOY) restore --stack $(STACK) --file $(FILE)

prune: bootstrap  ## list STACK's sessions to reclaim (PREFIX=, IDLE=seconds); APPLY=1 deletes
	$(DEPLOY) prune --stack $(STACK) $(if $(PREFIX),--prefix $(PREFIX)) \
	  $(if $(IDLE),--idle-seconds $(IDLE)) $(if $(filter-out 0,$(APPLY)),--apply)

outputs: bootstrap  ## STACK's outputs (what the gates read)
	$(DEPLOY) outputs --stack $(STACK)

images: bootstrap  ## build STACK's images only
	$(DEPLOY) images --stack $(STACK)

policy: bootstrap  ## check STACK's resources against the hardening policies
	$(DEPLOY) policy --stack $(STACK)

verify: bootstrap  ## run the gates against STACK (must be up); reports in reports/STACK/
	@$(DEPLOY) check-up --stack $(STACK)
	$(PY) -m lucia_deploy.verify --stack $(STACK)

# Interactive unless AUTO=1; TESTER="name", RESUME=reports/checklist/<run>, STEP="S5.2 S7.1".
checklist: bootstrap  ## walk the testing checklist against STACK; AUTO=1: runnable steps only
	@$(DEPLOY) check-up --stack $(STACK)
	$(PY) -m lucia_deploy.checklist --stack $(STACK) $(if $(filter 1 yes true,$(AUTO)),--auto) \
	  $(if $(TESTER),--tester "$(TESTER)") $(if $(RESUME),--resume $(RESUME)) \
	  $(foreach id,$(STEP),--step $(id))

lint: bootstrap  ## ruff over the code and the tests; mypy over the production code
	$(PY) -m ruff check service infra sims tests
	$(PY) -m mypy

unit: bootstrap  ## unit tests: service against a real redis-server and the simulators
	$(PY) -m pytest tests/unit

program: bootstrap  ## the Pulumi program under mocks, and the policies, for every stack
	$(PY) -m pytest tests/program tests/checklist

# The ci stack runs with an API key, so the gates prove it is enforced.
gates: bootstrap  ## deploy the ci stack, run the gates against it, tear it down; then swarm
	LUCIA_API_KEY=ci-gate-api-key infra/with-stack.sh ci \
	  $(MAKE) --no-print-directory verify load soak faults live STACK=ci SOAK_SECONDS=120
	$(MAKE) --no-print-directory proof
	$(MAKE) --no-print-directory swarm-smoke

# The swarm stack's smoke: up (a single-node swarm if there is none), every gate through
# the edge, one replica killed under load, a Redis backup/purge/restore, down. It runs after the ci gates, whose CIS 5.1
# checks that no swarm is on unless a stack needs it; and it ends by checking that `down`
# left the swarm it started (when nothing else runs on the engine), so the machine is
# left as it was found.
swarm-smoke: bootstrap  ## the applier's swarm tests; up the swarm stack, verify, kill a replica, backup/restore, down
	@mkdir -p .state && docker info --format '{{.Swarm.LocalNodeState}}' > .state/swarm-before
	$(PY) -m pytest tests/swarm
	LUCIA_API_KEY=swarm-gate-api-key infra/with-stack.sh swarm \
	  $(MAKE) --no-print-directory verify swarm-kill swarm-backup STACK=swarm
	@before=$$(cat .state/swarm-before); after=$$(docker info --format '{{.Swarm.LocalNodeState}}'); \
	  running=$$(docker ps -q); \
	  echo "==> swarm before the smoke: $$before; after: $$after"; \
	  if [ -n "$$running" ]; then echo "==> not checked whether down left the swarm: containers run"; \
	  elif [ "$$before" = inactive ] && [ "$$after" != inactive ]; then \
	    echo "FAILED: down did not leave the swarm it started, with nothing running (CIS 5.1)" >&2; exit 1; fi

swarm-kill: bootstrap
	@$(DEPLOY) check-up --stack $(STACK)
	LUCIA_STACK=$(STACK) $(PY) -m pytest -s tests/faults/test_swarm.py -k killed

swarm-backup: bootstrap
	@$(DEPLOY) check-up --stack $(STACK)
	LUCIA_STACK=$(STACK) $(PY) -m pytest -s tests/faults/test_swarm.py -k backup

# The live profile proven on every change: staging (no simulators of its own) beside STACK,
# its external LLM STACK's simulator, verified as a real home would be (dry-run turns).
live: bootstrap  ## up staging beside STACK (ci, up), verify it in the live profile, down
	LUCIA_CHAT_MODEL='Endpoint=http://llm:8000/v1;AccessKey=sim-key;Model=sim-model;Provider=openai' \
	  infra/with-stack.sh staging infra/live-verify.sh staging $(STACK)

load: bootstrap  ## locust against STACK (must be up): thresholds, reports in reports/load/
	@$(DEPLOY) check-up --stack $(STACK)
	$(PY) -m tests.load.run --stack $(STACK)
	$(if $(filter swarm,$(STACK)),$(PY) -m tests.load.swarm_scale --stack $(STACK) \
	  $(if $(WRITE_DOC),--write-doc))

load-llm: bootstrap  ## LLM-shaped load on STACK: streamed conversations vs Little's bound
	@$(DEPLOY) check-up --stack $(STACK)
	$(PY) -m tests.load.llm_run --stack $(STACK)

soak: bootstrap  ## steady chat load on STACK for SOAK_SECONDS (600): memory flat, no restarts
	@$(DEPLOY) check-up --stack $(STACK)
	$(PY) -m tests.load.soak --stack $(STACK) $(if $(SOAK_SECONDS),--seconds $(SOAK_SECONDS))

footprint: bootstrap  ## measure Redis bytes per turn and session; writes docs/capacity.md tables
	$(PY) -m tests.load.footprint

bench: bootstrap  ## measure STACK beside bare references into reports/bench/; WRITE_DOC=1: docs/performance.md
	$(PY) -m tests.load.bench --stack $(STACK) $(if $(WRITE_DOC),--write-doc)

faults: bootstrap  ## DESTRUCTIVE fault and backup/restore gates against STACK (ci)
	@$(DEPLOY) check-up --stack $(STACK)
	LUCIA_STACK=$(STACK) $(PY) -m pytest -s tests/faults

# The deploy tool against the real engine (its own `fidelity` stack) and the CLI path with
# a recording `pulumi` on PATH: the stand-in held to pulumi-docker (docs/pulumi-fidelity.md).
fidelity: bootstrap  ## the docker-py applier and the CLI path held to Pulumi's behaviour
	$(PY) -m pytest tests/deploy

proof: bootstrap  ## prove the hardening gate fails on a deliberately weakened stack
	$(PY) -m pytest tests/proof

test: lint unit program fidelity gates  ## everything CI runs

docs: bootstrap  ## regenerate docs/configuration.md and docs/pulumi-fidelity.md from the code
	$(PY) -m lucia_deploy.configdoc
	$(PY) -m lucia_deploy.fidelity

run: bootstrap  ## run lucia without containers on :$(PORT), with a local redis-server
	@redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 || \
	  (echo "==> starting redis-server on 127.0.0.1:$(REDIS_PORT)"; \
	   redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --daemonize yes --save '' >/dev/null)
	REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0 LUCIA_PORT=$(PORT) $(PY) -m lucia

clean:  ## remove the virtualenv, caches, build outputs and local stack state
	rm -rf $(VENV) .pytest_cache .ruff_cache reports build
