# frozen_string_literal: true

module Ffitel
  class << self
    # Every record logged and span started inside the block carries +attrs+
    # (fiber-local: other threads and fibers are not affected). Nests.
    def with_fields(**attrs)
      t = Thread.current
      previous = t[FIELDS_KEY]
      t[FIELDS_KEY] = (previous ? previous.merge(attrs) : attrs).freeze
      yield
    ensure
      t[FIELDS_KEY] = previous if t
    end

    # The fields of the enclosing with_fields blocks ({} outside any).
    def current_fields
      Thread.current[FIELDS_KEY] || Attributes::EMPTY
    end

    # The span of the innermost Ffitel.span block in this fiber, or nil.
    def current_span
      Thread.current[SPAN_KEY]
    end
  end

  # Internal: the fiber-local current span and fields (Thread#[] is
  # fiber-local), for the block forms of spans and tasks and for job
  # framework integrations that wrap a handler.
  module Context
    # Makes +span+ (a Span or Task) the current span while the block runs
    # and ends it: with the error on an exception (re-raised unchanged),
    # normally otherwise (break/throw/next included). Returns the block's
    # value.
    def self.run_as_current(span)
      t = Thread.current
      previous = t[SPAN_KEY]
      t[SPAN_KEY] = span
      begin
        yield
      rescue Exception => e # rubocop:disable Lint/RescueException
        span.finish(error: e)
        raise
      ensure
        # Restored first: an interrupt finish defers is delivered as it
        # returns, and must not leave the ended span current.
        t[SPAN_KEY] = previous
        span.finish # no-op after an error
      end
    end

    # The handle of +span+ for a library call that takes a parent or current
    # span: 0 for none, an ended span or a no-op span.
    def self.handle_of(span)
      span && !span.ended? ? span.handle : 0
    end
  end
end
