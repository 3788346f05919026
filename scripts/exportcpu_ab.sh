#!/bin/bash
# Interleaved runs of exportcpu children, median CPU per record: the A/B
# comparisons of docs/PERFORMANCE.md, session 7 (two builds, GOGC, batch
# sizes). Each SPEC is BINARY:CASE:LABEL[:ENV,ENV...], e.g.
#
#   go build -o /tmp/old ./e2e/cmd/exportcpu   # on the old commit
#   go build -o /tmp/new ./e2e/cmd/exportcpu   # on the new one
#   go run ./e2e/cmd/otlpsink &                # or inside withcollector with EP=$OTEL_EXPORTER_OTLP_ENDPOINT
#   scripts/exportcpu_ab.sh 5 100000 /tmp/old:logs-ffitel:old /tmp/new:logs-ffitel:new \
#       /tmp/new:spans-ffitel:gogc200:OTEL_TRACES_EXPORTER=otlp,OTEL_LOGS_EXPORTER=none,GOGC=200
#
# The endpoint is $EP (default the sink's http://127.0.0.1:14317).
set -euo pipefail
runs=$1 n=$2
shift 2
declare -A res
for _ in $(seq "$runs"); do
  for spec in "$@"; do
    IFS=: read -r bin case label envs <<<"$spec"
    v=$(env TELEMETRY_ENABLED=true OTEL_SERVICE_NAME=exportcpu OTEL_METRICS_EXPORTER=none FFITEL_LOG_OUTPUT=none \
      OTEL_TRACES_EXPORTER=none OTEL_LOGS_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT="${EP:-http://127.0.0.1:14317}" \
      ${envs//,/ } "$bin" -child "$case:run" -tag x -n "$n" -rate 10000 | grep -o '"cpu_ns":[0-9]*' | cut -d: -f2)
    res[$label]="${res[$label]:-} $v"
  done
done
for spec in "$@"; do
  IFS=: read -r _ _ label _ <<<"$spec"
  echo "$label: $(echo ${res[$label]} | tr ' ' '\n' | sort -n | awk -v n="$n" '
    {a[NR]=$1/n/1000} END {s=""; for(i=1;i<=NR;i++) s=s sprintf("%.2f ",a[i]); printf "median %.2f us  [%s]\n", a[int((NR+1)/2)], s}')"
done
