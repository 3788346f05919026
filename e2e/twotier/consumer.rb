# frozen_string_literal: true

# Consumer of the two-tier test: continues each trace the Python producer
# started.
#
#   ruby -Iruby/lib consumer.rb jobs.jsonl
#
# For every job line, one attempt of the task ProcessOrder (a CONSUMER span,
# child of the producer's "send ProcessOrder" through the carrier) with a log
# record and an INTERNAL child span "charge card". Exits 1 when shutdown left
# anything undelivered.
require "json"
require "ffitel"

path = ARGV.fetch(0)
Ffitel.init_telemetry
File.foreach(path) do |line|
  job = JSON.parse(line)
  Ffitel.task("ProcessOrder", worker: "ruby-consumer", task_id: "order-#{job["index"]}", attempt: 1,
                              carrier: job["carrier"], propagation: :child) do
    Ffitel.info("processing order", order_index: job["index"])
    Ffitel.span("charge card", attributes: { "order.index" => job["index"] }) { nil }
  end
end
delivered = Ffitel.shutdown(timeout: 30.0)
puts JSON.generate({ delivered: delivered })
exit(delivered ? 0 : 1)
