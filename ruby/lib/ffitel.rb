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
  autoload :Span, File.expand_path("ffitel/span", __dir__)
  autoload :NullSpan, File.expand_path("ffitel/span", __dir__)
  autoload :Task, File.expand_path("ffitel/task", __dir__)
  autoload :Logger, File.expand_path("ffitel/logger", __dir__)
  autoload :Native, File.expand_path("ffitel/native", __dir__)

  # Marks the library unusable in a forked child as soon as the fork happens
  # (Ruby >= 3.1 routes every fork through Process._fork). The C side guards
  # each call too; this only makes the switch earlier and cheaper.
  module ForkHook
    def _fork
      pid = super
      Ffitel.__send__(:forked!) if pid.zero?
      pid
    end
  end

  # Re-applies SA_ONSTACK after every trap (Ruby reinstalls its handler
  # without it); see Native.handler_on_altstack. Installed when the library
  # loads.
  module TrapHook
    def trap(signal, *args, &block)
      previous = super
      Ffitel.__send__(:handler_on_altstack, signal)
      previous
    end
  end

  # Kernel#trap is private; so is its hook.
  module KernelTrapHook
    include TrapHook
    private :trap
  end

  @mutex = Mutex.new
  @state = :unloaded # :loaded, :forked (child of a loaded parent), :unavailable
  @enabled = nil     # severity number -> true/false, from ffitel_log_enabled
  @load_error = nil
  @fallback_logger = nil
  @fallback_warned = false

  class << self
    # ---- lifecycle --------------------------------------------------------

    # Phase 1: console logging only. Idempotent. Returns true; false in a
    # child forked after the library was loaded (it then logs through Ruby's
    # Logger on $stderr). Raises Ffitel::Error when the library cannot load.
    def init_console
      lifecycle(:ffitel_init_console)
    end

    # Phase 2: OTLP export as the environment says. Idempotent; runs phase 1
    # first if needed. Returns true; false in a forked child.
    def init_telemetry
      lifecycle(:ffitel_init_telemetry)
    end

    # Ends open spans, flushes and stops exporting, bounded by +timeout+
    # seconds (nil: FFITEL_SHUTDOWN_TIMEOUT_MS). Returns true when everything
    # was flushed, false when the deadline cut it short (the rest is counted
    # as dropped). Registered with at_exit when the library loads. A no-op
    # (true) when the library was never loaded or in a forked child.
    def shutdown(timeout: 5.0)
      bounded(:ffitel_shutdown, timeout)
    end

    # Writes queued console lines (phase 2 formats and writes the console on
    # a background thread, within about a millisecond; errors at once) and
    # exports what is queued, within +timeout+ seconds (nil:
    # FFITEL_SHUTDOWN_TIMEOUT_MS). Keeps running afterwards. False when the
    # deadline cut the export short. Does nothing before the library is
    # loaded or in a forked child.
    def flush(timeout: 5.0)
      bounded(:ffitel_flush, timeout)
    end

    # :none, :console, :telemetry or :shutdown (:telemetry also when export is
    # off; stats say so), or :forked in a child forked after loading. Never
    # loads the library.
    def phase
      case @state
      when :loaded
        rc = Native.ffitel_phase
        return PHASES.fetch(rc, :none) if rc >= 0

        forked!
        :forked
      when :forked then :forked
      else :none
      end
    end

    # The library's version, or nil when it is not loaded.
    def library_version
      @state == :loaded ? Native.ffitel_version : nil
    end

    # Where the shared library is looked for, in order: FFITEL_LIBRARY, the
    # copy in the gem (lib/ffitel/libffitel.so), the build tree
    # (<repo>/build/libffitel.so).
    def library_path
      env = ENV["FFITEL_LIBRARY"]
      return env if env && !env.empty?

      [File.expand_path("ffitel/libffitel.so", __dir__),
       File.expand_path("../../build/libffitel.so", __dir__)].find { |p| File.exist?(p) }
    end

    # Whether the shared library is loaded in this process (and usable: false
    # in a forked child).
    def loaded?
      @state == :loaded
    end

    # ---- logs -------------------------------------------------------------

    def trace(msg, **attrs)
      emit(TRACE, msg, attrs)
    end

    def debug(msg, **attrs)
      emit(DEBUG, msg, attrs)
    end

    def info(msg, **attrs)
      emit(INFO, msg, attrs)
    end

    def warn(msg, **attrs)
      emit(WARN, msg, attrs)
    end
    alias warning warn

    def error(msg, **attrs)
      emit(ERROR, msg, attrs)
    end

    def fatal(msg, **attrs)
      emit(FATAL, msg, attrs)
    end

    # Logs at +level+ (a Symbol from SEVERITIES or a severity number 1..24).
    def log(level, msg, **attrs)
      emit(level.is_a?(Integer) ? level : SEVERITIES.fetch(level.to_sym, INFO), msg, attrs)
    end

    # Whether a record at +level+ would be logged (LOG_LEVEL). Does not load
    # the library: before it is loaded, LOG_LEVEL is read here.
    def enabled?(level)
      severity = level.is_a?(Integer) ? level : SEVERITIES.fetch(level.to_sym)
      return @enabled[severity] || false if @state == :loaded

      severity >= fallback_threshold
    end

    # The ::Logger-compatible logger (Ffitel::Logger), one per process.
    def logger
      @logger ||= Ffitel::Logger.new
    end

    # ---- context ----------------------------------------------------------

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

    # ---- spans ------------------------------------------------------------

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
      run_as_current(span) { yield span }
    end

    # Makes span (or task) the fiber-local current span while the block runs
    # and ends it: with the error on an exception (re-raised unchanged),
    # normally otherwise (break/throw/next included).
    def run_as_current(span)
      t = Thread.current
      previous = t[SPAN_KEY]
      t[SPAN_KEY] = span
      begin
        yield
      rescue Exception => e # rubocop:disable Lint/RescueException
        span.finish(error: e)
        raise
      ensure
        span.finish # no-op after an error
        t[SPAN_KEY] = previous
      end
    end
    private :run_as_current

    # Starts a span without making it current; end it with span.finish. For
    # callbacks that cannot wrap a block (e.g. Rack middleware pairs).
    def start_span(name, kind: :internal, attributes: nil, traceparent: nil, parent: current_span)
      name = name.to_s
      return NullSpan.new(name) unless usable?

      kind_number = kind.is_a?(Integer) ? kind : SPAN_KINDS.fetch(kind.to_sym) { raise ArgumentError, "unknown span kind #{kind.inspect}" }
      json = Attributes.encode!(attributes || Attributes::EMPTY, Thread.current[FIELDS_KEY])
      parent_handle = parent && parent.handle.nonzero? ? parent.handle : 0
      tp = parent_handle.zero? && traceparent ? traceparent.to_s : nil
      handle = Native.ffitel_span_start(name, name.bytesize, parent_handle, tp, tp ? tp.bytesize : 0,
                                        json, json ? json.bytesize : 0, kind_number)
      return Span.new(name, handle) if handle.nonzero?
      return NullSpan.new(name) if forked_now?

      raise Error.new(Native.last_error, nil)
    end

    # Headers that carry the current span to another process, as the
    # configured propagators (OTEL_PROPAGATORS) write them:
    # {"traceparent" => "00-...", "tracestate" => "..."} (tracestate and
    # baggage only when present), or {} outside any span (and in a forked
    # child). With a Hash, fills it in and returns it.
    def inject(carrier = {})
      span = current_span
      return carrier if span.nil? || span.handle.zero? || span.ended?

      out = Native.read_buffer(256) { |buf, cap| Native.ffitel_span_inject(span.handle, buf, cap) }
      unless out.is_a?(String)
        check_span_call(out) # a forked child: nothing to inject
        return carrier
      end
      headers = JSON.parse(out)
      headers.each { |key, value| carrier[key] = value if value.is_a?(String) && !value.empty? } if headers.is_a?(Hash)
      carrier
    end

    # ---- tasks (background jobs) ------------------------------------------

    # Producer side: runs the block in a PRODUCER span "send <task_type>"
    # with the messaging attributes (messaging.system=ffitel,
    # messaging.operation.name/type=send, messaging.destination.name=
    # <task_type>) plus +attributes+. Call Ffitel.inject inside it and store
    # the carrier with the job. Returns the block's value.
    #
    #   carrier = Ffitel.send_task("SendReport") { Ffitel.inject }
    def send_task(task_type, **attributes, &block)
      raise ArgumentError, "Ffitel.send_task needs a block" unless block

      task_type = task_type.to_s
      attrs = attributes.merge("messaging.system" => "ffitel", "messaging.operation.name" => "send",
                               "messaging.operation.type" => "send", "messaging.destination.name" => task_type)
      span("send #{task_type}", kind: :producer, attributes: attrs, &block)
    end

    # Consumer side: runs the block as one attempt of a task, in a CONSUMER
    # span "process <task_type>" (the current span inside the block, so logs
    # and spans there carry its ids) that records the messaging metrics when
    # it ends. +carrier+ is the Hash Ffitel.inject returned at the producer
    # ("traceparent", "tracestate"; String or Symbol keys). +propagation+:
    # nil/:auto (FFITEL_TASK_PROPAGATION; its default is child on attempt 1
    # and a new trace linked to the producer on retries), :child, :link or
    # :none. A malformed carrier starts a new trace and is counted, never an
    # error. When the carrier gives the task a remote parent inside another
    # current span (say Ffitel.span("poll queue")), that span is added to the
    # task span as a link; with no carrier the task is a child of it. An
    # exception ends the attempt failed (an "exception" event, error.type =
    # its class name) and is re-raised unchanged. Returns the block's value.
    # In a forked child or without the library it just runs the block
    # (yielding a no-op span).
    def task(task_type, worker: "", task_id: "", attempt: 1, carrier: nil, propagation: nil)
      raise ArgumentError, "Ffitel.task needs a block" unless block_given?

      task = start_task(task_type, worker: worker, task_id: task_id, attempt: attempt, carrier: carrier,
                                   propagation: propagation)
      run_as_current(task) { yield task }
    end

    # Starts a task attempt without making it current; end it with
    # task.finish (or task.finish(error: exception)). For job frameworks
    # whose hooks cannot wrap a block. +current+ is the span the task is
    # started in (linked when the carrier gives a remote parent).
    def start_task(task_type, worker: "", task_id: "", attempt: 1, carrier: nil, propagation: nil,
                   current: current_span)
      task_type = task_type.to_s
      mode = task_propagation(propagation)
      attempt = attempt.nil? ? 1 : Integer(attempt)
      return NullSpan.new("process #{task_type}") unless task_usable?

      worker = worker.to_s
      task_id = task_id.to_s
      tp = carrier_value(carrier, "traceparent")
      ts = tp ? carrier_value(carrier, "tracestate") : nil
      current_handle = current && !current.ended? ? current.handle : 0
      handle = Native.ffitel_task_start_in(current_handle, task_type, task_type.bytesize, worker, worker.bytesize,
                                           task_id, task_id.bytesize, attempt.clamp(-2**31, 2**31 - 1),
                                           tp, tp ? tp.bytesize : 0, ts, ts ? ts.bytesize : 0, mode)
      return Task.new(task_type, attempt, handle) if handle.nonzero?
      return NullSpan.new("process #{task_type}") if forked_now?

      raise Error.new(Native.last_error, nil)
    end

    # ---- metrics ----------------------------------------------------------

    # Adds +value+ (>= 0) to the counter +name+. Returns true; false in a
    # forked child. Raises Ffitel::Error for a bad name or value.
    def counter_add(name, value = 1, **attrs)
      return false unless usable?

      name = name.to_s
      json = Attributes.encode!(attrs)
      check(Native.ffitel_counter_add(name, name.bytesize, value.to_f, json, json ? json.bytesize : 0))
    end

    # Records +value+ in the histogram +name+ (unit: UCUM, e.g. "ms").
    def histogram_record(name, value, unit: nil, **attrs)
      return false unless usable?

      name = name.to_s
      unit = unit&.to_s
      json = Attributes.encode!(attrs)
      check(Native.ffitel_histogram_record(name, name.bytesize, value.to_f, unit, unit ? unit.bytesize : 0,
                                           json, json ? json.bytesize : 0))
    end

    # The stats document (the /metrics/events JSON) as a Hash; {} in a forked
    # child.
    def stats
      return {} unless usable?

      out = Native.read_buffer(4096) { |buf, cap| Native.ffitel_stats_json(buf, cap) }
      return JSON.parse(out) if out.is_a?(String)
      return {} if out == Native::E_FORKED && forked!

      raise_error(out)
    end

    private

    # Like usable?, but a library that cannot load is not the job's failure:
    # the handler runs without telemetry (the load error is logged once by
    # the fallback logger on the next record).
    def task_usable?
      usable?
    rescue Error
      false
    end

    def task_propagation(propagation)
      return -1 if propagation.nil?

      TASK_PROPAGATIONS.fetch(propagation.to_s.to_sym) do
        raise ArgumentError, "unknown task propagation #{propagation.inspect} (:auto, :child, :link, :none)"
      end
    end

    def carrier_value(carrier, key)
      return nil if carrier.nil?

      value = carrier[key] || carrier[key.to_sym]
      value = value&.to_s
      value.nil? || value.empty? ? nil : value
    end

    # The hot path: one level check, JSON only when there are attributes or
    # fields, one FFI call. Never raises.
    def emit(severity, msg, attrs)
      if @state == :loaded
        return true unless @enabled[severity]

        t = Thread.current
        fields = t[FIELDS_KEY]
        span = t[SPAN_KEY]
        if (native = @native_log)
          # The C method checks the message's class and encoding itself.
          rc = native.log(severity, msg, fields ? fields.merge(attrs) : attrs, span ? span.handle : 0)
          return true if rc.zero?
          return log_failed(rc, severity, msg, attrs) unless rc == Native::RB_USE_JSON
          # a value the native path does not take (an Array, a Bignum, a
          # Latin-1 string...): the JSON path below
        end
        msg = msg.to_s unless msg.is_a?(String)
        enc = msg.encoding
        msg = utf8(msg) unless enc == Encoding::UTF_8 || enc == Encoding::US_ASCII || enc == Encoding::BINARY
        json = attrs.empty? && fields.nil? ? nil : Attributes.encode(attrs, fields)
        rc = Native.ffitel_log(severity, msg, msg.bytesize, json, json ? json.bytesize : 0, span ? span.handle : 0)
        return true if rc.zero?

        return log_failed(rc, severity, msg, attrs)
      end
      emit_slow(severity, msg, attrs)
    rescue StandardError => e
      emit_fallback(severity, msg, attrs, "ffitel: logging failed (#{e.class}: #{e.message})")
      false
    end

    # Transcodes a String in another encoding (Latin-1, Shift_JIS...) to UTF-8;
    # BINARY strings go as bytes and the library replaces invalid UTF-8.
    def utf8(str)
      str.encode(Encoding::UTF_8, invalid: :replace, undef: :replace)
    end

    def emit_slow(severity, msg, attrs)
      if @state == :unloaded
        begin
          load_library
        rescue Error
          nil
        end
        return emit(severity, msg, attrs) if @state == :loaded
      end
      reason = @state == :forked ? forked_warning : "ffitel: #{@load_error}; logging to $stderr"
      emit_fallback(severity, msg, attrs, reason)
      false
    end

    def log_failed(rc, severity, msg, attrs)
      if rc == Native::E_FORKED
        forked!
        emit_fallback(severity, msg, attrs, forked_warning)
      end
      # E_INVALID / E_HANDLE: the record was still logged (see ffitel.h).
      false
    end

    def lifecycle(function)
      load_library
      return forked_lifecycle if @state == :forked

      rc = Native.public_send(function)
      return forked_lifecycle if rc == Native::E_FORKED

      check(rc)
      refresh_levels
      true
    end

    def forked_lifecycle
      forked!
      emit_fallback(WARN, "ffitel is unavailable in this forked child", {}, forked_warning)
      false
    end

    def check(rc)
      return true if rc >= 0
      return forked! && false if rc == Native::E_FORKED

      raise_error(rc)
    end

    # For span methods: a forked child ignores them; other errors raise.
    def check_span_call(rc)
      return true if rc >= 0
      return false if rc == Native::E_FORKED && forked!

      raise_error(rc)
    end

    def raise_error(rc)
      message = Native.last_error
      message = "ffitel: error #{rc}" if message.empty?
      raise Error.new(message, rc)
    end

    def usable?
      return true if @state == :loaded

      load_library if @state == :unloaded
      @state == :loaded
    end

    # Loads the shared library once per process. Raises Ffitel::Error when it
    # cannot be found or loaded.
    def load_library
      return true if @state == :loaded
      return false if @state == :forked

      @mutex.synchronize do
        return true if @state == :loaded

        path = library_path
        unless path
          @state = :unavailable
          @load_error = "libffitel.so not found: set FFITEL_LIBRARY, install the gem with the library, or run `make build`"
          raise Error, @load_error
        end
        begin
          Native.with_signals_blocked(HOST_SIGNALS) do
            Native.load(path)
            Native.ffitel_phase # waits for the Go runtime to finish starting
          end
        rescue LoadError, StandardError => e
          @state = :unavailable
          @load_error = "cannot load #{path}: #{e.message}"
          raise Error, @load_error
        end
        @state = :loaded
        @loaded_pid = Process.pid
        # The fast log path: a C method the library defines with Ruby's own
        # C API (Ffitel::NativeLog.log), no ffi conversion and no JSON.
        @native_log = Native.ffitel_rb_define == Native::OK ? NativeLog : nil
        refresh_levels
        Process.singleton_class.prepend(ForkHook) if Process.respond_to?(:_fork)
        HOST_SIGNALS.each { |name| handler_on_altstack(name) }
        Signal.singleton_class.prepend(TrapHook)
        Kernel.prepend(KernelTrapHook)
        at_exit { Ffitel.__send__(:shutdown_at_exit) }
      end
      true
    end

    def handler_on_altstack(signal)
      signo = signal.is_a?(Integer) ? signal : Signal.list[signal.to_s.delete_prefix("SIG")]
      Native.handler_on_altstack(signo) if signo
    rescue StandardError
      nil
    end

    def refresh_levels
      @enabled = Array.new(25) { |s| s.positive? && Native.ffitel_log_enabled(s) == 1 }.freeze
    end

    def shutdown_at_exit
      shutdown(timeout: nil) if @state == :loaded && Process.pid == @loaded_pid
    rescue StandardError, Interrupt
      nil
    end

    # ffitel_shutdown or ffitel_flush with +timeout+ seconds; false when cut short.
    def bounded(function, timeout)
      return true unless @state == :loaded

      ms = timeout.nil? ? -1 : (timeout * 1000).round.clamp(0, 2**31 - 1)
      rc = Native.public_send(function, ms)
      case rc
      when Native::OK then true
      when Native::E_STATE then false
      when Native::E_FORKED then forked! || true
      else raise_error(rc)
      end
    end

    def forked!
      @state = :forked if @state == :loaded
      true
    end

    def forked_now?
      return false unless @state == :loaded
      return false if Process.pid == @loaded_pid

      forked!
    end

    def forked_warning
      "ffitel: process #{Process.pid} was forked after libffitel was loaded (a Go runtime does not " \
        "survive fork); logging to $stderr with Ruby's Logger, spans and metrics are no-ops. " \
        "Load ffitel after forking (e.g. call Ffitel.init_telemetry in the worker boot hook)."
    end

    # ---- fallback: Ruby's own Logger on $stderr ---------------------------

    def emit_fallback(severity, msg, attrs, reason)
      logger = fallback_logger
      unless @fallback_warned == Process.pid
        @fallback_warned = Process.pid
        logger.add(::Logger::WARN, reason)
      end
      return false if severity < fallback_threshold

      fields = Thread.current[FIELDS_KEY]
      attrs = fields.merge(attrs) if fields
      text = msg.to_s
      unless attrs.empty?
        text = +text
        attrs.each { |k, v| text << " " << k.to_s << "=" << (v.is_a?(String) && !v.match?(/[\s"=]/) ? v : v.inspect) }
      end
      logger.add(ruby_severity(severity), text)
      false
    rescue StandardError
      false
    end

    def fallback_logger
      @fallback_logger ||= begin
        require "logger"
        require "time"
        l = ::Logger.new($stderr, progname: "ffitel")
        l.formatter = proc { |sev, time, _prog, m| "time=#{time.utc.iso8601(3)} level=#{sev} pid=#{Process.pid} msg=#{m}\n" }
        l
      end
    end

    def ruby_severity(severity)
      if severity >= FATAL then ::Logger::FATAL
      elsif severity >= ERROR then ::Logger::ERROR
      elsif severity >= WARN then ::Logger::WARN
      elsif severity >= INFO then ::Logger::INFO
      else ::Logger::DEBUG
      end
    end

    # LOG_LEVEL as the library reads it, for when the library is not loaded.
    def fallback_threshold
      @fallback_threshold ||=
        case ENV["LOG_LEVEL"].to_s.downcase
        when "trace" then TRACE
        when "debug" then DEBUG
        when "info" then INFO
        when "warn", "warning" then WARN
        when "error" then ERROR
        else
          env = ENV["DEPLOYMENT_ENVIRONMENT"] || ENV["TASKER_ENV"] || ENV["APP_ENV"] || "development"
          env.downcase.start_with?("prod") ? INFO : DEBUG
        end
    end
  end
end

# Domain events (Ffitel.publish_event, Ffitel.subscribe): plain Ruby, loads
# nothing.
require_relative "ffitel/events"
