# frozen_string_literal: true

require_relative "test_helper"

# An asynchronous interrupt (Thread#raise, Timeout, a job framework's
# shutdown) that arrives while a span or task is ending must not skip the
# library's end: the span would stay open until shutdown. finish defers
# interrupts until the library has the end, then delivers them.
class InterruptTest < Minitest::Test
  include FfitelTestHelpers

  class AsyncInterrupt < StandardError; end
  class InBlock < StandardError; end

  def setup
    Ffitel.init_console
  end

  # Runs the block with an AsyncInterrupt raised at this thread just as it
  # calls the library function +fn+ (the moment ruby-ffi checks for
  # interrupts before a blocking call). Returns the interrupt, once
  # delivered.
  def interrupted_at(fn)
    me = Thread.current
    fired = false
    trace = TracePoint.new(:c_call) do |tp|
      next unless tp.method_id == fn && Thread.current.equal?(me) && !fired

      fired = true
      me.raise(AsyncInterrupt, "async") # delivered now unless deferred
    end
    begin
      trace.enable { yield }
    rescue AsyncInterrupt => e
      e
    ensure
      assert fired, "#{fn} was called"
    end
  end

  def test_an_interrupt_at_the_end_call_does_not_skip_a_span_end
    span = Ffitel.start_span("interrupted end")
    refute_equal 0, span.handle
    assert_kind_of AsyncInterrupt, interrupted_at(:ffitel_span_end) { span.finish }, "the interrupt is delivered"
    assert span.ended?
    assert_equal Ffitel::Native::E_HANDLE, Ffitel::Native.ffitel_span_end(span.handle, 1, nil, 0),
                 "the library ended the span (an open one would end now)"
  end

  def test_an_interrupt_at_the_end_call_does_not_skip_a_task_end
    task = Ffitel.start_task("InterruptedJob")
    refute_equal 0, task.handle
    got = interrupted_at(:ffitel_task_end) { task.finish(error: RuntimeError.new("boom")) }
    assert_kind_of AsyncInterrupt, got
    assert_equal Ffitel::Native::E_HANDLE, Ffitel::Native.ffitel_task_end(task.handle, 1, nil, 0),
                 "the library ended the task"
  end

  def test_an_interrupt_while_a_failed_span_block_ends_is_raised_with_the_error_as_cause
    handle = nil
    got = interrupted_at(:ffitel_span_end) do
      Ffitel.span("block") do |s|
        handle = s.handle
        raise InBlock, "the block's own error"
      end
    end
    assert_kind_of AsyncInterrupt, got
    assert_kind_of InBlock, got.cause
    assert_equal Ffitel::Native::E_HANDLE, Ffitel::Native.ffitel_span_end(handle, 1, nil, 0)
    assert_nil Ffitel.current_span
  end

  # The ensure path: the block returned, the interrupt arrives as the span
  # ends. The span must not stay current (ended) on this thread: later spans
  # start as usual.
  def test_an_interrupt_while_a_span_block_ends_leaves_no_ended_current_span
    outer = Ffitel.start_span("outer")
    inner = current = nil
    got = Ffitel::Context.run_as_current(outer) do
      e = interrupted_at(:ffitel_span_end) { Ffitel.span("inner") { |s| inner = s.handle } }
      current = Ffitel.current_span
      e
    end
    assert_kind_of AsyncInterrupt, got
    assert_same outer, current, "the outer span is current again, not the ended inner one"
    assert_equal Ffitel::Native::E_HANDLE, Ffitel::Native.ffitel_span_end(inner, 1, nil, 0)
    assert_nil Ffitel.current_span
    Ffitel.span("after") { |s| refute_equal 0, s.handle }
    assert_equal Ffitel::Native::E_HANDLE, Ffitel::Native.ffitel_span_end(outer.handle, 1, nil, 0), "outer ended"
  end

  def test_an_ended_explicit_parent_counts_as_none
    parent = Ffitel.start_span("parent")
    parent_trace = parent.trace_id
    refute_nil parent_trace
    parent.finish
    child = Ffitel.start_span("child", parent: parent)
    refute_equal 0, child.handle, "started as a root, not refused"
    refute_equal parent_trace, child.trace_id, "a new trace"
    child.finish
  end

  # An error whose message raises still ends the span (with a placeholder
  # text), and the caller sees the block's error.
  def test_an_error_whose_message_raises_still_ends_the_span
    bad = Class.new(StandardError) { def message = raise(ArgumentError, "no message") }
    handle = nil
    err = assert_raises(bad) { Ffitel.span("bad message") { |s| handle = s.handle; raise bad } }
    assert_kind_of bad, err
    assert_equal Ffitel::Native::E_HANDLE, Ffitel::Native.ffitel_span_end(handle, 1, nil, 0)
  end
end
