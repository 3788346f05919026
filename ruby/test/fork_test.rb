# frozen_string_literal: true

require_relative "test_helper"

# A Go runtime does not survive fork(). Loaded before a fork, the child falls
# back to Ruby's Logger and never hangs; required (not loaded) before a fork,
# each child loads its own copy and exports.
class ForkTest < Minitest::Test
  include FfitelTestHelpers

  FORKED_WARNING = "was forked after libffitel was loaded"

  def test_child_forked_after_loading_falls_back_and_never_hangs
    service = "rb-fork-#{rand(1 << 30)}"
    out, err, status = run_ruby(<<~RUBY, env: collector.env(service), timeout: 30)
      require "ffitel"
      $stdout.sync = true
      Ffitel.init_telemetry
      Ffitel.info("parent before fork")
      pid = fork do
        Ffitel.info("child record one", n: 1)
        Ffitel.info("child record two")
        Ffitel.with_fields(job: "j1") { Ffitel.logger.warn("child via logger") }
        Ffitel.span("child span") { |s| puts "child span recording=\#{s.recording?} tp=\#{s.traceparent.inspect}" }
        puts "child phase=\#{Ffitel.phase} counter=\#{Ffitel.counter_add("rb.fork.c", 1)} init=\#{Ffitel.init_telemetry} stats=\#{Ffitel.stats}"
        puts "child inject=\#{Ffitel.inject}"
      end
      Process.wait(pid)
      puts "child exit=\#{$?.exitstatus}"

      # A fork that bypasses Process._fork (e.g. from a C extension): the C
      # guard answers FFITEL_E_FORKED and the wrapper falls back the same way.
      levels = Ffitel::Runtime.levels
      pid = fork do
        Ffitel::Runtime.instance_variable_set(:@state, :loaded) # undo what the fork hook did
        Ffitel::Runtime.instance_variable_set(:@levels, levels)
        Ffitel.info("raw child record")
        puts "raw child phase=\#{Ffitel.phase}"
      end
      Process.wait(pid)
      puts "raw child exit=\#{$?.exitstatus}"
      Ffitel.info("parent after fork")
      puts "parent phase=\#{Ffitel.phase} shutdown=\#{Ffitel.shutdown(timeout: 5.0)}"
    RUBY
    assert_success(out, err, status)
    assert_includes out, "child span recording=false tp=nil"
    assert_includes out, "child phase=forked counter=false init=false stats={}"
    assert_includes out, "child inject={}"
    assert_includes out, "child exit=0"
    assert_includes out, "raw child phase=forked"
    assert_includes out, "raw child exit=0"
    assert_includes out, "parent phase=telemetry shutdown=true"
    assert_equal 2, err.scan(FORKED_WARNING).size, "one warning per child:\n#{err}"
    assert_match(/level=INFO pid=\d+ msg=child record one n=1/, err)
    assert_match(/level=WARN pid=\d+ msg=child via logger job=j1/, err)
    assert_match(/msg=raw child record/, err)

    logs = nil
    assert wait_for { (logs = collector.logs.select { |r| r["service"] == service }).any? { |r| r["body"] == "parent after fork" } }
    bodies = logs.map { |r| r["body"] }
    assert_includes bodies, "parent before fork"
    refute(bodies.any? { |b| b.start_with?("child") }, "a forked child exports nothing")
  end

  def test_pre_forking_master_children_each_export
    service = "rb-prefork-#{rand(1 << 30)}"
    out, err, status = run_ruby(<<~RUBY, env: collector.env(service), timeout: 60)
      require "ffitel"
      $stdout.sync = true
      # The master (Puma cluster, Unicorn, Resque) requires ffitel but does not use it.
      Ffitel.logger
      pids = 3.times.map do |i|
        fork do
          Ffitel.init_telemetry  # e.g. in on_worker_boot / after_fork
          Ffitel.with_fields(worker_index: i) do
            Ffitel.span("prefork job \#{i}") { Ffitel.info("hello from worker \#{i}") }
          end
          Ffitel.counter_add("rb.prefork.jobs", 1, worker: i.to_s)
          # at_exit flushes
        end
      end
      codes = pids.map { |pid| Process.wait2(pid)[1].exitstatus }
      puts "master loaded=\#{File.read("/proc/self/maps").include?("libffitel")} children=\#{codes}"
    RUBY
    assert_success(out, err, status)
    assert_includes out, "master loaded=false children=[0, 0, 0]"
    refute_includes err, FORKED_WARNING

    logs = spans = points = nil
    hellos = -> { logs.map { |r| r["body"] }.grep(/hello/).sort }
    assert wait_for { (logs = collector.logs.select { |r| r["service"] == service }) && hellos.call.size >= 3 }, "records: #{logs}"
    assert_equal (0..2).map { |i| "hello from worker #{i}" }, hellos.call
    assert wait_for { (spans = collector.spans.select { |s| s["service"] == service }).size >= 3 }
    assert wait_for { (points = collector.metric_points.select { |p| p["service"] == service && p["name"] == "rb.prefork.jobs" }).map { |p| p.dig("attrs", "worker") }.uniq.size == 3 }
    # Each worker's Go runtime must seed its own randomness: forked children
    # share the parent's AT_RANDOM auxv bytes, which seed Go's runtime rand.
    assert_equal 3, spans.map { |s| s["trace_id"] }.uniq.size,
                 "pre-forked workers generated the same trace ids: #{spans.map { |s| s.values_at('name', 'trace_id', 'span_id') }}"
  end

  # Forked children share the parent's AT_RANDOM auxv bytes, which seed a Go
  # runtime's random generator (and so OpenTelemetry's trace/span ids): each
  # worker's copy of the library must reseed from the kernel.
  def test_pre_forked_workers_generate_distinct_trace_ids
    out, err, status = run_ruby(<<~RUBY, timeout: 30)
      require "ffitel"
      $stdout.sync = true
      4.times { fork { Ffitel.init_console; Ffitel.span("x") { |s| puts s.traceparent } } }
      Process.waitall
    RUBY
    assert_success(out, err, status)
    ids = out.lines.map(&:strip)
    assert_equal 4, ids.size
    assert_equal 4, ids.uniq.size, "pre-forked workers generated identical trace ids:\n#{ids.join("\n")}"
  end
end
