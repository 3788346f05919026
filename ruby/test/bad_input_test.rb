# frozen_string_literal: true

require_relative "test_helper"

# Bad input (issue #12): the user's code always runs, logging never raises,
# nothing vanishes without a count, valid attributes are never lost because
# of a bad one.
class BadInputTest < Minitest::Test
  include FfitelTestHelpers

  class Unprintable
    def to_s = raise("to_s boom")
    def inspect = raise("inspect boom")
  end

  def input_errors
    Ffitel.stats.dig("pipeline", "input_errors")
  end

  def test_nan_and_infinity_attributes_do_not_stop_spans_or_events
    ran = []
    Ffitel.span("nan span", attributes: { ratio: Float::NAN, big: Float::INFINITY }) do |span|
      ran << :block
      span.set_attribute("ratio2", Float::NAN)
      span.set_attributes("neg" => -Float::INFINITY, "ok" => 1)
      span.add_event("nan event", x: Float::NAN)
    end
    assert_equal [:block], ran
    Ffitel.counter_add("rb.badinput.nan", 1, ratio: Float::NAN)
    id = Ffitel.publish_event("rbtest.nan", { "x" => Float::NAN, "list" => [1.0, -Float::INFINITY] },
                              namespace: "ns", correlation_id: "c")
    assert_match(/\A\h{8}-/, id)
  end

  def test_attribute_encoding_keeps_the_valid_ones
    json = Ffitel::Attributes.encode(nan: Float::NAN, inf: Float::INFINITY, ninf: -Float::INFINITY,
                                     big: 2**64 - 1, small: -(2**70), ok: 1, s: "x",
                                     nested: [1, [2, 3]], maps: [{ "a" => 1 }], flat: [1, 2],
                                     gone: nil, obj: Unprintable.new)
    doc = JSON.parse(json)
    assert_equal({ "nan" => "NaN", "inf" => "Infinity", "ninf" => "-Infinity",
                   "big" => "18446744073709551615", "small" => (-(2**70)).to_s, "ok" => 1, "s" => "x",
                   "nested" => "[1,[2,3]]", "maps" => '[{"a":1}]', "flat" => [1, 2],
                   "obj" => "<unprintable BadInputTest::Unprintable: RuntimeError>" }, doc)
    refute doc.key?("gone"), "nil values are left out"
  end

  def test_nil_values_are_dropped_and_counted
    before = input_errors
    recs = capture_console { Ffitel.info("with a nil", kept: 1, gone: nil) }
    rec = recs.find { |r| r["msg"] == "with a nil" }
    assert_equal "1", rec["kept"]
    refute rec.key?("gone")
    assert_operator input_errors, :>=, before + 1
  end

  def test_log_records_keep_valid_attributes_beside_bad_ones
    recs = capture_console do
      Ffitel.info("mixed", ok: "yes", nested: [[1], 2], big: 2**64 - 1, ratio: Float::NAN)
    end
    rec = recs.find { |r| r["msg"] == "mixed" }
    assert_equal "yes", rec["ok"]
    assert_equal "[[1],2]", rec["nested"]
    assert_equal "18446744073709551615", rec["big"]
    refute rec.key?("ffitel.invalid_attributes"), rec.inspect
  end

  def test_logger_with_unprintable_message_logs_a_placeholder_and_counts_it
    before = input_errors
    recs = capture_console do
      assert_equal true, Ffitel.logger.info(Unprintable.new)
      assert_equal true, Ffitel.logger.warn { raise ArgumentError, "block boom" }
      Ffitel.info(Unprintable.new)
    end
    msgs = recs.map { |r| r["msg"] }
    assert_equal 2, msgs.count("<unprintable BadInputTest::Unprintable: RuntimeError>"), msgs.inspect
    assert_includes msgs, "<log block raised ArgumentError: block boom>"
    assert_operator input_errors, :>=, before + 3
  end

  def test_logger_attributes_with_unprintable_values_and_progname
    recs = capture_console { Ffitel.logger.add(::Logger::INFO, "odd progname", Unprintable.new) }
    rec = recs.find { |r| r["msg"] == "odd progname" }
    assert_equal "<unprintable BadInputTest::Unprintable: RuntimeError>", rec["progname"]
  end

  # The values the Collector receives for span attributes.
  def test_span_attributes_at_the_collector
    service = "rb-badinput-#{rand(1 << 30)}"
    out, err, status = run_ruby(<<~RUBY, env: collector.env(service))
      require "ffitel"
      Ffitel.init_telemetry
      Ffitel.span("bad attrs", attributes: { ratio: Float::NAN, id: 2**64 - 1, rows: [[1, 2], 3], gone: nil, ok: 1 }) do |s|
        s.set_attribute("later", -Float::INFINITY)
      end
      puts Ffitel.shutdown(timeout: 10)
    RUBY
    assert_success(out, err, status)
    span = nil
    assert wait_for { span = collector.spans.find { |s| s["service"] == service } }, "no span arrived"
    attrs = span["attrs"]
    assert_equal({ "ratio" => "NaN", "id" => "18446744073709551615", "rows" => "[[1,2],3]", "ok" => 1,
                   "later" => "-Infinity" }, attrs.slice("ratio", "id", "rows", "ok", "later", "gone"))
  end
end
