#!/usr/bin/env bash
# Runs the integration tests against the shared local environment: starts it when none is running and
# stops it afterwards (an environment the user started is left running).
set -euo pipefail
cd "$(dirname "$0")/.."
started=no
if ! ./bin/infctl dev status > /dev/null 2>&1; then
  ./bin/infctl dev down > /dev/null 2>&1 || true
  ./bin/infctl dev up
  started=yes
fi
cleanup() { if [ "$started" = yes ]; then ./bin/infctl dev down; fi; }
trap cleanup EXIT
node --import tsx --test --test-reporter=spec --test-concurrency=1 test/integration/*.test.ts test/e2e/*.test.ts
