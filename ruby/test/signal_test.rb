# frozen_string_literal: true

require_relative "test_helper"

# The host owns SIGINT/SIGTERM: trap handlers installed after the library is
# loaded run, under load, and Interrupt still reaches the main thread.
class SignalTest < Minitest::Test
  include FfitelTestHelpers

  WORKER = <<~RUBY
    require "ffitel"
    $stdout.sync = true
    Ffitel.init_telemetry
    counts = Hash.new(0)
    done = false
    trap("TERM") { counts[:term] += 1 }
    trap("INT") { counts[:int] += 1 }
    trap("USR1") { counts[:usr1] += 1 }
    trap("USR2") { done = true }
    threads = 4.times.map do |t|
      Thread.new do
        n = 0
        until done
          Ffitel.span("busy") { Ffitel.info("busy", thread: t, n: n) }
          Ffitel.counter_add("rb.signal.busy", 1)
          n += 1
        end
        n
      end
    end
    puts "ready"
    sleep 0.01 until done
    records = threads.sum(&:value)
    puts "counts term=\#{counts[:term]} int=\#{counts[:int]} usr1=\#{counts[:usr1]} records=\#{records}"
    sleep 0.3 # signals still in flight reach the traps, not the next step
    trap("INT", "DEFAULT") # Ruby's default: raise Interrupt in the main thread
    begin
      puts "waiting for interrupt"
      sleep 30
      puts "no interrupt"
    rescue Interrupt
      puts "interrupt reached the main thread"
    end
    puts "shutdown=\#{Ffitel.shutdown(timeout: 3.0)}"
  RUBY

  def test_trap_handlers_run_under_load_and_interrupt_reaches_main
    out_r, out_w = IO.pipe
    pid = Process.spawn(collector.env("rb-signal"), RbConfig.ruby, "-I", RUBY_LIB, "-e", WORKER,
                        out: out_w, err: File::NULL)
    out_w.close
    lines = []
    read_line = lambda do |timeout|
      ready = IO.select([out_r], nil, nil, timeout)
      flunk "worker said nothing for #{timeout}s; so far: #{lines}" unless ready
      line = out_r.gets or flunk("worker exited early; so far: #{lines}")
      lines << line.strip
      line.strip
    end

    assert_equal "ready", read_line.call(30)
    sleep 0.3 # threads busy in Go
    sent = 0
    6000.times do |i|
      Process.kill(%w[TERM INT USR1][i % 3], pid)
      sent += 1
      sleep 0.001 if (i % 200).zero?
    end
    sleep 0.2
    Process.kill("USR2", pid)
    counts = read_line.call(30)
    m = counts.match(/term=(\d+) int=(\d+) usr1=(\d+) records=(\d+)/) or flunk(counts)
    term, int, usr1, records = m.captures.map(&:to_i)
    assert_operator term, :>, 0
    assert_operator int, :>, 0
    assert_operator usr1, :>, 0
    assert_operator records, :>, 0
    $stdout.puts "\n  signals: sent=#{sent} handled term=#{term} int=#{int} usr1=#{usr1} (pending signals coalesce) records=#{records}"

    assert_equal "waiting for interrupt", read_line.call(10)
    Process.kill("INT", pid)
    assert_equal "interrupt reached the main thread", read_line.call(10)
    assert_match(/\Ashutdown=(true|false)\z/, read_line.call(10)) # false: the deadline cut a full queue short
    _, status = Process.wait2(pid)
    pid = nil
    assert status.success?, "worker exit: #{status.inspect}"
  ensure
    if pid
      Process.kill("KILL", pid) rescue nil
      Process.wait(pid) rescue nil
    end
    out_r&.close
  end
end
