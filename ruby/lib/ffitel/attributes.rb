# frozen_string_literal: true

require "json"

module Ffitel
  # Encodes attribute hashes as the flat JSON object the C ABI takes, and
  # counts the bad input the binding catches before the library sees it.
  #
  # Nothing here raises. Values JSON (or the library) cannot carry are
  # rewritten, and every other attribute of the record is kept:
  # - a non-finite Float becomes the String "NaN", "Infinity" or "-Infinity"
  #   (as in the Python binding);
  # - an Integer outside the signed 64-bit range becomes a String of its
  #   digits (a JSON number that large would be read back as a float);
  # - an Array holding an Array, a Hash, nil or a non-finite Float becomes one
  #   String, its JSON (the C ABI takes arrays of scalars only);
  # - a Hash is flattened by the library into dotted keys; one nested deeper
  #   than MAX_DEPTH (a cycle, most likely) becomes a String;
  # - a value whose to_s raises becomes "<unprintable Foo: RuntimeError>" and
  #   counts as an input error;
  # - a nil value is left out and counts as an input error.
  # Other objects go through to_s, as JSON would write them.
  module Attributes
    EMPTY = {}.freeze
    INT64 = (-2**63..2**63 - 1).freeze
    MAX_DEPTH = 8 # the library's flattening depth

    @input_errors = 0
    @input_errors_mutex = Mutex.new

    module_function

    # JSON for +attrs+ merged over +fields+ (the current with_fields), or nil
    # when both are empty (or every value was nil). Never raises.
    def encode(attrs, fields = nil)
      attrs = fields.merge(attrs) if fields && !fields.empty?
      return nil if attrs.nil? || attrs.empty?

      attrs = sanitize(attrs, 0) unless plain?(attrs, 0)
      return nil if attrs.empty?

      state = (Thread.current[:__ffitel_json_state] ||= JSON::State.new)
      begin
        state.generate(attrs)
      rescue JSON::GeneratorError
        # a String JSON cannot write as UTF-8 (invalid bytes): replaced
        Thread.current[:__ffitel_json_state] = nil
        count_input_error
        JSON.generate(scrub(attrs))
      end
    rescue StandardError, SystemStackError
      Thread.current[:__ffitel_json_state] = nil
      count_input_error
      nil
    end

    # +attrs+ with every String (keys too) as valid UTF-8.
    def scrub(value)
      case value
      when Hash then value.to_h { |k, v| [scrub(k.to_s), scrub(v)] }
      when Array then value.map { |v| scrub(v) }
      when String
        if value.encoding == Encoding::BINARY || value.encoding == Encoding::UTF_8
          value.dup.force_encoding(Encoding::UTF_8).scrub
        else
          value.encode(Encoding::UTF_8, invalid: :replace, undef: :replace)
        end
      else value
      end
    end

    # Bad input caught by the binding (see the module comment). Once the
    # library is loaded it is counted there (ffitel_count_input_error), so it
    # shows in pipeline.input_errors everywhere (/metrics/events, /metrics);
    # before that, or in a forked child, it is counted here and Ffitel.stats
    # adds it.
    def count_input_error
      return if Runtime.loaded? && Native.ffitel_count_input_error.zero?

      @input_errors_mutex.synchronize { @input_errors += 1 }
    rescue StandardError
      @input_errors_mutex.synchronize { @input_errors += 1 }
    end

    def input_errors
      @input_errors
    end

    # What a value whose to_s raised becomes.
    def placeholder(value, error)
      "<unprintable #{value.class.name || 'anonymous class'}: #{error.class}>"
    end

    # value.to_s, or its placeholder (counted) when to_s raises or does not
    # return a String.
    def text(value)
      return value if value.is_a?(String)

      s = value.to_s
      s.is_a?(String) ? s : raise(TypeError, "to_s returned #{s.class}")
    rescue StandardError => e
      count_input_error
      placeholder(value, e)
    end

    # Whether JSON.generate writes +attrs+ exactly as the library reads it
    # (the common case: no copy).
    def plain?(attrs, depth)
      return false if depth >= MAX_DEPTH

      attrs.each_value do |v|
        case v
        when String, Symbol, true, false then next
        when Integer then return false unless INT64.cover?(v)
        when Float then return false unless v.finite?
        when Array then return false unless plain_array?(v)
        when Hash then return false unless plain?(v, depth + 1)
        else return false
        end
      end
      true
    end

    def plain_array?(array)
      array.all? do |v|
        case v
        when String, Symbol, true, false then true
        when Integer then INT64.cover?(v)
        when Float then v.finite?
        else false
        end
      end
    end

    def sanitize(attrs, depth)
      attrs.each_with_object({}) do |(k, v), out|
        next count_input_error if v.nil?

        out[k.is_a?(String) || k.is_a?(Symbol) ? k : text(k)] = value(v, depth)
      end
    end

    def value(v, depth)
      case v
      when String, true, false then v
      when Symbol then v.to_s
      when Integer then INT64.cover?(v) ? v : v.to_s
      when Float then v.finite? ? v : v.to_s
      when Array then plain_array?(v) ? v : json_text(v)
      when Hash then depth + 1 < MAX_DEPTH ? sanitize(v, depth + 1) : json_text(v)
      else text(v)
      end
    end

    # The JSON of a value the library cannot take as it is, as one String.
    def json_text(v)
      JSON.generate(v, allow_nan: true, max_nesting: 32)
    rescue StandardError, SystemStackError => e
      count_input_error
      placeholder(v, e)
    end
  end
end
