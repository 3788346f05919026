# frozen_string_literal: true

# The Sidekiq server side of the example: three jobs, run with
#
#   REDIS_URL=redis://127.0.0.1:6379/0 TELEMETRY_ENABLED=true \
#     sidekiq -r ./examples/sidekiq/jobs.rb -c 2
#
# (with ruby/lib on RUBYLIB). Ffitel::Sidekiq.install adds the middleware
# and makes Ffitel.logger Sidekiq's logger.
require "ffitel/sidekiq"

Ffitel::Sidekiq.install
Sidekiq.configure_server do |config|
  # Retries are polled every 0.5-1.5 s instead of Sidekiq's 5-15 s.
  config.options[:poll_interval_average] = ENV.fetch("SIDEKIQ_POLL_SECONDS", "1").to_i
  config.on(:startup) { Ffitel.init_telemetry }
end

# Succeeds.
class ReportJob
  include Sidekiq::Worker

  def perform(report_id)
    Ffitel.logger.info("building report", report_id: report_id)
  end
end

# Fails for good: no retries, the attempt ends with error.type.
class ChargeJob
  include Sidekiq::Worker
  sidekiq_options retry: false

  def perform(amount)
    Ffitel.info("charging", amount: amount)
    raise ArgumentError, "card declined"
  end
end

# Fails on its first attempt and succeeds on its retry (1 s later, plus
# Sidekiq's jitter of up to 9 s).
class FlakyJob
  include Sidekiq::Worker
  sidekiq_options retry: 1
  sidekiq_retry_in { 1 }

  def perform(name)
    tries = Sidekiq.redis { |conn| conn.incr("example:flaky:#{jid}") }
    Ffitel.logger.info("flaky attempt", name: name, tries: tries)
    raise IOError, "upstream timed out" if tries == 1
  end
end
