# frozen_string_literal: true

require "json"

module Ffitel
  class << self
    # Runs the block in a new span, the child of the current span (or of
    # +traceparent+, a W3C header value from an incoming request or job,
    # when there is no current span). The span is the current span inside
    # the block (fiber-local). An exception ends it with status ERROR and is
    # re-raised unchanged. Returns the block's value.
    #
    # kind: :internal, :server, :client, :producer, :consumer.
    def span(name, kind: :internal, attributes: nil, traceparent: nil)
      raise ArgumentError, "Ffitel.span needs a block" unless block_given?

      span = start_span(name, kind: kind, attributes: attributes, traceparent: traceparent)
      Context.run_as_current(span) { yield span }
    end

    # Starts a span without making it current; end it with span.finish. For
    # callbacks that cannot wrap a block (e.g. Rack middleware pairs).
    def start_span(name, kind: :internal, attributes: nil, traceparent: nil, parent: current_span)
      name = name.to_s
      return NullSpan.new(name) unless Runtime.usable?

      kind_number = kind.is_a?(Integer) ? kind : SPAN_KINDS.fetch(kind.to_sym) { raise ArgumentError, "unknown span kind #{kind.inspect}" }
      json = Attributes.encode(attributes || Attributes::EMPTY, Thread.current[FIELDS_KEY])
      parent_handle = Context.handle_of(parent) # an ended parent is none
      tp = parent_handle.zero? && traceparent ? traceparent.to_s : nil
      handle = Native.handle(Native.ffitel_span_start(name, name.bytesize, parent_handle, tp, tp ? tp.bytesize : 0,
                                                      json, json ? json.bytesize : 0, kind_number)) {
        "cannot start span #{name.inspect}"
      }
      handle ? Span.new(name, handle) : NullSpan.new(name)
    end

    # Headers that carry the current span to another process, as the
    # configured propagators (OTEL_PROPAGATORS) write them:
    # {"traceparent" => "00-...", "tracestate" => "..."} (tracestate and
    # baggage only when present), or {} outside any span (and in a forked
    # child). With a Hash, fills it in and returns it.
    def inject(carrier = {})
      span = current_span
      return carrier if span.nil? || span.handle.zero? || span.ended?

      out = Native.read_string(256) { |buf, cap| Native.ffitel_span_inject(span.handle, buf, cap) }
      return carrier unless out # a forked child: nothing to inject

      headers = JSON.parse(out)
      headers.each { |key, value| carrier[key] = value if value.is_a?(String) && !value.empty? } if headers.is_a?(Hash)
      carrier
    end
  end

  # A span started by Ffitel.span. It is the current span of the fiber that
  # runs the block: records logged and spans started inside it are its
  # children. Methods return self, so calls chain.
  class Span
    attr_reader :name, :handle

    def initialize(name, handle)
      @name = name
      @handle = handle
      @ended = false
    end

    # Whether this span is exported (false for the no-op span used in a
    # forked child or when the library is unavailable).
    def recording?
      true
    end

    def ended?
      @ended
    end

    def set_attribute(key, value)
      set_attributes(key => value)
    end

    def set_attributes(attributes)
      return self if @ended

      json = Attributes.encode(attributes)
      return self if json.nil?

      Native.check(Native.ffitel_span_set_attributes(@handle, json, json.bytesize))
      self
    end

    # Adds a timestamped event: span.add_event("retry", attempt: 2).
    def add_event(name, attributes = nil, **attrs)
      return self if @ended

      attrs = attributes.merge(attrs) if attributes
      name = name.to_s
      json = Attributes.encode(attrs)
      Native.check(Native.ffitel_span_add_event(@handle, name, name.bytesize, json, json ? json.bytesize : 0))
      self
    end

    # The W3C traceparent header value, e.g. "00-<trace>-<span>-01".
    def traceparent
      return nil if @ended

      Native.read_string(64) { |buf, cap| Native.ffitel_span_traceparent(@handle, buf, cap) }
    end

    # The 32-hex-digit trace id, from traceparent.
    def trace_id
      traceparent&.split("-")&.at(1)
    end

    # The 16-hex-digit span id, from traceparent.
    def span_id
      traceparent&.split("-")&.at(2)
    end

    # Ends the span; +error+ (an Exception or a String) sets status ERROR and
    # records an exception event. Idempotent. Called by Ffitel.span.
    #
    # An asynchronous interrupt (Thread#raise, Timeout, a job framework's
    # shutdown) arriving meanwhile is delivered once the library has the
    # end, not before: ruby-ffi checks for interrupts before the (GVL
    # releasing) end call and would raise instead of making it, leaving the
    # span open until shutdown. The end waits at most for queue room
    # (FFITEL_QUEUE_FULL_WAIT_MS), so the interrupt waits no longer.
    # The error's text is worked out first, unmasked: it runs the error's
    # own code (message, full_message), and a failure there still ends the
    # span, with a placeholder text.
    def finish(error: nil)
      return self if @ended

      text = error && describe_error_safely(error)
      Thread.handle_interrupt(DEFER_INTERRUPTS) do
        return self if @ended

        @ended = true
        end_native(text)
      end
      self
    end

    DEFER_INTERRUPTS = { Object => :never }.freeze
    private_constant :DEFER_INTERRUPTS

    def inspect
      "#<#{self.class} #{@name.inspect}#{@ended ? ' ended' : ''}>"
    end

    private

    # The status description finish sends for +error+.
    def describe_error(error)
      error.is_a?(Exception) ? "#{error.class}: #{error.message}" : error.to_s
    end

    def describe_error_safely(error)
      describe_error(error)
    rescue StandardError => e
      "#{error.class} (#{e.class} while describing it)"
    end

    # Ends the span in the library: ok without +text+, failed with it.
    def end_native(text)
      text = Runtime.owned(text)
      Native.ffitel_span_end(@handle, text ? 0 : 1, text, text ? text.bytesize : 0)
    end
  end

  # Stands in for a span where nothing can be exported: in a child forked
  # after the library was loaded, or when the library is unavailable.
  class NullSpan < Span
    def initialize(name)
      super(name, 0)
    end

    def recording?
      false
    end

    def set_attributes(_attributes)
      self
    end

    def add_event(_name, _attributes = nil, **_attrs)
      self
    end

    def traceparent
      nil
    end

    def finish(error: nil) # rubocop:disable Lint/UnusedMethodArgument
      @ended = true
      self
    end
  end
end
