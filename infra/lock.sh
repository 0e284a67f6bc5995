#!/usr/bin/env bash
# `make lock [UPGRADE=package]`: resolve the dependencies once, for every platform and
# Python 3.11 patch level (markers kept), into two hashed lock files that everything
# installs from:
#   requirements/service.lock  the service's runtime (service/pyproject.toml): the image's
#                              wheelhouse is downloaded from it, and the image's freshness
#                              hash includes it;
#   requirements/dev.lock      the service, lucia-ops (pyproject.toml) and its `dev` group:
#                              `make bootstrap` installs .venv from it.
# With uv (`uv pip compile --universal --generate-hashes`). The locks hold names, versions,
# markers and hashes, never an index address. Without UPGRADE, versions already locked are
# kept and only what the pyproject files changed is resolved again.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
# uv does not read pip's configuration: give it the system's CA bundle for TLS.
export SSL_CERT_FILE=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
upgrade=()
if [ -n "${UPGRADE:-}" ]; then
  for package in $UPGRADE; do upgrade+=(--upgrade-package "$package"); done
fi
compile() {
  "$UV" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
    --no-header --annotation-style line "${upgrade[@]}" "$@"
}
mkdir -p requirements
compile service/pyproject.toml -o requirements/service.lock
compile pyproject.toml service/pyproject.toml --group pyproject.toml:dev \
  -o requirements/dev.lock
echo "==> wrote requirements/service.lock ($(grep -c '==' requirements/service.lock) packages)" \
     "and requirements/dev.lock ($(grep -c '==' requirements/dev.lock) packages)"
