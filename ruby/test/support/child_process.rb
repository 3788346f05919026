# frozen_string_literal: true

require "timeout"

# Stopping a service process the tests started (the Collector, redis-server).
module ChildProcess
  # Sends +signal+, waits up to 10 s, then kills. nil-safe and idempotent.
  def self.stop(pid, signal)
    return if pid.nil?

    Process.kill(signal, pid) rescue nil
    begin
      Timeout.timeout(10) { Process.waitpid(pid) }
    rescue Timeout::Error
      Process.kill("KILL", pid) rescue nil
      Process.waitpid(pid) rescue nil
    rescue Errno::ECHILD
      nil
    end
  end
end
