# frozen_string_literal: true

module Ffitel
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

      json = Attributes.encode!(attributes)
      return self if json.nil?

      Ffitel.__send__(:check_span_call, Native.ffitel_span_set_attributes(@handle, json, json.bytesize))
      self
    end

    # Adds a timestamped event: span.add_event("retry", attempt: 2).
    def add_event(name, attributes = nil, **attrs)
      return self if @ended

      attrs = attributes.merge(attrs) if attributes
      name = name.to_s
      json = Attributes.encode!(attrs)
      Ffitel.__send__(:check_span_call,
                      Native.ffitel_span_add_event(@handle, name, name.bytesize, json, json ? json.bytesize : 0))
      self
    end

    # The W3C traceparent header value, e.g. "00-<trace>-<span>-01".
    def traceparent
      return nil if @ended

      out = Native.read_buffer(64) { |buf, cap| Native.ffitel_span_traceparent(@handle, buf, cap) }
      return out if out.is_a?(String)

      Ffitel.__send__(:check_span_call, out)
      nil
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
    def finish(error: nil)
      return self if @ended

      @ended = true
      if error
        text = error.is_a?(Exception) ? "#{error.class}: #{error.message}" : error.to_s
        Native.ffitel_span_end(@handle, 0, text, text.bytesize)
      else
        Native.ffitel_span_end(@handle, 1, nil, 0)
      end
      self
    end

    def inspect
      "#<#{self.class} #{@name.inspect}#{@ended ? ' ended' : ''}>"
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
