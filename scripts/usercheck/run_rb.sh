#!/bin/bash
# The platform gem from `make dist`, installed into its own GEM_HOME outside
# the checkout, run against a real Collector (make usercheck): a burst of
# logs and spans. Exits 1 on any loss.
set -u
# As a user's shell would be: nothing pointing at the checkout (the same
# list as e2e/dist_test.go's cleanEnv).
unset FFITEL_LIBRARY PYTHONPATH RUBYLIB RUBYOPT GEM_HOME GEM_PATH VIRTUAL_ENV PKG_CONFIG_PATH LD_LIBRARY_PATH PYTHONHOME
here=$(cd "$(dirname "$0")" && pwd)
DIST=$(cd "${DIST:?}" && pwd) WC=$(cd "$(dirname "${WC:?}")" && pwd)/$(basename "$WC")
work=$(mktemp -d /tmp/ffitel-usercheck-XXXXXX)
cp "$here"/burst.rb "$work"/ && cd "$work"
# The platform gem of this machine's architecture (make dist builds x86_64;
# make dist-aarch64 adds aarch64).
# GEM_PATH stays unset (above): GEM_HOME and the system gems, where ffi is.
export GEM_HOME=$work/gemhome
gem install -q --local --ignore-dependencies "$DIST"/ffitel-*-"$(uname -m)"-linux.gem >/dev/null || { echo "FAIL gem install"; exit 1; }
lib=$(ruby -e 'require "ffitel"; print Ffitel.library_path')
case "$lib" in "$work"/gemhome/*) echo "ok   library from the gem: $lib" ;; *) echo "FAIL library not from the gem: $lib"; exit 1 ;; esac
out=$("$WC" -- ruby burst.rb 2>/dev/null); rc=$?
echo "$out" | grep -E "STATS|collector"
st=$(echo "$out" | grep STATS | sed 's/STATS //')
le=$(echo "$st" | python3 -c "import json,sys; print(json.load(sys.stdin)['logs']['exported'])")
se=$(echo "$st" | python3 -c "import json,sys; print(json.load(sys.stdin)['spans']['exported'])")
rec=$(echo "$out" | grep "collector received")
[ "$rc" = 0 ] && [ "$(echo "$rec" | awk '{print $3}')" = "$le" ] && [ "$(echo "$rec" | awk '{print $6}')" = "$se" ] && [ "$se" = 2000 ] && echo "ok   ruby burst: received = exported, nothing lost" || { echo "FAIL ruby burst rc=$rc"; exit 1; }
