# frozen_string_literal: true

# Process CPU per Ffitel.span in a tight loop, export off: what the span's
# end attached `blocking: true` costs (docs/PERFORMANCE.md, session 7). Run
# it against two checkouts' ruby/lib, interleaved:
#
#   FFITEL_LIBRARY=build/libffitel.so TELEMETRY_ENABLED=true OTEL_TRACES_EXPORTER=none \
#     OTEL_LOGS_EXPORTER=none OTEL_METRICS_EXPORTER=none FFITEL_LOG_OUTPUT=none \
#     ruby -Iruby/lib ruby/bench/bench_span_loop.rb [N]
require "ffitel"

Ffitel.init_telemetry
n = (ARGV[0] || 200_000).to_i
5000.times { Ffitel.span("warm") { nil } }
t0 = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
n.times { |i| Ffitel.span("s", attributes: { i: i }) { nil } }
t1 = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
printf("%.3f us/span\n", (t1 - t0) / n * 1e6)
