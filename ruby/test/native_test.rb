# frozen_string_literal: true

require_relative "test_helper"

# The native log path: the library defines Ffitel::NativeLog.log with Ruby's
# own C API, reading the String and the Hash with no JSON and no ffi
# conversion. These tests pin that it is used, that it writes what the JSON
# path writes, and that every value it declines still gets logged.
class NativeTest < Minitest::Test
  include FfitelTestHelpers

  SIMPLE = { s: "two words", u: "ünïcödé ✓", i: -42, big: 2**62 - 1, f: 1.5, t: true, no: false,
             none: nil, sym: :ready, "str_key" => "v", empty: "" }.freeze

  def setup
    Ffitel.init_telemetry # export is off here (no TELEMETRY_ENABLED): console only
  end

  def with_json_path
    saved = Ffitel::Runtime.instance_variable_get(:@native_log)
    Ffitel::Runtime.instance_variable_set(:@native_log, nil)
    yield
  ensure
    Ffitel::Runtime.instance_variable_set(:@native_log, saved)
  end

  def without_time(records)
    records.map { |r| r.reject { |k, _| k == "time" } }
  end

  def test_the_native_method_is_defined_and_used
    assert_same Ffitel::NativeLog, Ffitel::Runtime.instance_variable_get(:@native_log)
    capture_console { assert_equal 0, Ffitel::NativeLog.log(Ffitel::INFO, "direct", { k: 1 }, 0) }
  end

  def test_native_and_json_paths_write_the_same_record
    native = without_time(capture_console { Ffitel.info("same record", **SIMPLE) })
    via_json = without_time(with_json_path { capture_console { Ffitel.info("same record", **SIMPLE) } })
    assert_equal via_json, native
    rec = native.find { |r| r["msg"] == "same record" }
    refute_nil rec
    assert_equal({ "s" => "two words", "u" => "ünïcödé ✓", "i" => "-42", "big" => (2**62 - 1).to_s, "f" => "1.5",
                   "t" => "true", "no" => "false", "sym" => "ready", "str_key" => "v", "empty" => "" },
                 rec.slice("s", "u", "i", "big", "f", "t", "no", "sym", "str_key", "empty"))
    refute rec.key?("none"), "nil is skipped, as JSON null is"
  end

  def test_values_the_native_path_declines_still_log
    {
      [1, "a"] => "[1 a]",                  # an Array: JSON path
      2**64 => "18446744073709551616",     # a Bignum: JSON path, its digits
      Float::NAN => "NaN",                  # not finite: JSON path, a string
      -Float::INFINITY => "-Infinity",
      { k: "x" } => nil,                    # a Hash: JSON path, flattened to v.k
      "caf\xE9".dup.force_encoding("ISO-8859-1") => "café", # transcoded by the JSON path
      Object.new.tap { |o| def o.to_s = "an object" } => nil,
    }.each do |value, expect|
      recs = capture_console { Ffitel.info("declined", v: value) }
      rec = recs.find { |r| r["msg"] == "declined" }
      refute_nil rec, "a record with #{value.class} must still be logged"
      assert_equal expect, rec["v"] if expect
      assert_equal "x", rec["v.k"] if value.is_a?(Hash)
    end
  end

  def input_errors
    buf = FFI::MemoryPointer.new(:char, 1 << 16)
    n = Ffitel::Native.ffitel_stats_json(buf, buf.size)
    JSON.parse(buf.read_string(n)).dig("pipeline", "input_errors")
  end

  def test_a_nil_value_is_left_out_and_counted
    before = input_errors
    recs = capture_console { Ffitel.info("with nil", ok: 1, gone: nil) }
    rec = recs.find { |r| r["msg"] == "with nil" }
    refute_nil rec
    assert_equal "1", rec["ok"]
    refute rec.key?("gone")
    assert_equal before + 1, input_errors, "the nil must count in pipeline.input_errors"
  end

  def test_declined_values_return_use_json_and_log_nothing
    log = Ffitel::NativeLog
    use_json = Ffitel::Native::RB_USE_JSON
    recs = capture_console do
      assert_equal use_json, log.log(Ffitel::INFO, "not logged", { v: [1] }, 0)
      assert_equal use_json, log.log(Ffitel::INFO, "not logged", { v: 2**64 }, 0)
      assert_equal use_json, log.log(Ffitel::INFO, "not logged", { v: Float::NAN }, 0)
      assert_equal use_json, log.log(Ffitel::INFO, "not logged", { v: Float::INFINITY }, 0)
      assert_equal use_json, log.log(Ffitel::INFO, "not logged", { ok: 1, v: nil }, 0)
      assert_equal use_json, log.log(Ffitel::INFO, :symbol_msg, nil, 0)
      assert_equal use_json, log.log(Ffitel::INFO, "not logged", [1, 2], 0)
      assert_equal use_json, log.log(Ffitel::INFO, "not logged", { 1 => "int key" }, 0)
      assert_equal use_json, log.log(Ffitel::INFO, "not logged", (0..128).to_h { |i| ["k#{i}", i] }, 0)
      assert_equal use_json, log.log(Ffitel::INFO, "latin1 \xE9".dup.force_encoding("ISO-8859-1"), nil, 0)
    end
    assert_empty recs.select { |r| r["msg"].to_s.start_with?("not logged", "latin1") }
  end

  def test_odd_arguments_are_result_codes_and_still_log
    log = Ffitel::NativeLog
    recs = capture_console do
      assert_equal Ffitel::Native::E_INVALID, log.log(99, "bad severity", nil, 0)
      assert_equal Ffitel::Native::E_INVALID, log.log("x", "severity not an int", nil, 0)
      assert_equal Ffitel::Native::E_HANDLE, log.log(Ffitel::INFO, "unknown span", nil, 2**70)
      assert_equal Ffitel::Native::E_HANDLE, log.log(Ffitel::INFO, "no such span", nil, 123_456_789)
      assert_equal Ffitel::Native::E_HANDLE, log.log(Ffitel::INFO, "negative span", nil, -1)
      assert_raises(ArgumentError) { log.log(Ffitel::INFO, "too few") }
    end
    msgs = recs.map { |r| r["msg"] }
    assert_equal ["bad severity", "severity not an int", "unknown span", "no such span", "negative span"], msgs
    assert_equal "99", recs[0]["ffitel.invalid_severity"]
  end

  def test_fields_and_span_reach_the_native_path
    ids = nil
    recs = capture_console do
      Ffitel.span("work") do |s|
        Ffitel.with_fields(job: "j-1", step: 1) { Ffitel.info("inside", step: 2) }
        ids = [s.trace_id, s.span_id]
      end
    end
    rec = recs.find { |r| r["msg"] == "inside" }
    assert_equal [*ids, "j-1", "2"], rec.values_at("trace_id", "span_id", "job", "step")
  end

  def test_many_attributes_are_not_lost
    attrs = (0...128).to_h { |i| [:"k#{i}", i] }
    rec = capture_console { Ffitel.info("wide", **attrs) }.find { |r| r["msg"] == "wide" }
    assert_equal "0", rec["k0"]
    assert_equal "127", rec["k127"]
  end
  # Runs +call+ (Ruby code using i) n times in a worker whose exports go to
  # a receiver that answers each after +reply_after+ seconds, beside a
  # thread that ticks every 5 ms; returns the longest call's seconds and the
  # ticks meanwhile. Held, the GVL lets that thread in at most around the
  # call's edges (a tick or two); released, it ticks through the wait.
  def longest_wait_and_ticks(call, n, reply_after, env)
    server = TCPServer.new("127.0.0.1", 0)
    acceptor = Thread.new do
      loop do
        conn = server.accept
        Thread.new(conn) do |c|
          loop do
            len = 0
            while (line = c.gets) && line != "\r\n"
              len = line.split(":", 2)[1].to_i if line.downcase.start_with?("content-length:")
            end
            break unless line
            c.read(len)
            sleep reply_after # a slow receiver: the queue stays full
            c.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n")
          end
        rescue IOError, SystemCallError
          nil
        ensure
          c.close
        end
      rescue IOError
        break
      end
    end
    code = <<~RUBY
      require "ffitel"
      Ffitel.init_telemetry
      native = Ffitel::Runtime.instance_variable_get(:@native_log)
      abort "no native log method: the test would take the JSON path" unless native
      ticks = 0
      stop = false
      ticker = Thread.new { until stop; sleep 0.005; ticks += 1; end }
      worst = [0.0, 0]
      #{n}.times do |i|
        before = ticks
        t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        #{call}
        took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
        worst = [took, ticks - before] if took > worst[0]
      end
      stop = true
      ticker.join
      puts format("WORST %.3f %d", *worst)
      Ffitel.shutdown(timeout: 1.0)
    RUBY
    base = { "TELEMETRY_ENABLED" => "true", "OTEL_EXPORTER_OTLP_PROTOCOL" => "http/protobuf",
             "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://127.0.0.1:#{server.addr[1]}",
             "OTEL_METRICS_EXPORTER" => "none", "FFITEL_LOG_OUTPUT" => "none" }
    out, err, status = run_ruby(code, env: base.merge(env), timeout: 120)
    assert_success(out, err, status)
    took, ticks = out[/^WORST (\S+) (\d+)$/, 0]&.split&.drop(1) || flunk("no WORST line in #{out}")
    assert_operator took.to_f, :>, 0.1, "no call waited for room (#{took} s): the test did not fill the queue"
    [took.to_f, ticks.to_i]
  ensure
    server&.close
    acceptor&.join(2)
  end

  # A record that finds the ring and the export queue full waits for room
  # (backpressure, at most FFITEL_QUEUE_FULL_WAIT_MS). The native method
  # waits without the GVL (rb_thread_call_without_gvl around the synchronous
  # path into Go; the ring's fast path keeps it): another Ruby thread runs
  # meanwhile. Held, the GVL let that thread in 0 times in half a second.
  def test_a_log_call_waiting_for_queue_room_lets_other_threads_run
    took, ticks = longest_wait_and_ticks('Ffitel.info("flood", i: i)', 20_000, 1.0,
                                         "OTEL_TRACES_EXPORTER" => "none", "OTEL_BLRP_MAX_QUEUE_SIZE" => "64",
                                         "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE" => "32",
                                         "FFITEL_QUEUE_FULL_WAIT_MS" => "500")
    assert_operator ticks, :>=, 10, "a record waited #{took} s and the other thread ticked #{ticks} times (the GVL was held)"
  end

  # Ending a span (or a task) may wait for room in a full span queue; the
  # ffi call is attached blocking, so ruby-ffi releases the GVL around it.
  def test_a_span_end_waiting_for_queue_room_lets_other_threads_run
    took, ticks = longest_wait_and_ticks('Ffitel.span("s#{i}") { }', 12, 0.5,
                                         "OTEL_LOGS_EXPORTER" => "none", "OTEL_BSP_MAX_QUEUE_SIZE" => "2",
                                         "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" => "1",
                                         "FFITEL_QUEUE_FULL_WAIT_MS" => "2000")
    assert_operator ticks, :>=, 10, "a span waited #{took} s and the other thread ticked #{ticks} times (the GVL was held)"
  end
end
