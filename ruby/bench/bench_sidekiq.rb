# frozen_string_literal: true

# Per-job overhead of Ffitel::Sidekiq: an empty job through Sidekiq's server
# middleware chain and job logger, and through the client middleware chain,
# with and without ffitel (no Redis: the chains are called directly), in
# phase 2.
#
#   FFITEL_LOG_OUTPUT=none ruby -Iruby/lib ruby/bench/bench_sidekiq.rb [N]
require "ffitel/sidekiq"
require "sidekiq/processor"

def bench(label, n)
  (n / 10).times { yield }
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
  c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :nanosecond)
  n.times { yield }
  wall = (Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond) - t0).fdiv(n)
  cpu = (Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :nanosecond) - c0).fdiv(n)
  puts format("%-44s %10.0f %12.0f", label, wall, cpu)
  cpu
end

class EmptyJob
  include Sidekiq::Worker
  def perform; end
end

n = (ARGV[0] || 20_000).to_i
Ffitel.init_telemetry
Sidekiq.logger.level = Logger::WARN # JobLogger's start/done lines cost the same either way
job = { "class" => "EmptyJob", "jid" => "b0a1c2d3e4f5a6b7c8d9e0f1", "queue" => "default", "args" => [] }
Ffitel.send_task("EmptyJob") { job["ffitel"] = Ffitel.inject }
worker = EmptyJob.new

plain_chain = Sidekiq::Middleware::Chain.new
ffitel_chain = Sidekiq::Middleware::Chain.new { |c| c.add(Ffitel::Sidekiq::ServerMiddleware) }
plain_logger = Sidekiq::JobLogger.new
ffitel_logger = Ffitel::Sidekiq::JobLogger.new
client_plain = Sidekiq::Middleware::Chain.new
client_ffitel = Sidekiq::Middleware::Chain.new { |c| c.add(Ffitel::Sidekiq::ClientMiddleware) }

run = lambda do |logger, chain|
  logger.prepare(job) { logger.call(job, "default") { chain.invoke(worker, job, "default") { worker.perform } } }
end

puts "ruby #{RUBY_VERSION}, sidekiq #{Sidekiq::VERSION}, #{n} jobs, phase 2"
puts format("%-44s %10s %12s", "case", "wall ns", "CPU ns")
plain = bench("server: JobLogger + chain (no ffitel)", n) { run.call(plain_logger, plain_chain) }
instrumented = bench("server: Ffitel::Sidekiq job logger + chain", n) { run.call(ffitel_logger, ffitel_chain) }
puts format("server overhead per job (CPU): %.0f ns", instrumented - plain)
cplain = bench("client: chain (no ffitel)", n) { client_plain.invoke(EmptyJob, job.reject { |k, _| k == "ffitel" }, "default", nil) { true } }
cffitel = bench("client: ClientMiddleware (send span)", n) do
  client_ffitel.invoke(EmptyJob, job.reject { |k, _| k == "ffitel" }, "default", nil) { true }
end
puts format("client overhead per push (CPU): %.0f ns", cffitel - cplain)
Ffitel.shutdown
