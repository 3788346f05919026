# frozen_string_literal: true

require_relative "test_helper"

# Ffitel.logger against the ::Logger interface Rails, Sidekiq and most gems use.
class LoggerTest < Minitest::Test
  include FfitelTestHelpers

  def setup
    Ffitel.init_console
    @logger = Ffitel::Logger.new
  end

  def find(recs, msg)
    recs.find { |r| r["msg"] == msg } or flunk("no record #{msg.inspect} in #{recs.map { |r| r['msg'] }}")
  end

  def test_is_a_ruby_logger
    assert_kind_of ::Logger, Ffitel.logger
    assert_same Ffitel.logger, Ffitel.logger
  end

  def test_severity_methods_with_message_and_block
    recs = capture_console do
      @logger.debug("m-debug")
      @logger.info { "m-block" }
      @logger.warn("m-warn")
      @logger.error("m-error")
      @logger.fatal("m-fatal")
      @logger.unknown("m-unknown")
    end
    assert_equal "DEBUG", find(recs, "m-debug")["level"]
    assert_equal "INFO", find(recs, "m-block")["level"]
    assert_equal "WARN", find(recs, "m-warn")["level"]
    assert_equal "ERROR", find(recs, "m-error")["level"]
    refute_nil find(recs, "m-fatal")
    refute_nil find(recs, "m-unknown")
  end

  def test_add_and_log_with_progname
    recs = capture_console do
      @logger.add(::Logger::INFO, "via add")
      @logger.log(::Logger::WARN, "via log", "billing")
      @logger.add(::Logger::INFO, nil, "progname is the message")
      @logger.info("sidekiq") { "block wins, progname kept" }
      @logger.progname = "myapp"
      @logger.info("with default progname")
    end
    refute_nil find(recs, "via add")
    assert_equal "billing", find(recs, "via log")["progname"]
    refute find(recs, "progname is the message").key?("progname")
    assert_equal "sidekiq", find(recs, "block wins, progname kept")["progname"]
    assert_equal "myapp", find(recs, "with default progname")["progname"]
  end

  def test_attributes_as_keywords
    recs = capture_console do
      @logger.info("charged", order_id: 42, user: "alice")
      @logger.warn(retry: 2) { "from block with attrs" }
    end
    assert_equal %w[42 alice], find(recs, "charged").values_at("order_id", "user")
    assert_equal "2", find(recs, "from block with attrs")["retry"]
  end

  def test_level_accepts_integers_symbols_and_strings
    @logger.level = :warn
    assert_equal ::Logger::WARN, @logger.level
    refute @logger.info?
    assert @logger.warn?
    @logger.level = "error"
    assert_equal ::Logger::ERROR, @logger.level
    @logger.level = ::Logger::DEBUG
    assert @logger.debug?
    recs = capture_console do
      @logger.level = :warn
      called = false
      @logger.info { called = true; "dropped" }
      refute called, "a block below the level is not evaluated"
      @logger.warn("kept")
    end
    assert_nil recs.find { |r| r["msg"] == "dropped" }
    refute_nil find(recs, "kept")
  end

  def test_formatter_and_datetime_format_are_accepted
    @logger.formatter = proc { |*_| "ignored" }
    @logger.datetime_format = "%H"
    recs = capture_console { @logger.info("formatted by the library") }
    refute_nil find(recs, "formatted by the library")
  end

  def test_shovel_close_reopen
    recs = capture_console do
      @logger << "raw line\n"
      @logger.close
      @logger.reopen
      @logger.info("still works after close")
    end
    refute_nil find(recs, "raw line")
    refute_nil find(recs, "still works after close")
  end

  def test_exception_and_object_messages
    err = begin
      raise ArgumentError, "bad input"
    rescue ArgumentError => e
      e
    end
    recs = capture_console do
      @logger.error(err)
      @logger.info(order: 1)
    end
    rec = find(recs, "bad input (ArgumentError)")
    assert_equal "ArgumentError", rec["exception.type"]
    assert_includes rec["exception.stacktrace"], "logger_test.rb"
    refute_nil find(recs, { order: 1 }.inspect)
  end

  def test_with_fields_block_and_bound
    recs = capture_console do
      @logger.with_fields(request_id: "r1") { @logger.info("scoped") }
      child = @logger.with_fields(component: "mailer")
      child.info("bound")
      @logger.info("plain")
    end
    assert_equal "r1", find(recs, "scoped")["request_id"]
    assert_equal "mailer", find(recs, "bound")["component"]
    refute find(recs, "plain").key?("component")
  end

  def test_tagged
    recs = capture_console do
      @logger.tagged("web", "req-1") { @logger.info("tagged block") }
      @logger.tagged("worker").info("tagged logger")
    end
    assert_equal "[web req-1]", find(recs, "tagged block")["tags"]
    assert_equal "[worker]", find(recs, "tagged logger")["tags"]
  end

  def test_silence_is_fiber_local
    recs = capture_console do
      @logger.silence do
        @logger.info("silenced")
        Thread.new { @logger.info("other thread not silenced") }.join
        @logger.error("errors pass")
      end
      @logger.info("loud again")
    end
    assert_nil recs.find { |r| r["msg"] == "silenced" }
    refute_nil find(recs, "other thread not silenced")
    refute_nil find(recs, "errors pass")
    refute_nil find(recs, "loud again")
  end

  def test_logger_records_carry_current_span
    recs = capture_console do
      Ffitel.span("req") do |s|
        @ids = [s.trace_id, s.span_id]
        @logger.info("in span")
      end
    end
    assert_equal @ids, find(recs, "in span").values_at("trace_id", "span_id")
  end

  def test_broadcast_style_usage
    # The calls ActiveSupport::Logger.broadcast and Sidekiq make on a logger.
    @logger.progname = "x"
    @logger.local_level = nil if @logger.respond_to?(:local_level=)
    assert_respond_to @logger, :silence
    assert_respond_to @logger, :formatter
    assert_respond_to @logger, :datetime_format
    assert_equal true, @logger.add(::Logger::INFO, "returns true like ::Logger")
  end
end
