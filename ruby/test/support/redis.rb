# frozen_string_literal: true

require "socket"
require "tmpdir"
require "timeout"
require_relative "child_process"

# A real redis-server (Debian's redis-server) on a free loopback port, with
# no persistence, for the Sidekiq tests. A missing binary fails the test
# that asked for it, with the package to install.
class RedisServer
  attr_reader :port

  def initialize(parent_dir = Dir.tmpdir)
    binary = ENV["FFITEL_REDIS_SERVER"] || "redis-server"
    unless system("command -v #{binary} >/dev/null 2>&1")
      raise "redis-server is missing: install Debian's redis-server (scripts/install-deps.sh does)"
    end

    @dir = Dir.mktmpdir("redis", parent_dir)
    @port = Collector.free_port
    @log = File.join(@dir, "redis.log")
    @pid = Process.spawn(binary, "--port", @port.to_s, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", @dir, out: @log, err: @log)
    wait_listening
  end

  def url
    "redis://127.0.0.1:#{@port}/0"
  end

  def wait_listening
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 20
    loop do
      TCPSocket.new("127.0.0.1", @port).close
      return
    rescue SystemCallError
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        stop
        raise "redis-server did not listen on #{@port} within 20s: #{File.read(@log)}"
      end
      sleep 0.05
    end
  end

  def stop
    ChildProcess.stop(@pid, "TERM")
    @pid = nil
  end
end
