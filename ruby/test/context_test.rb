# frozen_string_literal: true

require_relative "test_helper"

# The current span and fields are fiber-local: each thread and fiber has its own.
class ContextTest < Minitest::Test
  include FfitelTestHelpers

  def setup
    Ffitel.init_console
  end

  def test_threads_keep_their_own_current_span
    ready = Queue.new
    go = Queue.new
    results = Queue.new
    threads = 4.times.map do |i|
      Thread.new do
        Ffitel.span("thread-#{i}") do |s|
          ready << true
          go.pop
          results << [i, Ffitel.current_span.equal?(s), Ffitel.inject["traceparent"] == s.traceparent]
        end
      end
    end
    4.times { ready.pop }
    assert_nil Ffitel.current_span, "the main thread sees none of them"
    4.times { go << true }
    threads.each(&:join)
    got = 4.times.map { results.pop }.sort
    assert_equal 4.times.map { |i| [i, true, true] }, got
  end

  def test_fibers_keep_their_own_current_span_and_fields
    f1 = Fiber.new do
      Ffitel.with_fields(fiber: 1) do
        Ffitel.span("fiber-1") do |s|
          Fiber.yield [Ffitel.current_span.equal?(s), Ffitel.current_fields]
          [Ffitel.current_span.equal?(s), Ffitel.current_fields]
        end
      end
    end
    Ffitel.span("main") do |main_span|
      first = f1.resume
      assert_equal [true, { fiber: 1 }], first
      assert_same main_span, Ffitel.current_span, "resuming a fiber does not leak its span"
      assert_equal({}, Ffitel.current_fields)
      assert_equal [true, { fiber: 1 }], f1.resume
      assert_same main_span, Ffitel.current_span
    end
  end

  def test_child_spans_in_threads_started_from_a_captured_parent
    Ffitel.span("parent") do |parent|
      child_trace = Thread.new do
        child = Ffitel.start_span("child", parent: parent)
        trace = child.trace_id
        child.finish
        trace
      end.value
      assert_equal parent.trace_id, child_trace
    end
  end
end
