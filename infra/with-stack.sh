#!/usr/bin/env bash
# with-stack.sh STACK COMMAND...: bring STACK up, run COMMAND against it, and always take
# the stack down again (volume purged), keeping COMMAND's exit status. Used by `make test`.
set -uo pipefail
cd "$(dirname "$0")/.."
stack=$1; shift
deploy=.venv/bin/lucia-deploy
$deploy up --stack "$stack" || { status=$?; $deploy down --stack "$stack" --purge; exit $status; }
"$@"
status=$?
$deploy down --stack "$stack" --purge
exit $status
