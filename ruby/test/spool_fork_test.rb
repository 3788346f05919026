# frozen_string_literal: true

require_relative "test_helper"
require "tmpdir"

# The spool in forked children (docs/SPOOL.md, "Forked children"): with
# FFITEL_SPOOL_DIR set, a child forked after the library reached phase 2 keeps
# logging, tracing and running tasks through C alone, with the parent's
# fields and current span; the parent adopts the children's segments.
class SpoolForkTest < Minitest::Test
  include FfitelTestHelpers

  CHILDREN = 4
  RECORDS = 1000

  def test_forked_children_log_spans_and_tasks_through_the_spool
    service = "rb-spoolfork-#{rand(1 << 30)}"
    spool = Dir.mktmpdir("ffitel-spool")
    env = collector.env(service).merge("FFITEL_SPOOL_DIR" => spool, "FFITEL_LOG_OUTPUT" => "none")
    out, err, status = run_ruby(<<~RUBY, env: env, timeout: 120)
      require "ffitel"
      require "json"
      $stdout.sync = true
      Ffitel.init_telemetry
      raise "not phase 2" unless Ffitel.phase == :telemetry

      spawn = lambda do |n|
        fork do
          tp = nil
          Ffitel.span("child work", attributes: { child: n }) do |s|
            tp = s.traceparent
            #{RECORDS}.times { |i| Ffitel.info("child record", child: n, i: i, odd: [i]) }
            s.set_attribute("phase", "done")
            s.set_attributes(ratio: 0.5, ok: true)
            s.add_event("checkpoint", records: #{RECORDS}, note: "done")
          end
          task_tp = nil
          Ffitel.task("child.job", task_id: "job-\#{n}") do |t|
            Ffitel.warn("in task", child: n)
            task_tp = t.traceparent
          end
          puts "CHILD \#{n} \#{tp} \#{task_tp} \#{JSON.generate(Ffitel.inject)} spool_child=\#{Ffitel::Runtime.spool_child?}"
          exit!(0)
        end
      end
      pids = []
      Ffitel.with_fields(request: "r1") do
        Ffitel.span("parent dispatch") do |ps|
          puts "PARENT \#{ps.traceparent}"
          pids += (0...2).map { |n| spawn.call(n) } # inside the parent's span
        end
        pids += (2...#{CHILDREN}).map { |n| spawn.call(n) } # a trace of their own
      end
      statuses = pids.map { |p| Process.wait2(p)[1].exitstatus }
      puts "STATUSES \#{statuses.inspect}"
      want = #{CHILDREN} * (#{RECORDS} + 1) + #{CHILDREN} * 2
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
      loop do
        sp = Ffitel.stats["pipeline"]["spool"]
        break if sp["recovered"] + sp["spans_recovered"] >= want
        break if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.2
      end
      puts "SPOOL \#{JSON.generate(Ffitel.stats["pipeline"]["spool"])}"
      Ffitel.shutdown
    RUBY
    assert_success(out, err, status)
    assert_includes out, "STATUSES [0, 0, 0, 0]"
    refute_includes err, "was forked after libffitel was loaded"
    parent_tp = out[/^PARENT (\S+)$/, 1]
    _, parent_trace, parent_span, = parent_tp.split("-")
    children = out.scan(/^CHILD (\d) (\S+) (\S+) (.*) spool_child=true$/).to_h do |n, tp, task_tp, inj|
      [n.to_i, [tp.split("-"), task_tp.split("-"), JSON.parse(inj)]]
    end
    assert_equal (0...CHILDREN).to_a, children.keys.sort, out
    children.each do |n, (tp, _task_tp, injected)|
      assert_equal(n < 2 ? { "traceparent" => parent_tp } : {}, injected)
      assert_equal n < 2, tp[1] == parent_trace, "child #{n}: trace #{tp[1]} vs the parent's #{parent_trace}"
    end
    assert_equal CHILDREN - 2, (2...CHILDREN).map { |n| children[n][0][1] }.uniq.size

    recs = nil
    assert wait_for(40) {
      recs = collector.logs.select { |r| r["service"] == service && r["body"] == "child record" }
      recs.size >= CHILDREN * RECORDS
    }, "child records: #{recs&.size}"
    seen = Hash.new { |h, k| h[k] = {} }
    recs.each do |r|
      n = r["attrs"]["child"]
      tp = children.fetch(n)[0]
      assert_equal [tp[1], tp[2]], [r["trace_id"], r["span_id"]]
      assert_equal "r1", r["attrs"]["request"] # the parent's fields
      assert_equal "[#{r["attrs"]["i"]}]", r["attrs"]["odd"] # an Array: as text
      seen[n][r["attrs"]["i"]] = true
    end
    assert_equal (0...CHILDREN).to_h { |n| [n, RECORDS] }, seen.transform_values(&:size)

    spans = nil
    assert wait_for(30) {
      spans = collector.spans.select { |s| s["service"] == service && ["child work", "process child.job"].include?(s["name"]) }
      spans.size >= 2 * CHILDREN
    }, "child spans: #{spans&.size}"
    assert_equal 2 * CHILDREN, spans.size
    children.each do |n, (tp, task_tp, _)|
      work = spans.select { |s| s["span_id"] == tp[2] }
      assert_equal 1, work.size
      assert_equal ["child work", tp[1]], [work[0]["name"], work[0]["trace_id"]]
      assert_equal n < 2, work[0]["parent_span_id"] == parent_span
      # attributes and an event of a child span, through C alone
      assert_equal({ "child" => n, "phase" => "done", "ratio" => 0.5, "ok" => true },
                   work[0]["attrs"].slice("child", "phase", "ratio", "ok"))
      events = work[0]["events"].map do |e|
        [e["name"], (e["attributes"] || []).to_h { |kv| [kv["key"], kv["value"].values.first] }]
      end
      assert_equal [["checkpoint", { "records" => RECORDS.to_s, "note" => "done" }]], events # OTLP JSON: ints as text
      task = spans.select { |s| s["span_id"] == task_tp[2] }
      assert_equal ["process child.job"], task.map { |s| s["name"] }
    end
    warned = collector.logs.select { |r| r["service"] == service && r["body"] == "in task" }
    assert_equal CHILDREN, warned.size
    warned.each { |r| assert_equal children.fetch(r["attrs"]["child"])[1][2], r["span_id"] }
  ensure
    FileUtils.rm_rf(spool) if spool
  end
end
