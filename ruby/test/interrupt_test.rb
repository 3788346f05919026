# frozen_string_literal: true

require_relative "test_helper"

# An asynchronous interrupt (Thread#raise, Timeout, a job framework's
# shutdown) that arrives while a span or task is ending must not skip the
# library's end: the span would stay open until shutdown. finish defers
# interrupts until the library has the end, then delivers them.
class InterruptTest < Minitest::Test
  include FfitelTestHelpers

  class AsyncInterrupt < StandardError; end

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

  def test_an_interrupt_in_a_span_block_ends_the_span_failed_and_is_raised
    handle = nil
    got = interrupted_at(:ffitel_span_end) do
      Ffitel.span("block") do |s|
        handle = s.handle
        Thread.current.raise(AsyncInterrupt, "first") # e.g. Timeout in the block
      end
    end
    assert_kind_of AsyncInterrupt, got
    assert_equal Ffitel::Native::E_HANDLE, Ffitel::Native.ffitel_span_end(handle, 1, nil, 0)
  end
end
