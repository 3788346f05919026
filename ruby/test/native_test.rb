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
end
