#!/usr/bin/env bash
# Runs the ffitel gem's minitest suite. Needs `make build` (build/libffitel.so)
# and `make collector` (the real OpenTelemetry Collector; its absence fails
# the Collector tests, it does not skip them). Run from anywhere.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
exec ruby -I"$here/lib" -e 'Dir[ARGV[0] + "/test/*_test.rb"].sort.each { |f| require File.expand_path(f) }' "$here" "$@"
