#!/bin/bash
# The platform gem from `make dist`, installed into its own GEM_HOME outside
# the checkout, run against a real Collector (make usercheck): a burst of
# logs and spans. Exits 1 on any loss.
set -u
here=$(cd "$(dirname "$0")" && pwd)
DIST=$(cd "${DIST:?}" && pwd) WC=$(cd "$(dirname "${WC:?}")" && pwd)/$(basename "$WC")
work=$(mktemp -d /tmp/ffitel-usercheck-XXXXXX)
cp "$here"/burst.rb "$work"/ && cd "$work"
GEM_HOME=$work/gemhome gem install -q --local --ignore-dependencies "$DIST"/ffitel-*-x86_64-linux.gem >/dev/null || { echo "FAIL gem install"; exit 1; }
out=$(GEM_HOME=$work/gemhome "$WC" -- ruby burst.rb 2>/dev/null); rc=$?
echo "$out" | grep -E "STATS|collector"
st=$(echo "$out" | grep STATS | sed 's/STATS //')
le=$(echo "$st" | python3 -c "import json,sys; print(json.load(sys.stdin)['logs']['exported'])")
se=$(echo "$st" | python3 -c "import json,sys; print(json.load(sys.stdin)['spans']['exported'])")
rec=$(echo "$out" | grep "collector received")
[ "$rc" = 0 ] && [ "$(echo "$rec" | awk '{print $3}')" = "$le" ] && [ "$(echo "$rec" | awk '{print $6}')" = "$se" ] && [ "$se" = 2000 ] && echo "ok   ruby burst: received = exported, nothing lost" || { echo "FAIL ruby burst rc=$rc"; exit 1; }
