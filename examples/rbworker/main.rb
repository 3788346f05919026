# frozen_string_literal: true

# rbworker is a small ffitel worker in Ruby, the twin of examples/goworker: it
# logs in phase 1 while it "wires up its bridge", upgrades to phase 2,
# processes a few jobs with spans, logs and counters, and shuts down.
# `make demo` runs it against a real OpenTelemetry Collector:
#
#   ruby -Iruby/lib examples/rbworker/main.rb

begin
  require "ffitel"
rescue LoadError
  $LOAD_PATH.unshift(File.expand_path("../../ruby/lib", __dir__))
  require "ffitel"
end

# Phase 1: console only, safe before anything else is ready.
Ffitel.init_console
log = Ffitel.logger.with_fields(worker: "rbworker")
log.info("starting; wiring up the bridge")
Ffitel.counter_add("rbworker.jobs", 1, queue: "warmup", outcome: "ok")
sleep 0.02
log.debug("bridge ready")

# Phase 2: the same logger, now exported too. Shutdown flushes at exit.
Ffitel.init_telemetry

def charge(log, job)
  Ffitel.span("charge card", kind: :client) do
    sleep 0.005
    raise ArgumentError, "card declined" if job == 3

    log.debug("card charged", amount_cents: 500 * job)
  end
end

(1..3).each do |job|
  outcome = "ok"
  Ffitel.with_fields(correlation_id: "corr-#{job}") do
    Ffitel.span("process job", kind: :consumer, attributes: { "job.number" => job }) do
      Ffitel.info("processing job", job: job, worker: "rbworker")
      begin
        charge(log, job)
      rescue ArgumentError => e
        Ffitel.error("job failed", job: job, error: e.message, worker: "rbworker")
        outcome = "error"
      end
    end
  end
  Ffitel.counter_add("rbworker.jobs", 1, queue: "main", outcome: outcome)
end

stats = Ffitel.stats.dig("pipeline", "logs")
Ffitel.info("all jobs done", worker: "rbworker", **stats.transform_keys { |k| :"logs.#{k}" })
exit(Ffitel.shutdown ? 0 : 1)
