#!/usr/bin/env bash
# Creates the Python virtual environment `make dist` builds with (default
# .cache/distvenv): zig (the ziglang package) to compile cgo against glibc
# 2.17, auditwheel to check the wheel's manylinux tag, and pinned build tools
# so the artifacts are the same on every machine. Idempotent.
set -euo pipefail
venv=${1:-"$(cd "$(dirname "$0")/.." && pwd)/.cache/distvenv"}
pins=(ziglang==0.17.1 auditwheel==6.8.2 build==1.2.2 setuptools==84.2.1 wheel==0.48.0)
stamp="$venv/.complete"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${pins[*]}" ]; then
  exit 0
fi
echo "dist-toolchain: installing ${pins[*]} into $venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}"
echo "${pins[*]}" > "$stamp"
