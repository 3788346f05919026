# frozen_string_literal: true

require "json"

module Ffitel
  # Encodes attribute hashes as the flat JSON object the C ABI takes.
  module Attributes
    EMPTY = {}.freeze

    module_function

    # JSON for +attrs+ merged over +fields+ (the current with_fields), or nil
    # when both are empty, so the hot path of a bare message builds nothing.
    # Never raises: a value JSON cannot represent (NaN, a cyclic structure,
    # an object whose to_s raises) is sent as its inspect string.
    def encode(attrs, fields = nil)
      attrs = fields.merge(attrs) if fields && !fields.empty?
      return nil if attrs.empty?

      state = (Thread.current[:__ffitel_json_state] ||= JSON::State.new)
      begin
        state.generate(attrs)
      rescue StandardError, SystemStackError
        Thread.current[:__ffitel_json_state] = nil
        JSON.generate(sanitize(attrs))
      end
    end

    # Like encode, but raises Ffitel::Error for what JSON cannot represent;
    # for spans and metrics, whose API raises.
    def encode!(attrs, fields = nil)
      encode_strict(fields && !fields.empty? ? fields.merge(attrs) : attrs)
    end

    def encode_strict(attrs)
      return nil if attrs.nil? || attrs.empty?

      JSON.generate(attrs)
    rescue JSON::GeneratorError, JSON::NestingError => e
      raise Ffitel::Error, "attributes cannot be encoded as JSON: #{e.message}"
    end

    def sanitize(attrs)
      attrs.each_with_object({}) do |(k, v), out|
        out[k.to_s] =
          case v
          when String, Integer, true, false, nil then v
          when Float then v.finite? ? v : v.to_s
          else safe_inspect(v)
          end
      end
    end

    def safe_inspect(value)
      value.inspect
    rescue StandardError
      "#<#{value.class}>"
    end
  end
end
