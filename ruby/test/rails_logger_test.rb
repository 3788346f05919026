# frozen_string_literal: true

require_relative "test_helper"
require "stringio"
require "active_support"
require "active_support/logger"
require "active_support/tagged_logging"

# Ffitel::Logger inside Rails' logger plumbing, with Debian's ActiveSupport
# (6.1): ActiveSupport::Logger.broadcast forwards only add, TaggedLogging
# keeps tags in its formatter.
class RailsLoggerTest < Minitest::Test
  include FfitelTestHelpers

  def test_broadcast_sees_every_record_of_an_ffitel_logger
    io = StringIO.new
    console = ActiveSupport::Logger.new(io)
    console.formatter = ->(severity, _time, _prog, msg) { "#{severity} #{msg}\n" }
    logger = Ffitel::Logger.new
    logger.extend(ActiveSupport::Logger.broadcast(console)) # what `rails server` does to Rails.logger
    recs = capture_console do
      logger.info("plain info")
      logger.warn("with attributes", order_id: 42)
      logger.error { "from a block" }
      logger.add(::Logger::INFO, "via add")
      logger << "appended"
    end
    assert_equal ["INFO plain info", "WARN with attributes", "ERROR from a block", "INFO via add", "appended"],
                 io.string.lines.map(&:chomp)
    by = recs.to_h { |r| [r["msg"], r] }
    ["plain info", "with attributes", "from a block", "via add", "appended"].each { |m| assert by.key?(m), m }
    assert_equal "42", by.dig("with attributes", "order_id"), "keyword attributes survive the add path"
  end

  def test_broadcast_level_and_silence_reach_the_ffitel_logger
    logger = Ffitel::Logger.new
    other = ActiveSupport::Logger.new(StringIO.new)
    other.extend(ActiveSupport::Logger.broadcast(logger)) # Ffitel as the broadcast target
    recs = capture_console do
      other.info("to both")
      other.silence(::Logger::ERROR) { other.info("silenced") }
      other.level = ::Logger::WARN
      other.info("below the level")
      other.warn("at the level")
    end
    msgs = recs.map { |r| r["msg"] }
    assert_includes msgs, "to both"
    assert_includes msgs, "at the level"
    refute_includes msgs, "silenced"
    refute_includes msgs, "below the level"
    assert_equal ::Logger::WARN, logger.level
  end

  def test_tagged_logging_tags_become_the_tags_attribute
    logger = ActiveSupport::TaggedLogging.new(Ffitel::Logger.new)
    recs = capture_console do
      logger.tagged("web", "req-1") do
        logger.info("in a request")
        logger.tagged("db") { logger.warn("nested", rows: 3) }
      end
      logger.tagged("job").info("tagged logger")
      logger.info("untagged")
    end
    by = recs.to_h { |r| [r["msg"], r] }
    assert_equal "[web req-1]", by.dig("in a request", "tags")
    assert_equal "[web req-1 db]", by.dig("nested", "tags")
    assert_equal "3", by.dig("nested", "rows")
    assert_equal "[job]", by.dig("tagged logger", "tags")
    refute by.fetch("untagged").key?("tags")
    assert_equal "in a request", by.fetch("in a request")["msg"], "the tags are not pasted into the message"
  end
end
