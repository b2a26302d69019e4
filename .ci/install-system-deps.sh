#!/usr/bin/env bash
# System packages the test suite drives for real. Never fails: a test whose tool is
# missing skips and names it.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/install-slurm.sh"
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: installing chromium (for the MLflow UI test)"
    (apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
      || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1)) \
      || echo "install-system-deps: chromium could not be installed; the UI test will skip"
  fi
fi
exit 0
