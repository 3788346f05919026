# frozen_string_literal: true

require "json"

module Ffitel
  class << self
    # Adds +value+ (>= 0) to the counter +name+. Returns true; false in a
    # forked child. Raises Ffitel::Error for a bad name or value.
    def counter_add(name, value = 1, **attrs)
      return false unless Runtime.usable?

      name = name.to_s
      json = Attributes.encode(attrs)
      Native.check(Native.ffitel_counter_add(name, name.bytesize, value.to_f, json, json ? json.bytesize : 0))
    end

    # Records +value+ in the histogram +name+ (unit: UCUM, e.g. "ms").
    def histogram_record(name, value, unit: nil, **attrs)
      return false unless Runtime.usable?

      name = name.to_s
      unit = unit&.to_s
      json = Attributes.encode(attrs)
      Native.check(Native.ffitel_histogram_record(name, name.bytesize, value.to_f, unit, unit ? unit.bytesize : 0,
                                                  json, json ? json.bytesize : 0))
    end

    # The stats document (the /metrics/events JSON) as a Hash; {} in a forked
    # child. pipeline.input_errors also counts the bad input this binding
    # caught before the library saw it (an unprintable value or message, a
    # nil attribute left out, a log block that raised).
    def stats
      return {} unless Runtime.usable?

      out = Native.read_string(4096) { |buf, cap| Native.ffitel_stats_json(buf, cap) }
      return {} unless out

      doc = JSON.parse(out)
      pipeline = doc["pipeline"]
      pipeline["input_errors"] += Attributes.input_errors if pipeline.is_a?(Hash) && pipeline["input_errors"].is_a?(Integer)
      doc
    end
  end
end
