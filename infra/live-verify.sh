#!/usr/bin/env bash
# live-verify.sh STACK SIM_STACK: `make verify STACK` (the live profile: no simulators of
# its own), with SIM_STACK's LLM simulator (already up) as its external LLM: connected to
# STACK's network as `llm` for the run, disconnected after, whatever the result.
set -uo pipefail
cd "$(dirname "$0")/.."
stack=$1; sims=$2
llm="lucia-$sims-sim-llm"
docker network connect --alias llm "lucia-$stack-net" "$llm" ||
  { echo "live-verify: cannot connect $llm to lucia-$stack-net (is $sims up?)" >&2; exit 1; }
make --no-print-directory verify STACK="$stack"
status=$?
docker network disconnect "lucia-$stack-net" "$llm"
exit $status
