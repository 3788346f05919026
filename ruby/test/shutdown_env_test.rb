# frozen_string_literal: true

require_relative "test_helper"

# Ffitel.shutdown and Ffitel.flush with no argument take
# FFITEL_SHUTDOWN_TIMEOUT_MS, the library's bound (issue #12), in a real
# worker whose Collector is unreachable, so the queued records cannot leave
# and only the bound ends the calls.
class ShutdownEnvTest < Minitest::Test
  include FfitelTestHelpers

  WORKER = <<~RUBY
    require "ffitel"
    require "json"
    Ffitel.init_telemetry
    passed = []
    # what the binding hands the C ABI (-1: the library's bound from the environment)
    %i[ffitel_flush ffitel_shutdown].each do |name|
      real = Ffitel::Native.method(name)
      Ffitel::Native.define_singleton_method(name) { |ms| passed << [name.to_s, ms]; real.call(ms) }
    end
    5000.times { |i| Ffitel.info("queued for an unreachable collector", i: i) }
    Ffitel.span("queued span") { nil }
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    flushed = Ffitel.flush
    t1 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    shut = Ffitel.shutdown
    t2 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    puts JSON.generate(flushed: flushed, shut: shut, passed: passed, flush_s: t1 - t0, shutdown_s: t2 - t1)
  RUBY

  def test_shutdown_and_flush_without_timeout_use_the_environment_bound
    out, err, status = run_ruby(WORKER, env: { "TELEMETRY_ENABLED" => "true", "FFITEL_SHUTDOWN_TIMEOUT_MS" => "300",
                                               "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://127.0.0.1:#{Collector.free_port}",
                                               "OTEL_SERVICE_NAME" => "rb-shutdown-env" })
    assert_success(out, err, status)
    res = JSON.parse(out.lines.last)
    assert_equal [["ffitel_flush", -1], ["ffitel_shutdown", -1]], res["passed"]
    config = err.lines.find { |l| l.include?("ffitel telemetry configuration") }.to_s
    assert_includes config, '"shutdown_timeout":300000000', "the library read the bound (ns)"
    # the Collector is unreachable: only the deadline ended both calls
    assert_equal [false, false], res.values_at("flushed", "shut")
    # A generous ceiling, not a timing test: the old fixed default (5.0 s)
    # could not return before its own deadline.
    assert_operator res["flush_s"], :<, 4.5, res.inspect
    assert_operator res["shutdown_s"], :<, 4.5, res.inspect
  end

  def test_an_explicit_timeout_still_wins
    out, err, status = run_ruby(<<~RUBY, env: { "FFITEL_SHUTDOWN_TIMEOUT_MS" => "300" })
      require "ffitel"
      Ffitel.init_console
      passed = []
      real = Ffitel::Native.method(:ffitel_shutdown)
      Ffitel::Native.define_singleton_method(:ffitel_shutdown) { |ms| passed << ms; real.call(ms) }
      raise "shutdown failed" unless Ffitel.shutdown(timeout: 0.25)
      p passed
    RUBY
    assert_success(out, err, status)
    assert_equal "[250]", out.strip
  end
end
