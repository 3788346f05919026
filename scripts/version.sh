#!/usr/bin/env bash
# The version lives in VERSION and nowhere else by hand. Each language needs
# it as a literal in its own source (the C header for FFITEL_VERSION, which
# ffitel_version() returns; Go's bootstrap.Version; Python's __version__,
# which pyproject.toml reads; Ruby's Ffitel::VERSION, which the gemspec reads).
#
#   scripts/version.sh           print the version
#   scripts/version.sh --check   fail, naming the file, if a literal differs
#   scripts/version.sh --write   stamp VERSION into every literal
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(tr -d ' \n' < VERSION)
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([.+-][0-9A-Za-z.]+)?$ ]]; then
  echo "version.sh: VERSION holds '$version', not a version like 1.2.3" >&2
  exit 1
fi

# file | extended regex of the line | replacement line (VERSION substituted)
places=(
  'cshim/include/ffitel.h|^#define FFITEL_VERSION "[^"]*"$|#define FFITEL_VERSION "@V@"'
  'bootstrap/default.go|^const Version = "[^"]*"$|const Version = "@V@"'
  'python/src/ffitel/__init__.py|^__version__ = "[^"]*"$|__version__ = "@V@"'
  'ruby/lib/ffitel/version.rb|^  VERSION = "[^"]*"$|  VERSION = "@V@"'
)

case "${1:-}" in
  "") echo "$version" ;;
  --check|--write)
    bad=0
    for place in "${places[@]}"; do
      IFS='|' read -r file pattern line <<<"$place"
      want=${line//@V@/$version}
      found=$(grep -E -c "$pattern" "$file" || true)
      if [ "$found" != 1 ]; then
        echo "version.sh: $file: expected one line matching /$pattern/, found $found" >&2
        bad=1
        continue
      fi
      if ! grep -qxF "$want" "$file"; then
        if [ "$1" = --write ]; then
          sed -E -i "s|$pattern|$want|" "$file"
          echo "version.sh: stamped $version into $file"
        else
          echo "version.sh: $file says '$(grep -E "$pattern" "$file")', VERSION says $version: run scripts/version.sh --write" >&2
          bad=1
        fi
      fi
    done
    exit $bad ;;
  *) echo "usage: scripts/version.sh [--check|--write]" >&2; exit 2 ;;
esac
