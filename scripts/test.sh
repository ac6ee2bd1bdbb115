#!/usr/bin/env bash
# The whole test suite, as `npm test` runs it: system packages (installed only when missing),
# type-check (the project, then the k6 load-test scripts against @types/k6 alone), lint, the
# TypeScript unit, integration and deploy tests (k8s schemas, promtool, a real Prometheus), then the
# training package's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
echo "== type-check"
npx tsc --noEmit -p tsconfig.json
npx tsc --noEmit -p loadtest/k6/tsconfig.json
echo "== lint"
npx eslint .
echo "== TypeScript tests"
# Tests that open sessions without a gateway would otherwise start onnxruntime's usage telemetry
# (src/models/ort-telemetry.ts); the process test removes this for its child, to test the default.
export ORT_DISABLE_TELEMETRY=1
# --test-timeout bounds each test and each file's process (10 min, far above any file on a loaded
# machine): a test that leaves a handle open fails by name instead of hanging CI until it is killed.
node --import tsx --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec test/unit/*.test.ts test/integration/*.test.ts test/deploy/*.test.ts
echo "== training/ tests"
timeout --kill-after=30 1800 /usr/bin/python3 -m pytest -q -p no:cacheprovider training/tests
