#!/usr/bin/env bash
# Installs what `make test` and `make demo` need on a fresh Debian machine:
# Debian packages (only those missing), Python test packages from PyPI, and
# the release toolchain (zig, auditwheel) in .cache/distvenv for `make dist`.
# `make test-dist` also needs pyenv with at least three CPythons >= 3.9.
# Idempotent and quiet when everything is already there.
set -euo pipefail

need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v gcc >/dev/null || need+=(gcc)
command -v ruby >/dev/null || need+=(ruby)
ruby -e 'require "ffi"' 2>/dev/null || need+=(ruby-ffi)
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)  # promtool tests deploy/prometheus
command -v redis-server >/dev/null || need+=(redis-server)
command -v sidekiq >/dev/null || need+=(ruby-sidekiq)
ruby -e 'require "redis"' 2>/dev/null || need+=(ruby-redis)
ruby -e 'require "active_support"' 2>/dev/null || need+=(ruby-activesupport)
command -v pkg-config >/dev/null || need+=(pkgconf)
command -v objdump >/dev/null || need+=(binutils)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)

if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! python3 -c 'import pytest' 2>/dev/null; then
  echo "install-deps: installing pytest from PyPI"
  python3 -m pip install -q pytest
fi

# Celery 5.4 (Python 3.8-3.13) with kombu 5.4, whose Redis transport takes
# redis-py 5 (kombu 5.5+ wants redis-py 6.1+).
if ! python3 -c 'import celery, kombu, redis; assert celery.__version__ == "5.4.0" and kombu.__version__ == "5.4.2"' 2>/dev/null; then
  echo "install-deps: installing Celery from PyPI"
  python3 -m pip install -q 'celery[redis]==5.4.0' 'kombu==5.4.2' 'redis==5.3.1'
fi

# RQ 2.1 (its default Worker forks a work horse per job) for the spool's
# fork test (python/tests/test_spool_rq.py); it takes the redis-py 5 above.
if ! python3 -c 'import rq; assert rq.__version__ == "2.1.0"' 2>/dev/null; then
  echo "install-deps: installing RQ from PyPI"
  python3 -m pip install -q 'rq==2.1.0' 'redis==5.3.1'
fi
"$(dirname "$0")/dist-toolchain.sh"
# The OpenTelemetry API bridge tests (python/tests/test_otel_*.py) and its
# benchmark: the API, the SDK (the "another provider" case and the bench
# baseline), two instrumentation libraries and the OTLP gRPC exporter.
# Pinned to a set that installs together on Python 3.11.
otel_pins=(opentelemetry-api==1.45.1 opentelemetry-sdk==1.45.1
  opentelemetry-instrumentation-urllib==0.66b1 opentelemetry-instrumentation-requests==0.66b1
  opentelemetry-exporter-otlp-proto-grpc==1.45.1 requests)
if ! python3 - "${otel_pins[@]}" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, _, want = pin.partition("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if want and have != want:
        sys.exit(1)
PY
then
  echo "install-deps: installing the OpenTelemetry API test packages from PyPI"
  python3 -m pip install -q "${otel_pins[@]}"
fi
