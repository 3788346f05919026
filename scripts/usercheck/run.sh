#!/bin/bash
# The wheel from `make dist`, installed into a fresh venv in a directory
# outside the checkout, run against a real Collector (make usercheck):
# a burst, a SIGKILL with the spool, the Collector down, a fork. Exits 1 on
# any loss or a shutdown over its bound.
#   DIST=dist WC=build/withcollector scripts/usercheck/run.sh
set -u
# As a user's shell would be: nothing pointing at the checkout (the same
# list as e2e/dist_test.go's cleanEnv).
unset FFITEL_LIBRARY PYTHONPATH RUBYLIB RUBYOPT GEM_HOME GEM_PATH VIRTUAL_ENV PKG_CONFIG_PATH LD_LIBRARY_PATH PYTHONHOME
here=$(cd "$(dirname "$0")" && pwd)
DIST=$(cd "${DIST:?}" && pwd) WC=$(cd "$(dirname "${WC:?}")" && pwd)/$(basename "$WC")
work=$(mktemp -d /tmp/ffitel-usercheck-XXXXXX)
cp "$here"/*.py "$work"/ && cd "$work"
fail=0
check() { if [ "$1" != "$2" ]; then echo "FAIL $3: got $1 want $2"; fail=1; else echo "ok   $3: $1"; fi; }
python3 -m venv venv && ./venv/bin/pip -q install --no-index "$DIST"/*.whl >/dev/null || { echo "FAIL pip install"; exit 1; }
PY=./venv/bin/python
# The library is the wheel's copy, not the build tree's.
lib=$($PY -c "import ffitel; print(ffitel.library_path())")
case "$lib" in "$work"/venv/*) echo "ok   library from the wheel: $lib" ;; *) echo "FAIL library not from the wheel: $lib"; fail=1 ;; esac
# 1. burst
out=$($WC -- $PY burst.py 2>/dev/null); rc=$?; echo "$out" | grep -E "STATS|collector"
check "$rc" 0 "burst: nothing dropped or failed (exit)"
st=$(echo "$out" | grep STATS | sed 's/STATS //; s/ in .*//')
logs_exp=$(echo "$st" | python3 -c "import json,sys; print(json.load(sys.stdin)['logs']['exported'])")
spans_exp=$(echo "$st" | python3 -c "import json,sys; print(json.load(sys.stdin)['spans']['exported'])")
rec=$(echo "$out" | grep "collector received")
check "$(echo "$rec" | awk '{print $3}')" "$logs_exp" "burst: log records at the Collector = exported"
check "$(echo "$rec" | awk '{print $6}')" "$spans_exp" "burst: spans at the Collector = exported"
check "$spans_exp" 5000 "burst: spans exported"
# 2. kill with the spool, Collector down, then recovery
SP=$(mktemp -d)
FFITEL_SPOOL_DIR=$SP TELEMETRY_ENABLED=true OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1 $PY kill.py 2>/dev/null; echo "kill exit $?"
out=$(FFITEL_SPOOL_DIR=$SP $WC -- $PY -c "import ffitel,time; ffitel.init_telemetry(); time.sleep(3); ffitel.shutdown(10)" 2>/dev/null)
rec=$(echo "$out" | grep "collector received")
echo "$rec"
check "$(echo "$rec" | awk '{print $6}')" 100 "kill: spans recovered from the spool"
n=$(echo "$rec" | awk '{print $3}'); [ "$n" -ge 20000 ] && echo "ok   kill: $n log records recovered (>= 20000)" || { echo "FAIL kill: $n log records"; fail=1; }
check "$(find $SP -type f -name '*.seg' | wc -l)" 0 "kill: spool segments left"
# 3. Collector down, bounded shutdown
out=$(TELEMETRY_ENABLED=true OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1 FFITEL_SHUTDOWN_TIMEOUT_MS=1500 $PY down.py 2>/dev/null); echo "$out"
d=$(echo "$out" | sed -n 's/shutdown \([0-9.]*\)s.*/\1/p'); python3 -c "import sys; sys.exit(0 if float('$d') <= 2.0 else 1)" && echo "ok   down: shutdown ${d}s <= 2.0" || { echo "FAIL down: shutdown $d"; fail=1; }
# 4. fork. Without the spool a child forked after load falls back to host
# logging (README: FFITEL_E_FORKED, never a hang); with FFITEL_SPOOL_DIR its
# records and spans are exported through the spool.
out=$(timeout 60 $WC -- $PY fork.py 2>"$work"/fork.err); rc=$?
check "$rc" 0 "fork without spool: exit"
check "$(grep -c 'from child' "$work"/fork.err)" 1500 "fork without spool: children's records on the host's console"
SP=$(mktemp -d)
out=$(FFITEL_SPOOL_DIR=$SP timeout 60 $WC -- $PY fork.py 2>/dev/null); rec=$(echo "$out" | grep "collector received"); echo "$rec"
n=$(echo "$rec" | awk '{print $3}'); [ "$n" -ge 1501 ] && echo "ok   fork with spool: $n log records (3 children x 500 + parent + config)" || { echo "FAIL fork with spool: $n"; fail=1; }
check "$(echo "$rec" | awk '{print $6}')" 4 "fork with spool: spans (3 children + parent)"
exit $fail
