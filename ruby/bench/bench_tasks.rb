# frozen_string_literal: true

# Overhead of an empty task attempt (Ffitel.task: consumer span, carrier,
# the two messaging metrics) beside an empty span, from Ruby, in phase 2.
#
#   FFITEL_LOG_OUTPUT=none ruby -Iruby/lib ruby/bench/bench_tasks.rb [N]
require "ffitel"

def bench(label, n)
  (n / 10).times { yield }
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
  c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :nanosecond)
  n.times { yield }
  wall = (Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond) - t0).fdiv(n)
  cpu = (Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :nanosecond) - c0).fdiv(n)
  puts format("%-34s %10.0f %12.0f", label, wall, cpu)
  cpu
end

n = (ARGV[0] || 20_000).to_i
Ffitel.init_telemetry
carrier = nil
Ffitel.send_task("SendReport") { carrier = Ffitel.inject }
puts "ruby #{RUBY_VERSION}, #{n} iterations, phase 2"
puts format("%-34s %10s %12s", "case", "wall ns", "CPU ns")
span_cpu = bench("Ffitel.span (empty)", n) { Ffitel.span("empty", kind: :consumer) { nil } }
task_cpu = bench("Ffitel.task (empty, with metrics)", n) do
  Ffitel.task("SendReport", worker: "bench", task_id: "t", attempt: 1, carrier: carrier) { nil }
end
puts format("task / span (CPU): %.2fx", task_cpu / span_cpu)
Ffitel.shutdown
