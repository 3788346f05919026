# frozen_string_literal: true

require "json"

module Ffitel
  # Delivery modes of Ffitel.publish_event, as the C ABI numbers them.
  DELIVERIES = { durable: 0, fast: 1, broadcast: 2 }.freeze

  # An in-process subscription to domain events (Ffitel.subscribe). Events
  # whose name matches the pattern queue in the library (at most 1024; when
  # full the oldest is dropped and counted in
  # Ffitel.stats["in_process_bus"]["ffi_channel_drops"]) until polled.
  #
  # One subscription may be polled from one thread at a time; close may be
  # called from any thread.
  class Subscription
    # The first poll buffer; a larger event is received with a buffer of the
    # size the library asks for (the event stays queued until it fits).
    BUFFER_BYTES = 4096
    MAX_TIMEOUT_MS = 60_000

    attr_reader :pattern, :handle

    # Use Ffitel.subscribe.
    def initialize(pattern, handle)
      @pattern = pattern
      @handle = handle
      @closed = false
      @buf = FFI::MemoryPointer.new(BUFFER_BYTES)
      @finalizer = self.class.finalizer(handle, Process.pid)
      ObjectSpace.define_finalizer(self, @finalizer)
    end

    # Unsubscribes a subscription that was garbage-collected without close.
    def self.finalizer(handle, pid)
      proc do
        Native.ffitel_event_unsubscribe(handle) if Process.pid == pid && Ffitel.loaded?
      rescue StandardError
        nil
      end
    end

    # Waits up to +timeout+ seconds (at most 60; 0 does not wait) for an event,
    # then takes whatever else is already queued without waiting. Returns an
    # Array of Hashes shaped like the DomainEvent JSON ("event_id",
    # "event_name", "event_version", "payload", "metadata"), oldest first;
    # [] when nothing arrived (and in a forked child). +max+ bounds how many
    # are taken in one call (nil: everything queued). Raises Ffitel::Error
    # once the subscription is closed.
    def poll(timeout: 1.0, max: nil)
      raise Error.new("ffitel: subscription #{@pattern.inspect} is closed", Native::E_HANDLE) if @closed
      return [] unless Ffitel.loaded?

      events = []
      wait_ms = timeout_ms(timeout)
      loop do
        json = next_event(wait_ms)
        break if json.nil?

        events << JSON.parse(json)
        break if max && events.size >= max

        wait_ms = 0
      end
      events
    end

    # Unsubscribes; queued events are released. Idempotent. Returns true.
    def close
      return true if @closed

      @closed = true
      ObjectSpace.undefine_finalizer(self)
      Native.ffitel_event_unsubscribe(@handle) if Ffitel.loaded?
      true
    end

    def closed?
      @closed
    end

    def inspect
      "#<#{self.class} #{@pattern.inspect}#{@closed ? ' closed' : ''}>"
    end

    private

    def timeout_ms(timeout)
      return 0 if timeout.nil?

      (timeout.to_f * 1000).ceil.clamp(0, MAX_TIMEOUT_MS)
    end

    # One event as a JSON String, or nil when none arrived (or in a forked
    # child). A larger event stays queued and is taken again, without
    # waiting, with a buffer of the size the library asks for.
    def next_event(wait_ms)
      json = Native.read_string(BUFFER_BYTES, buffer: @buf) do |buf, cap|
        n = Native.ffitel_event_poll(@handle, wait_ms, buf, cap)
        wait_ms = 0
        n
      end
      json.nil? || json.empty? ? nil : json
    rescue Error => e
      @closed = true if e.code == Native::E_HANDLE
      raise
    end
  end

  class << self
    # Publishes a domain event and returns its id (a UUIDv7 String; ids sort
    # in publish order).
    #
    # +payload+ is any JSON-able value. The metadata comes from the keywords
    # (nil ones are left out); the library adds fired_at and the trace
    # context of the publish span. +delivery+: :durable (the
    # FFITEL_EVENTS_DURABLE_URL sink), :fast (in-process subscribers) or
    # :broadcast (both, one event, one id).
    #
    # Raises Ffitel::Error with the library's message: code
    # Native::E_INVALID for a missing name, namespace or correlation id or a
    # payload JSON cannot represent; Native::E_UNAVAILABLE when the durable
    # path failed (no sink configured, connection lost). Returns nil in a
    # forked child.
    def publish_event(name, payload, namespace:, correlation_id:, task_uuid: "", step_uuid: nil,
                      step_name: nil, fired_by: nil, delivery: :fast)
      mode = DELIVERIES.fetch(delivery.to_s.to_sym) do
        raise ArgumentError, "unknown delivery #{delivery.inspect} (:durable, :fast, :broadcast)"
      end
      return nil unless Runtime.usable?

      name = name.to_s
      payload_json = encode_event_json(payload, "payload")
      metadata = { namespace: namespace, correlation_id: correlation_id, task_uuid: task_uuid,
                   step_uuid: step_uuid, step_name: step_name, fired_by: fired_by }
      metadata.compact!
      metadata.transform_values!(&:to_s)
      metadata_json = encode_event_json(metadata, "metadata")

      # Inside a span the publish span becomes its child.
      current_handle = Context.handle_of(current_span)
      Native.read_string(64) do |buf, cap|
        Native.ffitel_event_publish_in(current_handle, name, name.bytesize, payload_json, payload_json.bytesize,
                                       metadata_json, metadata_json.bytesize, mode, buf, cap)
      end
    end

    # Subscribes to in-process events whose name matches +pattern+: an exact
    # name, "payment.*" (everything under "payment.") or "*". With a block,
    # yields the Ffitel::Subscription, closes it when the block exits and
    # returns the block's value; without one, returns the Subscription
    # (close it with sub.close). Raises Ffitel::Error for a bad pattern.
    def subscribe(pattern)
      pattern = pattern.to_s
      handle = Runtime.usable? && Native.handle(Native.ffitel_event_subscribe(pattern, pattern.bytesize),
                                                code: Native::E_INVALID) {
        "cannot subscribe to #{pattern.inspect}"
      }
      raise Error.new("ffitel: cannot subscribe in this process (#{Runtime.load_error || 'forked child'})", nil) unless handle

      sub = Subscription.new(pattern, handle)
      return sub unless block_given?

      begin
        yield sub
      ensure
        sub.close
      end
    end

    private

    # A non-finite Float becomes "NaN", "Infinity" or "-Infinity", as in
    # attributes (and the Python binding); a cycle is an error.
    def encode_event_json(value, what)
      JSON.generate(value)
    rescue JSON::GeneratorError
      begin
        JSON.generate(finite(value, 0))
      rescue JSON::GeneratorError, JSON::NestingError, SystemStackError => e
        raise Error.new("event #{what} cannot be encoded as JSON: #{e.message}", Native::E_INVALID)
      end
    rescue JSON::NestingError, SystemStackError => e
      raise Error.new("event #{what} cannot be encoded as JSON: #{e.message}", Native::E_INVALID)
    end

    def finite(value, depth)
      raise JSON::NestingError, "nested too deep (a cycle?)" if depth > 100

      case value
      when Float then value.finite? ? value : value.to_s
      when Hash then value.to_h { |k, v| [k, finite(v, depth + 1)] }
      when Array then value.map { |v| finite(v, depth + 1) }
      else value
      end
    end
  end
end
