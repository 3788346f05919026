# frozen_string_literal: true

# Shared by the ffitel gem's tests. The library reads the environment once,
# when it loads, so this file fixes the in-process environment before anything
# loads it, and sends the library's console output (fd 2) to a file the tests
# read back as JSON lines. Tests that need another environment (export to a
# Collector, fork, signals) run Ruby subprocesses.

require "minitest/autorun"
require "json"
require "rbconfig"
require "socket"
require "timeout"
require "tmpdir"
require "fileutils"

RUBY_LIB = File.expand_path("../lib", __dir__)
REPO_ROOT = File.expand_path("../..", __dir__)
$LOAD_PATH.unshift(RUBY_LIB) unless $LOAD_PATH.include?(RUBY_LIB)

# The in-process tests use the defaults (logfmt text on a non-TTY, level
# debug in development); subprocess tests pass their environment at spawn.

TEST_TMP = Dir.mktmpdir("ffitel-ruby-test")
CONSOLE_LOG = File.join(TEST_TMP, "console.jsonl")
unless ENV["FFITEL_TEST_KEEP_STDERR"]
  # Minitest reports on stdout; the library's console output lands here.
  $stderr.reopen(CONSOLE_LOG, "a")
  $stderr.sync = true
end
Minitest.after_run { FileUtils.rm_rf(TEST_TMP) unless ENV["FFITEL_TEST_KEEP_TMP"] }

# The build tree's library, not a copy `gem build` left in lib/ffitel/.
ENV["FFITEL_LIBRARY"] ||= File.join(REPO_ROOT, "build", "libffitel.so")

require "ffitel"

module FfitelTestHelpers
  # Console records written since +mark+ (a byte offset from console_mark).
  def console_mark
    File.size?(CONSOLE_LOG) || 0
  end

  def console_records(mark)
    data = File.binread(CONSOLE_LOG)[mark..] || ""
    data.force_encoding(Encoding::UTF_8).each_line.filter_map { |line| parse_logfmt(line) }
  end

  LOGFMT_PAIR = /([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/.freeze

  # One logfmt line (the library's plain text console format) as a Hash of
  # Strings, or nil.
  def parse_logfmt(line)
    return nil unless line.start_with?("time=")

    line.scan(LOGFMT_PAIR).to_h do |k, v|
      [k, v.start_with?('"') ? JSON.parse("[#{v}]").first : v]
    end
  rescue JSON::ParserError
    nil
  end

  # The records logged by the block, read back from the console.
  def capture_console
    mark = console_mark
    yield
    Ffitel.flush # phase 2 writes the console from a background goroutine
    console_records(mark)
  end

  # Runs Ruby code in a subprocess with ffitel on the load path. Fails the
  # test (never hangs) when it runs longer than +timeout+ seconds.
  def run_ruby(code, env: {}, timeout: 60, args: [], discard_stderr: false)
    out_r, out_w = IO.pipe
    err_path = discard_stderr ? File::NULL : File.join(TEST_TMP, "sub-#{Process.pid}-#{rand(1 << 30)}.err")
    base = { "FFITEL_LOG_FORMAT" => "json", "LOG_LEVEL" => "debug", "FFITEL_TEST_KEEP_STDERR" => "1" }
    pid = Process.spawn(base.merge(env), RbConfig.ruby, "-I", RUBY_LIB, "-e", code, *args,
                        out: out_w, err: err_path, pgroup: true)
    out_w.close
    reader = Thread.new { out_r.read }
    status = nil
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      _, status = Process.waitpid2(pid, Process::WNOHANG)
      break if status
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        Process.kill("KILL", -pid) rescue nil
        Process.waitpid(pid) rescue nil
        flunk "subprocess did not finish within #{timeout}s (hang?); stderr:\n#{File.read(err_path)[-3000..] || File.read(err_path)}"
      end
      sleep 0.05
    end
    Process.kill("KILL", -pid) rescue nil # stray grandchildren
    out = reader.value
    out_r.close
    err = !discard_stderr && File.exist?(err_path) ? File.binread(err_path).force_encoding(Encoding::UTF_8) : ""
    [out, err, status]
  end

  def assert_success(out, err, status)
    assert status.success?, "subprocess failed (#{status.inspect})\nstdout:\n#{out}\nstderr (tail):\n#{err[-4000..] || err}"
  end

  # JSON lines in a subprocess's stderr (the library's console output).
  def json_lines(text)
    text.each_line.filter_map do |line|
      line.start_with?("{") ? JSON.parse(line) : nil
    rescue JSON::ParserError
      nil
    end
  end

  # One Collector for the whole run, started on first use (a missing binary
  # fails the test that asked for it).
  def collector
    $ffitel_test_collector ||= Collector.new(TEST_TMP).tap { |c| Minitest.after_run { c.stop } }
  end

  def wait_for(timeout = 20)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      return true if yield
      return false if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.1
    end
  end
end

require_relative "support/collector"
require_relative "support/redis"
