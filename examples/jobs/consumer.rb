# frozen_string_literal: true

# Processes the jobs examples/jobs/producer.py enqueued: each attempt runs
# inside Ffitel.task, which continues the producer's trace on attempt 1 and
# starts a linked trace on a retry.
#
#   ruby -Iruby/lib examples/jobs/consumer.rb jobs.jsonl
require "json"
require "ffitel"

class ReportFailed < StandardError; end

Ffitel.init_telemetry
File.foreach(ARGV.fetch(0)) do |line|
  job = JSON.parse(line)
  begin
    Ffitel.task(job["type"], worker: "ruby-report-worker", task_id: job["task_id"],
                             attempt: job["attempt"], carrier: job["carrier"]) do
      Ffitel.info("ruby consumer working", task_id: job["task_id"], attempt: job["attempt"])
      raise ReportFailed, "renderer timed out" if job["fail"]
    end
  rescue ReportFailed => e
    Ffitel.warn("job failed; the queue will retry it", error: e.message)
  end
end
Ffitel.shutdown
