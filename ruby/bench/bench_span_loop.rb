# frozen_string_literal: true

# Process CPU per Ffitel.span in a tight loop, export off: what the span's
# end costs the host thread (docs/PERFORMANCE.md, sessions 7 and 9). Run it
# against two checkouts' ruby/lib, interleaved, to compare them:
#
#   FFITEL_LIBRARY=build/libffitel.so TELEMETRY_ENABLED=true OTEL_TRACES_EXPORTER=none \
#     OTEL_LOGS_EXPORTER=none OTEL_METRICS_EXPORTER=none FFITEL_LOG_OUTPUT=none \
#     ruby -Iruby/lib ruby/bench/bench_span_loop.rb [N] [--parts]
#
# The first line is the figure to compare. --parts adds what the span end's
# pieces cost alone: the interrupt deferral Span#finish does
# (Thread.handle_interrupt), a GVL-releasing (blocking: true) ffi call into
# the library beside a plain one (both return at once for the unknown handle
# 0), and a raw ffi start and end without the Ruby wrapper.
require "ffitel"

def cpu_per(n)
  t0 = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
  n.times { |i| yield i }
  (Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - t0) / n * 1e6
end

Ffitel.init_telemetry
n = (ARGV.find { |a| a =~ /\A\d+\z/ } || 200_000).to_i
5000.times { Ffitel.span("warm") { nil } }
printf("%.3f us/span\n", cpu_per(n) { |i| Ffitel.span("s", attributes: { i: i }) { nil } })
printf("%.3f us/span, no attributes\n", cpu_per(n) { Ffitel.span("s") { nil } })
exit unless ARGV.include?("--parts")

native = Ffitel::Native
defer = { Object => :never }.freeze
printf("%.3f us  Thread.handle_interrupt(Object => :never) {}\n", cpu_per(n) { Thread.handle_interrupt(defer) { nil } })
printf("%.3f us  ffitel_span_end(0, ...), blocking: true\n", cpu_per(n) { native.ffitel_span_end(0, 1, nil, 0) })
printf("%.3f us  ffitel_span_set_attributes(0, ...), not blocking\n",
       cpu_per(n) { native.ffitel_span_set_attributes(0, nil, 0) })
printf("%.3f us  raw ffitel_span_start + ffitel_span_end\n",
       cpu_per(n) { native.ffitel_span_end(native.ffitel_span_start("w", 1, 0, nil, 0, nil, 0, 0), 1, nil, 0) })
