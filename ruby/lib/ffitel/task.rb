# frozen_string_literal: true

module Ffitel
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

    # Ends the attempt: successful without +error+; with an Exception, adds
    # an "exception" event (exception.type, exception.message,
    # exception.stacktrace) and ends it failed with error.type = the
    # exception's class name (a String +error+ is taken as the error type).
    # Idempotent; never raises (Ffitel.task re-raises the handler's error).
    def finish(error: nil)
      return self if @ended

      @ended = true
      if error
        type = error.is_a?(Exception) ? Task.error_type(error) : error.to_s
        record_exception(error) if error.is_a?(Exception)
        Native.ffitel_task_end(@handle, 0, type, type.bytesize)
      else
        Native.ffitel_task_end(@handle, 1, nil, 0)
      end
      self
    end

    # The error.type of an exception: its class name ("_OTHER", semconv's
    # fallback, for an anonymous class).
    def self.error_type(exception)
      name = exception.class.name
      name.nil? || name.empty? ? "_OTHER" : name
    end

    private

    # Attributes.encode, not encode!: a message JSON cannot carry (invalid
    # UTF-8...) must not replace the handler's exception with ours.
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
