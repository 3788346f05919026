#!/usr/bin/env bash
# Assembles the release artifacts into dist/ from libraries that
# scripts/build-lib.sh built against glibc 2.17 (`make dist` runs both):
#
#   ffitel-V-py3-none-manylinux_2_17_ARCH.whl   Python, library inside, any CPython >= 3.9
#   ffitel-V.tar.gz                             Python sdist; installing it runs `go build`
#   ffitel-V-ARCH-linux.gem                     Ruby platform gem, library inside
#   ffitel-V.gem                                Ruby source gem; installing it runs `go build`
#   libffitel-V-linux-ARCH.tar.gz               C: lib/, include/, lib/pkgconfig/ffitel.pc
#   SHA256SUMS
#
#   scripts/dist.sh x86_64=build/dist/x86_64/libffitel.so [aarch64=...]
#
# Reproducible: every timestamp is SOURCE_DATE_EPOCH (default: the last
# commit's time), every archive sorted and owned by root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${FFITEL_DISTVENV:-$root/.cache/distvenv}
py=$venv/bin/python
cd "$root"
scripts/version.sh --check
version=$(scripts/version.sh)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}
export PYTHONDONTWRITEBYTECODE=1
umask 022

stage=$root/build/dist/stage
out=$root/dist
rm -rf "$stage" "$out"
mkdir -p "$stage" "$out"

# copy_files DEST FILE...: copies files, keeping their paths relative to the root.
copy_files() {
  local dest=$1; shift
  local f
  for f in "$@"; do
    mkdir -p "$dest/$(dirname "$f")"
    cp "$f" "$dest/$f"
  done
}

# The Go sources of the library, for the sdist and the source gem.
go_files=(go.mod go.sum $(find bootstrap events metrics internal cshim -type f \
  \( -name '*.go' -o -name '*.c' -o -name '*.h' -o -name '*.map' \) \
  ! -name '*_test.go' ! -path '*/testdata/*' | LC_ALL=C sort))

# --- Python: one staged tree for the sdist and the wheels.
pystage=$stage/python
( cd python && copy_files "$pystage" pyproject.toml setup.py MANIFEST.in README.md \
    $(find src/ffitel -maxdepth 1 -type f \( -name '*.py' -o -name py.typed \) | LC_ALL=C sort) )
copy_files "$pystage/go" "${go_files[@]}"
"$py" -m build --sdist --no-isolation --outdir "$stage/sdist" "$pystage" >"$stage/sdist.log" 2>&1 \
  || { cat "$stage/sdist.log"; exit 1; }
python3 scripts/reprotar.py repack "$stage/sdist/ffitel-$version.tar.gz" "$out/ffitel-$version.tar.gz"

# --- Ruby: a staged tree per gem.
rbfiles=(ffitel.gemspec README.md ext/ffitel/extconf.rb exe/ffitel $(cd ruby && find lib -type f -name '*.rb' | LC_ALL=C sort))
( cd ruby && copy_files "$stage/gem-source" "${rbfiles[@]}" )
copy_files "$stage/gem-source/ext/ffitel/go" "${go_files[@]}"
( cd "$stage/gem-source" && gem build --silent ffitel.gemspec --output "$out/ffitel-$version.gem" >/dev/null )

for spec in "$@"; do
  arch=${spec%%=*} lib=$(cd "$(dirname "${spec#*=}")" && pwd)/$(basename "${spec#*=}")
  [ -f "$lib" ] || { echo "dist.sh: $lib is missing (scripts/build-lib.sh $arch $lib)" >&2; exit 1; }

  # The wheel.
  rm -rf "$pystage/build" "$pystage/src/ffitel.egg-info"
  FFITEL_LIBRARY=$lib FFITEL_WHEEL_PLAT=manylinux_2_17_$arch \
    "$py" -m build --wheel --no-isolation --outdir "$out" "$pystage" >"$stage/wheel-$arch.log" 2>&1 \
    || { cat "$stage/wheel-$arch.log"; exit 1; }

  # The platform gem.
  gstage=$stage/gem-$arch
  ( cd ruby && copy_files "$gstage" ffitel.gemspec README.md exe/ffitel $(find lib -type f -name '*.rb') )
  cp "$lib" "$gstage/lib/ffitel/libffitel.so"
  ( cd "$gstage" && gem build --silent ffitel.gemspec --output "$out/ffitel-$version-$arch-linux.gem" >/dev/null )

  # The C tarball, relocatable through pkg-config's ${pcfiledir}.
  cdir=$stage/c-$arch/libffitel-$version-linux-$arch
  mkdir -p "$cdir/lib/pkgconfig" "$cdir/include"
  cp "$lib" "$cdir/lib/libffitel.so"
  cp cshim/include/ffitel.h "$cdir/include/ffitel.h"
  sed "s/@VERSION@/$version/" packaging/ffitel.pc.in > "$cdir/lib/pkgconfig/ffitel.pc"
  python3 scripts/reprotar.py pack "$cdir" "$out/libffitel-$version-linux-$arch.tar.gz"
done

# --- Checks: what each artifact claims matches what it holds.
for spec in "$@"; do
  arch=${spec%%=*}
  wheel=$out/ffitel-$version-py3-none-manylinux_2_17_$arch.whl
  [ -f "$wheel" ] || { echo "dist.sh: expected $wheel; dist/ holds: $(ls "$out")" >&2; exit 1; }
  "$venv/bin/auditwheel" show "$wheel" >"$stage/auditwheel-$arch.txt" 2>&1 || { cat "$stage/auditwheel-$arch.txt"; exit 1; }
  if ! grep -q "manylinux_2_17_$arch" "$stage/auditwheel-$arch.txt"; then
    echo "dist.sh: auditwheel does not agree with the manylinux_2_17_$arch tag:" >&2
    cat "$stage/auditwheel-$arch.txt" >&2
    exit 1
  fi
  glibc=$(objdump -T "${spec#*=}" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
  if [ "$(printf '%s\n' "$glibc" GLIBC_2.17 | sort -V | tail -1)" != GLIBC_2.17 ]; then
    echo "dist.sh: the $arch library needs $glibc, more than the GLIBC_2.17 its tags promise" >&2
    exit 1
  fi
  echo "dist: $arch library needs at most $glibc; auditwheel: $(grep -o 'manylinux_2_17_[a-z0-9_]*' "$stage/auditwheel-$arch.txt" | head -1)"
done

( cd "$out" && sha256sum -- * > SHA256SUMS && ls -l --block-size=K -- * | awk '{print "dist: " $5 "\t" $9}' )
