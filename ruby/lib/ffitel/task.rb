# frozen_string_literal: true

module Ffitel
  class << self
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
      Context.run_as_current(task) { yield task }
    end

    # Starts a task attempt without making it current; end it with
    # task.finish (or task.finish(error: exception)). For job frameworks
    # whose hooks cannot wrap a block. +current+ is the span the task is
    # started in (linked when the carrier gives a remote parent). A job
    # framework names itself and the queue: +system:+ becomes
    # messaging.system (default "ffitel") and +destination:+
    # messaging.destination.name (default the task type), on the span and
    # the messaging metrics.
    def start_task(task_type, worker: "", task_id: "", attempt: 1, carrier: nil, propagation: nil,
                   current: current_span, system: nil, destination: nil)
      task_type = task_type.to_s
      mode = Task.propagation_mode(propagation)
      attempt = attempt.nil? ? 1 : Integer(attempt)
      # A library that cannot load is not the job's failure: the handler runs
      # without telemetry (the fallback logger says why on the next record).
      return NullSpan.new("process #{task_type}") unless Runtime.available?

      worker = worker.to_s
      task_id = task_id.to_s
      tp = Task.carrier_value(carrier, "traceparent")
      ts = tp ? Task.carrier_value(carrier, "tracestate") : nil
      system = system.to_s
      destination = destination.to_s
      handle = Native.handle(Native.ffitel_task_start_ex(Context.handle_of(current), system, system.bytesize,
                                                         destination, destination.bytesize,
                                                         task_type, task_type.bytesize,
                                                         worker, worker.bytesize, task_id, task_id.bytesize,
                                                         attempt.clamp(-2**31, 2**31 - 1),
                                                         tp, tp ? tp.bytesize : 0, ts, ts ? ts.bytesize : 0, mode)) {
        "cannot start task #{task_type.inspect}"
      }
      handle ? Task.new(task_type, attempt, handle) : NullSpan.new("process #{task_type}")
    end
  end

  # One attempt of a background task (job), started by Ffitel.task: a
  # CONSUMER span "process <task type>" that also records the messaging
  # metrics (messaging.client.consumed.messages, messaging.process.duration)
  # when it ends. It is the current span of the fiber running the block, and
  # supports everything a Span does (set_attribute, add_event, traceparent,
  # trace_id, span_id).
  class Task < Span
    attr_reader :task_type, :attempt

    def initialize(task_type, attempt, handle)
      super("process #{task_type}", handle)
      @task_type = task_type
      @attempt = attempt
    end

    # The error.type of an exception: its class name ("_OTHER", semconv's
    # fallback, for an anonymous class).
    def self.error_type(exception)
      name = exception.class.name
      name.nil? || name.empty? ? "_OTHER" : name
    end

    # Ffitel.task's propagation argument as the C ABI numbers it.
    def self.propagation_mode(propagation)
      return TASK_PROPAGATIONS[:auto] if propagation.nil?

      TASK_PROPAGATIONS.fetch(propagation.to_s.to_sym) do
        raise ArgumentError, "unknown task propagation #{propagation.inspect} (:auto, :child, :link, :none)"
      end
    end

    # carrier[key] (a String or Symbol key) as a non-empty String, or nil.
    def self.carrier_value(carrier, key)
      return nil if carrier.nil?

      value = carrier[key] || carrier[key.to_sym]
      value = value&.to_s
      value.nil? || value.empty? ? nil : value
    end

    private

    # finish(error:) ends the attempt: successful without +error+; with an
    # Exception, adds an "exception" event (exception.type,
    # exception.message, exception.stacktrace) and ends it failed with
    # error.type = the exception's class name (a String +error+ is taken as
    # the error type). Idempotent; never raises (Ffitel.task re-raises the
    # handler's error).
    def describe_error(error)
      return error.to_s unless error.is_a?(Exception)

      record_exception(error)
      Task.error_type(error)
    end

    def end_native(type)
      type = Runtime.owned(type)
      Native.ffitel_task_end(@handle, type ? 0 : 1, type, type ? type.bytesize : 0)
    end

    # Never raises: a message JSON cannot carry (invalid UTF-8...) must not
    # replace the handler's exception with ours.
    def record_exception(exception)
      attrs = { "exception.type" => Task.error_type(exception),
                "exception.message" => safe { exception.message.to_s },
                "exception.stacktrace" => safe { exception.full_message(highlight: false, order: :top) } }
      json = Attributes.encode(attrs)
      Native.ffitel_span_add_event(@handle, "exception", 9, json, json.bytesize)
    rescue StandardError
      nil
    end

    def safe
      yield
    rescue StandardError => e
      "(#{e.class} while describing the exception)"
    end
  end
end
