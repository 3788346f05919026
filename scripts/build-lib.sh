#!/usr/bin/env bash
# Builds libffitel.so for release with cgo and zig cc aimed at glibc 2.17, so
# it loads on every glibc Linux since 2014 (manylinux_2_17).
#
#   scripts/build-lib.sh ARCH OUT    ARCH: x86_64 or aarch64
#
# FFITEL_DISTVENV is the environment scripts/dist-toolchain.sh made.
set -euo pipefail
arch=$1 out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${FFITEL_DISTVENV:-$root/.cache/distvenv}
case $arch in
  x86_64) goarch=amd64 ;;
  aarch64) goarch=arm64 ;;
  *) echo "build-lib.sh: unknown ARCH '$arch' (x86_64 or aarch64)" >&2; exit 2 ;;
esac
mkdir -p "$(dirname "$out")"
cd "$root"
tmp="$(dirname "$out")/.tmp-libffitel.so"
FFITEL_ZIG_PYTHON="$venv/bin/python" FFITEL_ZIG_TARGET="$arch-linux-gnu.2.17" \
CC="$root/scripts/zigcc" CGO_ENABLED=1 GOOS=linux GOARCH=$goarch \
  go build -buildmode=c-shared -trimpath -buildvcs=false \
  -ldflags="-s -w -buildid= '-extldflags=-s -Wl,--version-script=$root/cshim/exports.map'" \
  -o "$tmp" ./cshim
rm -f "${tmp%.so}.h"
chmod 0755 "$tmp"
mv "$tmp" "$out"
