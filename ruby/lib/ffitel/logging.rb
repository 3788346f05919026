# frozen_string_literal: true

module Ffitel
  class << self
    # Ffitel.trace / debug / info / warn (warning) / error / fatal(msg,
    # **attrs): logs +msg+ with +attrs+ over the current fields, in the
    # current span. Never raises; false when the record went to the
    # fallback logger.
    { trace: TRACE, debug: DEBUG, info: INFO, warn: WARN, error: ERROR, fatal: FATAL }.each do |name, severity|
      class_eval <<~RUBY, __FILE__, __LINE__ + 1
        def #{name}(msg, **attrs)
          Logging.emit(#{severity}, msg, attrs)
        end
      RUBY
    end
    alias warning warn

    # Logs at +level+ (a Symbol from SEVERITIES or a severity number 1..24).
    def log(level, msg, **attrs)
      Logging.emit(level.is_a?(Integer) ? level : SEVERITIES.fetch(level.to_sym, INFO), msg, attrs)
    end

    # Whether a record at +level+ would be logged (LOG_LEVEL). Does not load
    # the library: before it is loaded, LOG_LEVEL is read here.
    def enabled?(level)
      severity = level.is_a?(Integer) ? level : SEVERITIES.fetch(level.to_sym)
      levels = Runtime.levels
      return levels[severity] || false if levels

      severity >= Fallback.threshold
    end

    # The ::Logger-compatible logger (Ffitel::Logger), one per process.
    def logger
      @logger ||= Ffitel::Logger.new
    end
  end

  # Internal: the path of one log record, for Ffitel.info and friends and
  # Ffitel::Logger. Logging never raises into the host.
  module Logging
    class << self
      # Logs +msg+ with +attrs+ over the current fields, in the current span.
      # True when the library took it (or the level is off); false when it
      # went to the fallback logger. The hot path: one level check, JSON only
      # when there are attributes or fields, one library call.
      def emit(severity, msg, attrs)
        levels = Runtime.levels
        return emit_unloaded(severity, msg, attrs) unless levels
        return true unless levels[severity]

        t = Thread.current
        fields = t[FIELDS_KEY]
        span = t[SPAN_KEY]
        # nil values are left out (the library skips JSON null) and counted
        attrs = drop_nils(attrs) if !attrs.empty? && attrs.value?(nil)
        fields = drop_nils(fields) if fields && fields.value?(nil)
        if (native = Runtime.native_log)
          # The C method checks the message's class and encoding itself.
          rc = native.log(severity, msg, fields ? fields.merge(attrs) : attrs, span ? span.handle : 0)
          return true if rc.zero?
          return failed(rc, severity, msg, attrs) unless rc == Native::RB_USE_JSON
          return emit_spool_child(native, severity, msg, fields ? fields.merge(attrs) : attrs, span) if Runtime.spool_child?
          # a value the native path does not take (an Array, a Bignum, a
          # Latin-1 string...): the JSON path below
        end
        msg = Attributes.text(msg) unless msg.is_a?(String)
        enc = msg.encoding
        msg = utf8(msg) unless enc == Encoding::UTF_8 || enc == Encoding::US_ASCII || enc == Encoding::BINARY
        json = attrs.empty? && fields.nil? ? nil : Attributes.encode(attrs, fields)
        # A nil value is left out (JSON null), and counted as an input error.
        attrs.each_value { |v| Native.ffitel_count_input_error if v.nil? } unless attrs.empty?
        msg = Runtime.owned(msg)
        rc = Native.ffitel_log(severity, msg, msg.bytesize, json, json ? json.bytesize : 0, span ? span.handle : 0)
        return true if rc.zero?

        failed(rc, severity, msg, attrs)
      rescue StandardError => e
        Fallback.emit(severity, msg, attrs, "ffitel: logging failed (#{e.class}: #{e.message})")
        false
      end

      private

      def drop_nils(attrs)
        attrs.each_value { |v| Attributes.count_input_error if v.nil? }
        attrs.compact
      end

      # Transcodes a String in another encoding (Latin-1, Shift_JIS...) to
      # UTF-8; BINARY strings go as bytes and the library replaces invalid
      # UTF-8.
      def utf8(str)
        str.encode(Encoding::UTF_8, invalid: :replace, undef: :replace)
      end

      # The first record loads the library; without it, the fallback logger.
      def emit_unloaded(severity, msg, attrs)
        begin
          Runtime.usable?
        rescue Error
          nil
        end
        return emit(severity, msg, attrs) if Runtime.loaded?

        Fallback.emit(severity, msg, attrs, Runtime.unavailable_reason)
      end

      # A forked child writing through the spool has no JSON path: values
      # the native path does not take are logged as their text.
      def emit_spool_child(native, severity, msg, attrs, span)
        simple = attrs.to_h do |k, v|
          v = v.to_s unless v.is_a?(String) || v.is_a?(Symbol) || v == true || v == false ||
                            (v.is_a?(Integer) && v.bit_length < 64) || (v.is_a?(Float) && v.finite?)
          v = utf8(v) if v.is_a?(String) && !(v.encoding == Encoding::UTF_8 && v.valid_encoding?)
          [utf8(k.to_s), v]
        end
        text = utf8(Attributes.text(msg).to_s)
        rc = native.log(severity, text.valid_encoding? ? text : text.scrub, simple, span ? span.handle : 0)
        rc.zero? || rc == Native::RB_USE_JSON || failed(rc, severity, msg, attrs)
      end

      def failed(rc, severity, msg, attrs)
        if rc == Native::E_FORKED
          Runtime.spool_lost! if Runtime.spool_child?
          Runtime.forked!
          Fallback.emit(severity, msg, attrs, Runtime.forked_warning)
        end
        # E_INVALID / E_HANDLE: the record was still logged (see ffitel.h).
        false
      end
    end
  end
end
