# frozen_string_literal: true

# Host-thread cost per log record in phase 2 against the real OpenTelemetry
# Collector: Ffitel.info with three attributes, Ffitel.logger.info, and Ruby's
# own ::Logger writing to /dev/null, side by side, with what the Collector
# received.
#
#   ruby ruby/bench/bench_logging.rb [records per case and round, default 100000] [rounds, default 3]
#
# The cases run interleaved in rounds (this machine's speed drifts minute to
# minute) and the table shows each case's median round; between cases the
# worker flushes, so each starts with empty queues and the Collector gets
# every record.
#
# The library reads its environment when the process starts, so this script
# starts a Collector, then re-runs itself as the measuring worker with the
# environment pointing at it (console output to /dev/null).

require "json"
require "rbconfig"

N = Integer(ARGV[0] || 100_000)
ROUNDS = Integer(ARGV[1] || 3)
LIB = File.expand_path("../lib", __dir__)
ROOT = File.expand_path("../..", __dir__)

def now
  Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
end

def cpu_now
  Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :nanosecond)
end

# [wall ns, host-thread CPU ns] per call.
def measure(n)
  GC.start
  t0 = now
  c0 = cpu_now
  i = 0
  while i < n
    yield i
    i += 1
  end
  [(now - t0).fdiv(n), (cpu_now - c0).fdiv(n)]
end

if ENV["FFITEL_BENCH_WORKER"]
  $LOAD_PATH.unshift(LIB)
  require "ffitel"
  require "logger"
  Ffitel.init_telemetry
  # Logger.new(File::NULL) skips formatting altogether; an opened /dev/null
  # makes it format and write like it does in production.
  ruby_logger = ::Logger.new(File.open(File::NULL, "w"))
  flog = Ffitel.logger
  results = {}

  # Warm up every path first.
  2000.times { |i| Ffitel.info("warmup", order_id: i, user: "alice", ok: true) }
  2000.times { flog.info("warmup") }
  2000.times { ruby_logger.info("warmup") }

  cases = {
    "ffi_empty_call" => ->(_i) { Ffitel::Native.ffitel_log_enabled(9) },
    "ruby_logger_devnull" => ->(_i) { ruby_logger.info("bench-ruby-logger") },
    "ffitel_info_3attrs" => ->(i) { Ffitel.info("bench-info-attrs", order_id: i, user: "alice", ok: true) },
    "ffitel_logger_info" => ->(_i) { flog.info("bench-logger") },
    "ffitel_info_bare" => ->(_i) { Ffitel.info("bench-info-bare") }
  }
  runs = Hash.new { |h, k| h[k] = [] }
  ROUNDS.times do
    cases.each do |name, call|
      runs[name] << measure(N) { |i| call.call(i) }
      Ffitel.flush(timeout: 120.0) # the console and the export queue drain before the next case
    end
  end
  runs.each { |name, rs| results[name] = rs.sort_by { |_, cpu| cpu }[rs.size / 2] + [rs.map { |_, cpu| cpu.round }] }
  flushed = Ffitel.shutdown(timeout: 30.0)
  $stdout.puts JSON.generate(ns: results, flushed: flushed, logs: Ffitel.stats.dig("pipeline", "logs"))
  exit 0
end

require_relative "../test/support/collector"

collector = Collector.new
begin
  env = collector.env("rb-bench").merge("FFITEL_BENCH_WORKER" => "1", "FFITEL_LIBRARY" => ENV["FFITEL_LIBRARY"] || File.join(ROOT, "build", "libffitel.so"))
  out = IO.popen(env, [RbConfig.ruby, __FILE__, N.to_s, ROUNDS.to_s], err: File::NULL, &:read)
  abort "bench worker failed: #{$?.inspect}\n#{out}" unless $?.success?
  result = JSON.parse(out.lines.last)
  path = File.join(collector.dir, "logs.jsonl")
  counts = {}
  markers = { "ffitel_info_3attrs" => "bench-info-attrs", "ffitel_logger_info" => "bench-logger",
              "ffitel_info_bare" => "bench-info-bare" }
  deadline = Time.now + 30
  loop do
    data = File.exist?(path) ? File.read(path) : ""
    counts = markers.transform_values { |m| data.scan(%({"stringValue":"#{m}"})).size }
    break if counts.values.sum >= result["logs"]["exported"] - 10_000 || Time.now > deadline

    sleep 0.5
  end
  collector.stop
  data = File.exist?(path) ? File.read(path) : ""
  counts = markers.transform_values { |m| data.scan(%({"stringValue":"#{m}"})).size }

  ns = result["ns"]
  base = ns["ruby_logger_devnull"]
  puts "wall: elapsed per call on the host thread; CPU: the host thread's own CPU time (CLOCK_THREAD_CPUTIME_ID)"
  puts "ffitel Ruby logging benchmark: #{N} records per case and round, #{ROUNDS} rounds (median round shown), " \
       "phase 2, real Collector (#{RUBY_DESCRIPTION})"
  puts format("%-30s %12s %12s %12s %18s  %s", "case", "wall ns/rec", "CPU ns/rec", "vs ::Logger", "at the Collector",
              "CPU ns of each round")
  rows = [
    ["::Logger -> /dev/null", "ruby_logger_devnull"],
    ["Ffitel.info(msg, 3 attrs)", "ffitel_info_3attrs"],
    ["Ffitel.logger.info(msg)", "ffitel_logger_info"],
    ["Ffitel.info(msg) (no attrs)", "ffitel_info_bare"],
    ["(empty FFI call into Go)", "ffi_empty_call"]
  ]
  rows.each do |label, key|
    delivered = counts.key?(key) ? "#{counts[key]}/#{N * ROUNDS}" : "-"
    wall, cpu, all = ns[key]
    puts format("%-30s %12.0f %12.0f %11.2fx %18s  %s", label, wall, cpu, cpu / base[1], delivered, all.inspect)
  end
  logs = result["logs"]
  puts "library stats: emitted=#{logs['emitted']} exported=#{logs['exported']} dropped=#{logs['dropped']} " \
       "failed=#{logs['failed']} pending=#{logs['pending']}; shutdown flushed=#{result['flushed']}"
ensure
  collector.stop
end
