# frozen_string_literal: true

require_relative "ffitel/version"

# ffitel: two-phase telemetry for Ruby workers, on top of libffitel.so.
#
#   require "ffitel"
#   Ffitel.init_console                      # phase 1: console only
#   Ffitel.info("booting", pid: Process.pid)
#   Ffitel.init_telemetry                    # phase 2: OTLP logs, traces, metrics
#   Ffitel.with_fields(correlation_id: cid) do
#     Ffitel.span("charge", kind: :client, attributes: { amount: 5 }) do |span|
#       span.set_attribute("ok", true)
#       headers = Ffitel.inject               # {"traceparent" => "00-..."}
#     end
#   end
#   Ffitel.counter_add("jobs.done", 1, queue: "mail")
#
# `require "ffitel"` loads nothing: the shared library is loaded on first
# use, so a pre-forking master can require it and fork workers that each load
# their own copy. The library reads the environment once, when loaded.
#
# Phases are Symbols: :none, :console, :telemetry, :shutdown, and :forked in
# a child forked after the library was loaded (see Ffitel.phase).
module Ffitel
  # Raised with the library's message by every call except logging, which
  # never raises into the host.
  class Error < StandardError
    attr_reader :code

    def initialize(message = nil, code = nil)
      super(message)
      @code = code
    end
  end

  # OpenTelemetry severity numbers.
  TRACE = 1
  DEBUG = 5
  INFO = 9
  WARN = 13
  ERROR = 17
  FATAL = 21

  SEVERITIES = { trace: TRACE, debug: DEBUG, info: INFO, warn: WARN, warning: WARN,
                 error: ERROR, fatal: FATAL }.freeze
  SPAN_KINDS = { internal: 0, server: 1, client: 2, producer: 3, consumer: 4 }.freeze
  PHASES = %i[none console telemetry shutdown].freeze
  # Ffitel.task's propagation: (nil/:auto = FFITEL_TASK_PROPAGATION, whose
  # default auto is child on attempt 1 and link on retries).
  TASK_PROPAGATIONS = { auto: -1, child: 0, link: 1, none: 2 }.freeze

  # Asynchronous signals a Ruby process may trap. They are blocked while the
  # Go runtime starts, so the threads Go creates never receive them and the
  # host's trap handlers always run on a Ruby thread; and Ruby's handlers for
  # them get SA_ONSTACK, for a Ruby thread that is inside a Go call.
  HOST_SIGNALS = %w[INT TERM HUP QUIT USR1 USR2 ALRM CHLD WINCH TTIN TTOU].freeze

  FIELDS_KEY = :__ffitel_fields
  SPAN_KEY = :__ffitel_span

  autoload :Attributes, File.expand_path("ffitel/attributes", __dir__)
  autoload :Logger, File.expand_path("ffitel/logger", __dir__)
  autoload :Native, File.expand_path("ffitel/native", __dir__) # requires ffi; loaded with the library

  class << self
    # Phase 1: console logging only. Idempotent. Returns true; false in a
    # child forked after the library was loaded (it then logs through Ruby's
    # Logger on $stderr). Raises Ffitel::Error when the library cannot load.
    def init_console
      Runtime.lifecycle(:ffitel_init_console)
    end

    # Phase 2: OTLP export as the environment says. Idempotent; runs phase 1
    # first if needed. Returns true; false in a forked child.
    def init_telemetry
      Runtime.lifecycle(:ffitel_init_telemetry)
    end

    # Ends open spans, flushes and stops exporting, bounded by +timeout+
    # seconds (nil, the default: FFITEL_SHUTDOWN_TIMEOUT_MS, the library's
    # bound read from the environment). Returns true when everything was
    # flushed, false when the deadline cut it short (the rest is counted as
    # dropped). Registered with at_exit when the library loads. A no-op
    # (true) when the library was never loaded or in a forked child.
    def shutdown(timeout: nil)
      Runtime.bounded(:ffitel_shutdown, timeout)
    end

    # Writes queued console lines (phase 2 formats and writes the console on
    # a background thread, within about a millisecond; errors at once) and
    # exports what is queued, within +timeout+ seconds (nil, the default:
    # FFITEL_SHUTDOWN_TIMEOUT_MS). Keeps running afterwards. False when the
    # deadline cut the export short. Does nothing before the library is
    # loaded or in a forked child.
    def flush(timeout: nil)
      Runtime.bounded(:ffitel_flush, timeout)
    end

    # :none, :console, :telemetry or :shutdown (:telemetry also when export is
    # off; stats say so), or :forked in a child forked after loading. Never
    # loads the library.
    def phase
      Runtime.phase
    end

    # The library's version, or nil when it is not loaded.
    def library_version
      Runtime.library_version
    end

    # Where the shared library is looked for, in order: FFITEL_LIBRARY, the
    # copy in the gem (lib/ffitel/libffitel.so), the build tree
    # (<repo>/build/libffitel.so).
    def library_path
      Runtime.library_path
    end

    # Whether the shared library is loaded in this process (and usable: false
    # in a forked child).
    def loaded?
      Runtime.loaded?
    end
  end
end

# The rest of the public API, by concept. None of these loads the library.
require_relative "ffitel/logging"  # trace debug info warn error fatal, log, enabled?, logger
require_relative "ffitel/context"  # with_fields, current_fields, current_span
require_relative "ffitel/span"     # span, start_span, inject; Span, NullSpan
require_relative "ffitel/task"     # send_task, task, start_task; Task
require_relative "ffitel/metrics"  # counter_add, histogram_record, stats
require_relative "ffitel/events"   # publish_event, subscribe; Subscription

# Internal: the library's state, loading, fork and trap hooks (Runtime), the
# logger used when the library cannot be (Fallback).
require_relative "ffitel/runtime"
require_relative "ffitel/fallback"
