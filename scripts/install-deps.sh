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
command -v prometheus >/dev/null || need+=(prometheus)
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

"$(dirname "$0")/dist-toolchain.sh"
