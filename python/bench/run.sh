#!/usr/bin/env bash
# Runs the Python logging benchmark against a real Collector. The OpenTelemetry
# Python SDK it compares with lives in a bench-only virtualenv, never in ffitel's
# dependencies. Needs `make build` and `make collector` first.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${FFITEL_BENCH_VENV:-$repo/.cache/bench-venv}"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc
fi
exec "$venv/bin/python" "$repo/python/bench/bench_logging.py" "$@"
