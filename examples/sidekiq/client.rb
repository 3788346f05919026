# frozen_string_literal: true

# The Sidekiq client side of the example: enqueues one job of each kind
# inside a request span and prints their jids as JSON.
#
#   REDIS_URL=redis://127.0.0.1:6379/0 ruby -Iruby/lib examples/sidekiq/client.rb
require "ffitel/sidekiq"
require "json"
require_relative "jobs"

Ffitel.init_telemetry
jids = Ffitel.span("POST /checkout", kind: :server) do
  { "ok" => ReportJob.perform_async(42), "dead" => ChargeJob.perform_async(500),
    "flaky" => FlakyJob.perform_async("inventory") }
end
puts JSON.generate(jids)
Ffitel.shutdown
