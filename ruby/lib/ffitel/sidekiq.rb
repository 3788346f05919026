# frozen_string_literal: true

require "ffitel"
require "sidekiq"
require "sidekiq/job_logger"
require "sidekiq/job_retry"

module Ffitel
  # Sidekiq (6.x) job telemetry:
  #
  #   require "ffitel/sidekiq"
  #   Ffitel::Sidekiq.install               # in the client and in the server
  #
  # Client side (every push, also from inside a job): a PRODUCER span
  # "send <job class>" (messaging.system=sidekiq, messaging.destination.name=
  # the queue, messaging.message.id=the jid) whose trace context is stored in
  # the job hash under CARRIER_KEY ("ffitel": {"traceparent" => ...,
  # "tracestate" => ...}). A job that already carries one (a retry or a
  # scheduled job the server re-enqueues) keeps it and gets no second span.
  #
  # Server side: each attempt runs as an Ffitel task (Ffitel.start_task): a
  # CONSUMER span "process <job class>" plus the messaging metrics, attempt
  # 1 a child of the send span, a retry a new trace linked to it (the
  # FFITEL_TASK_PROPAGATION rules). The attempt is 1 when the job has no
  # "retry_count", else retry_count + 2 (Sidekiq sets retry_count to 0 when
  # the first attempt fails, so the job it re-enqueues is attempt 2). A job
  # that raises ends its attempt failed (error.type = the exception class),
  # whether Sidekiq retries it or not.
  #
  # Every record logged while the job runs carries its span ids and the
  # fields jid, class (and bid, when the job has a batch); through
  # Ffitel.logger (made Sidekiq's logger by install) Sidekiq's own JobLogger
  # lines ("start", "done" with elapsed, "fail") too: install sets a job
  # logger that starts the attempt before them.
  module Sidekiq
    # The job-hash key that carries the producer's trace context.
    CARRIER_KEY = "ffitel"
    # The job being processed in this fiber (its jid), so the server
    # middleware does not start a second attempt inside the job logger's.
    ACTIVE_KEY = :__ffitel_sidekiq_jid

    class << self
      # Adds the client middleware (and, in a Sidekiq server process, the
      # server middleware and job logger). +logger+: make Ffitel.logger
      # Sidekiq's logger (with a Sidekiq formatter, whose context it reads).
      # Idempotent.
      def install(logger: true)
        ::Sidekiq.configure_client { |config| add_client(config) }
        ::Sidekiq.configure_server do |config|
          add_client(config)
          config.server_middleware do |chain|
            chain.add(ServerMiddleware) unless chain.exists?(ServerMiddleware)
          end
          job_logger = config.options[:job_logger]
          config.options[:job_logger] = JobLogger if job_logger.nil? || job_logger == ::Sidekiq::JobLogger
          use_logger(config) if logger
        end
        true
      end

      # The messaging attributes of a job's spans.
      def attributes(job, queue, operation)
        { "messaging.system" => "sidekiq", "messaging.operation.name" => operation,
          "messaging.operation.type" => operation, "messaging.destination.name" => queue.to_s,
          "messaging.message.id" => job["jid"].to_s }
      end

      # The class name Sidekiq shows for a job (ActiveJob's wrapped class).
      def job_class(job)
        (job["display_class"] || job["wrapped"] || job["class"]).to_s
      end

      # Sidekiq's attempt number: see the module comment.
      def attempt(job)
        count = job["retry_count"]
        count.is_a?(Integer) ? count + 2 : 1
      end

      # Runs the block as one attempt of +job+ (once per job, however many
      # hooks call it). Sidekiq wraps a handled error (retried or dead) in
      # Sidekiq::JobRetry::Handled; the attempt records the cause.
      def process(job, queue)
        jid = job["jid"]
        t = Thread.current
        return yield if jid && t[ACTIVE_KEY] == jid

        klass = job_class(job)
        task = Ffitel.start_task(klass, worker: queue.to_s, task_id: jid.to_s, attempt: attempt(job),
                                        carrier: job[CARRIER_KEY], system: "sidekiq", destination: queue.to_s)
        task.set_attributes(attributes(job, queue, "process"))
        fields = { jid: jid, class: klass }
        fields[:bid] = job["bid"] if job.key?("bid")
        outer = t[ACTIVE_KEY]
        t[ACTIVE_KEY] = jid
        begin
          Ffitel.with_fields(**fields) { run(task) { yield } }
        ensure
          t[ACTIVE_KEY] = outer
        end
      end

      private

      def run(task)
        Context.run_as_current(task) do
          yield
        rescue ::Sidekiq::JobRetry::Handled => e
          # Sidekiq's wrapper of an error it retried or buried: the attempt
          # records the job's own exception (finish is idempotent)
          task.finish(error: e.cause || e)
          raise
        end
      end

      def add_client(config)
        config.client_middleware do |chain|
          chain.add(ClientMiddleware) unless chain.exists?(ClientMiddleware)
        end
      end

      def use_logger(config)
        log = Ffitel.logger
        log.formatter ||= ::Sidekiq::Logger::Formatters::Pretty.new
        config.logger = log
      end
    end

    # Client middleware: the PRODUCER span and the carrier.
    class ClientMiddleware
      def call(_worker_class, job, queue, _redis_pool = nil)
        return yield if job.key?(CARRIER_KEY)

        klass = Sidekiq.job_class(job)
        Ffitel.span("send #{klass}", kind: :producer, attributes: Sidekiq.attributes(job, queue, "send")) do
          carrier = Ffitel.inject
          job[CARRIER_KEY] = carrier unless carrier.empty?
          yield
        end
      end
    end

    # Server middleware: the job's attempt, when the job logger has not
    # started it already (a custom job logger).
    class ServerMiddleware
      def call(_worker, job, queue, &block)
        Sidekiq.process(job, queue, &block)
      end
    end

    # Sidekiq's JobLogger inside the job's attempt, so its "start", "done"
    # and "fail" lines carry the job's span ids.
    class JobLogger < ::Sidekiq::JobLogger
      def call(item, queue)
        Sidekiq.process(item, queue) { super }
      end
    end
  end
end
