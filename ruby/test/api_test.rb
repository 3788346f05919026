# frozen_string_literal: true

require_relative "test_helper"

class ApiTest < Minitest::Test
  include FfitelTestHelpers

  def setup
    Ffitel.init_telemetry # export is off here (no TELEMETRY_ENABLED): console only
  end

  def test_require_loads_nothing_until_first_use
    out, err, status = run_ruby(<<~RUBY)
      mapped = -> { File.read("/proc/self/maps").include?("libffitel") }
      require "ffitel"
      Ffitel.logger
      Ffitel.enabled?(:debug)
      puts "after require: \#{mapped.call} phase=\#{Ffitel.phase}"
      Ffitel.info("first use")
      puts "after first log: \#{mapped.call} phase=\#{Ffitel.phase}"
    RUBY
    assert_success(out, err, status)
    assert_includes out, "after require: false phase=none"
    assert_includes out, "after first log: true phase=console"
  end

  def test_phases_are_symbols
    assert_equal :telemetry, Ffitel.phase
    assert Ffitel.init_console, "init_console after phase 2 is an idempotent no-op"
    assert_equal :telemetry, Ffitel.phase
  end

  def test_shutdown_moves_to_phase_shutdown_and_logging_still_reaches_console
    out, err, status = run_ruby(<<~RUBY)
      require "ffitel"
      Ffitel.init_telemetry
      p Ffitel.shutdown(timeout: 2.0)
      p Ffitel.phase
      Ffitel.info("after shutdown")
      begin
        Ffitel.init_telemetry
      rescue Ffitel::Error => e
        puts "error: \#{e.message}"
      end
    RUBY
    assert_success(out, err, status)
    assert_equal ["true", ":shutdown"], out.lines.first(2).map(&:strip)
    assert_match(/^error: \S/, out)
    assert(json_lines(err).any? { |r| r["msg"] == "after shutdown" })
  end

  def test_info_carries_attributes
    recs = capture_console { assert Ffitel.info("charged card", order_id: 42, user: "alice", ok: true, ratio: 0.5) }
    rec = recs.find { |r| r["msg"] == "charged card" }
    refute_nil rec
    assert_equal "INFO", rec["level"]
    assert_equal %w[42 alice true 0.5], rec.values_at("order_id", "user", "ok", "ratio")
  end

  def test_levels_map_to_library_levels
    recs = capture_console do
      Ffitel.debug("d")
      Ffitel.info("i")
      Ffitel.warn("w")
      Ffitel.error("e")
      Ffitel.log(:warning, "w2")
    end
    levels = recs.to_h { |r| [r["msg"], r["level"]] }
    assert_equal({ "d" => "DEBUG", "i" => "INFO", "w" => "WARN", "e" => "ERROR", "w2" => "WARN" }, levels.slice("d", "i", "w", "e", "w2"))
    assert Ffitel.enabled?(:debug)
    assert Ffitel.enabled?(Ffitel::ERROR)
    refute Ffitel.enabled?(:trace), "LOG_LEVEL=debug filters trace"
  end

  def test_logging_never_raises
    weird = Object.new
    def weird.to_s = raise("boom")
    def weird.inspect = raise("boom")
    recs = capture_console do
      Ffitel.info("nan", x: Float::NAN)
      Ffitel.info("weird", x: weird)
      Ffitel.info("binary \xff\xfe".b)
      Ffitel.info(nil)
      Ffitel.info(12345)
      Ffitel.info((+"latin1 caf\xe9").force_encoding("ISO-8859-1"))
      Ffitel.info("nested", http: { method: "GET" }, tags: %w[a b])
    end
    msgs = recs.map { |r| r["msg"] }
    %w[nan weird nested 12345].each { |m| assert_includes msgs, m }
    assert(msgs.any? { |m| m.start_with?("binary") })
    assert_includes msgs, "latin1 café"
    nested = recs.find { |r| r["msg"] == "nested" }
    assert_equal "GET", nested["http.method"]
  end

  def test_span_yields_span_and_returns_block_value
    value = Ffitel.span("work", kind: :client, attributes: { amount: 5 }) do |span|
      assert_kind_of Ffitel::Span, span
      assert_same span, Ffitel.current_span
      assert_match(/\A00-\h{32}-\h{16}-\h{2}\z/, span.traceparent)
      assert_same span, span.set_attribute("ok", true).add_event("retry", attempt: 2)
      :result
    end
    assert_equal :result, value
    assert_nil Ffitel.current_span
  end

  def test_nested_spans_share_the_trace_and_logs_carry_ids
    recs = capture_console do
      Ffitel.span("outer") do |outer|
        Ffitel.span("inner") do |inner|
          assert_equal outer.trace_id, inner.trace_id
          refute_equal outer.span_id, inner.span_id
          Ffitel.info("inside inner")
          @ids = [inner.trace_id, inner.span_id]
        end
        assert_same outer, Ffitel.current_span
      end
    end
    rec = recs.find { |r| r["msg"] == "inside inner" }
    assert_equal @ids, [rec["trace_id"], rec["span_id"]]
  end

  def test_span_exception_is_reraised_unchanged_and_span_ended
    error = Class.new(StandardError)
    raised = error.new("card declined")
    span = nil
    e = assert_raises(error) do
      Ffitel.span("charge") do |s|
        span = s
        raise raised
      end
    end
    assert_same raised, e
    assert span.ended?
    assert_nil Ffitel.current_span
  end

  def test_span_from_incoming_traceparent
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    Ffitel.span("consume", kind: :consumer, traceparent: tp) do |s|
      assert_equal "4bf92f3577b34da6a3ce929d0e0e4736", s.trace_id
    end
  end

  def test_span_rejects_unknown_kind_and_needs_a_block
    assert_raises(ArgumentError) { Ffitel.span("x", kind: :sideways) { nil } }
    assert_raises(ArgumentError) { Ffitel.span("x") }
  end

  def test_inject
    assert_equal({}, Ffitel.inject)
    Ffitel.span("producer", kind: :producer) do |s|
      assert_equal({ "traceparent" => s.traceparent }, Ffitel.inject)
      headers = { "x" => "y" }
      assert_same headers, Ffitel.inject(headers)
      assert_equal s.traceparent, headers["traceparent"]
    end
  end

  def test_with_fields_nests_and_restores
    recs = capture_console do
      Ffitel.with_fields(correlation_id: "c1", namespace: "payments") do
        Ffitel.with_fields(namespace: "billing") do
          assert_equal({ correlation_id: "c1", namespace: "billing" }, Ffitel.current_fields)
          Ffitel.info("inner", extra: 1)
        end
        Ffitel.info("outer")
      end
      Ffitel.info("outside")
    end
    by = recs.to_h { |r| [r["msg"], r] }
    assert_equal ["c1", "billing", "1"], by["inner"].values_at("correlation_id", "namespace", "extra")
    assert_equal ["c1", "payments"], by["outer"].values_at("correlation_id", "namespace")
    refute by["outside"].key?("correlation_id")
    assert_equal({}, Ffitel.current_fields)
  end

  def test_with_fields_restored_after_exception
    assert_raises(RuntimeError) { Ffitel.with_fields(a: 1) { raise "x" } }
    assert_equal({}, Ffitel.current_fields)
  end

  def test_counter_and_histogram
    assert Ffitel.counter_add("rb.jobs.done", 1, queue: "mail")
    assert Ffitel.histogram_record("rb.batch.size", 12, unit: "{item}", queue: "mail")
    e = assert_raises(Ffitel::Error) { Ffitel.counter_add("9 not a name", 1) }
    refute_empty e.message
    assert_equal(-1, e.code)
    assert_raises(Ffitel::Error) { Ffitel.counter_add("rb.negative", -1) }
  end

  def test_stats_is_a_hash_with_pipeline_counts
    stats = Ffitel.stats
    assert_equal "telemetry", stats.dig("pipeline", "phase")
    %w[emitted exported dropped failed pending].each { |k| assert_kind_of Integer, stats.dig("pipeline", "logs", k) }
  end

  def test_library_path_prefers_ffitel_library
    old = ENV["FFITEL_LIBRARY"]
    ENV["FFITEL_LIBRARY"] = "/somewhere/libffitel.so"
    assert_equal "/somewhere/libffitel.so", Ffitel.library_path
  ensure
    old ? ENV["FFITEL_LIBRARY"] = old : ENV.delete("FFITEL_LIBRARY")
  end

  def test_library_path_defaults_to_the_gem_copy_then_the_build_tree
    old = ENV.delete("FFITEL_LIBRARY")
    gem_copy = File.join(RUBY_LIB, "ffitel", "libffitel.so")
    expected = File.exist?(gem_copy) ? gem_copy : File.join(REPO_ROOT, "build", "libffitel.so")
    assert_equal expected, Ffitel.library_path
  ensure
    ENV["FFITEL_LIBRARY"] = old if old
  end

  def test_missing_library_raises_for_init_and_falls_back_for_logging
    out, err, status = run_ruby(<<~RUBY, env: { "FFITEL_LIBRARY" => "/nonexistent/libffitel.so" })
      require "ffitel"
      Ffitel.info("still logged", a: 1)
      begin
        Ffitel.init_console
      rescue Ffitel::Error => e
        puts "error: \#{e.message}"
      end
      Ffitel.span("noop") { |s| puts "recording=\#{s.recording?}" } rescue puts "span raised"
    RUBY
    assert_success(out, err, status)
    assert_match(%r{error: cannot load /nonexistent/libffitel.so}, out)
    assert_includes err, "still logged a=1"
  end
end
