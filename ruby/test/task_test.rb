# frozen_string_literal: true

require_relative "test_helper"

# Job telemetry: Ffitel.send_task on the producer side, Ffitel.task (one
# attempt, a CONSUMER span plus the messaging metrics) on the consumer side.
class TaskTest < Minitest::Test
  include FfitelTestHelpers

  PRODUCER_TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
  PRODUCER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
  BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 60, 120, 300, 600].freeze

  # ---- in process ----------------------------------------------------------

  def test_task_yields_current_task_and_returns_block_value
    value = Ffitel.task("SendReport", worker: "report-worker", task_id: "t-1") do |task|
      assert_kind_of Ffitel::Task, task
      assert_same task, Ffitel.current_span
      assert_equal "process SendReport", task.name
      assert_equal ["SendReport", 1], [task.task_type, task.attempt]
      assert_match(/\A00-\h{32}-\h{16}-\h{2}\z/, task.traceparent)
      assert_same task, task.set_attribute("report.pages", 3).add_event("rendered", pages: 3)
      :done
    end
    assert_equal :done, value
    assert_nil Ffitel.current_span
  end

  def test_task_exception_is_reraised_unchanged_and_task_ended
    error = Class.new(StandardError)
    raised = error.new("printer on fire")
    task = nil
    e = assert_raises(error) do
      Ffitel.task("SendReport", attempt: 1) do |t|
        task = t
        raise raised
      end
    end
    assert_same raised, e
    assert task.ended?
    assert_nil Ffitel.current_span
    e = assert_raises(ArgumentError) { Ffitel.task("SendReport") { raise ArgumentError, "bad input" } }
    assert_equal "bad input", e.message
  end

  def test_task_restores_the_outer_span_and_ends_on_break
    Ffitel.span("outer") do |outer|
      result = Ffitel.task("Job") do |task|
        @task = task
        break :early
      end
      assert_equal :early, result
      assert @task.ended?
      assert_same outer, Ffitel.current_span
    end
  end

  def test_nested_logs_and_spans_carry_the_task_ids
    recs = capture_console do
      Ffitel.task("SendReport", worker: "report-worker", task_id: "t-9", carrier: { "traceparent" => PRODUCER_TP }) do |task|
        Ffitel.info("working")
        Ffitel.span("render") do |inner|
          assert_equal task.trace_id, inner.trace_id
          Ffitel.info("rendering")
          @inner = inner.span_id
        end
        @ids = [task.trace_id, task.span_id]
      end
    end
    assert_equal PRODUCER_TRACE, @ids[0], "attempt 1 joins the producer's trace (child)"
    working = recs.find { |r| r["msg"] == "working" }
    assert_equal @ids, [working["trace_id"], working["span_id"]]
    rendering = recs.find { |r| r["msg"] == "rendering" }
    assert_equal [@ids[0], @inner], [rendering["trace_id"], rendering["span_id"]]
  end

  def test_propagation_modes
    carrier = { "traceparent" => PRODUCER_TP }
    trace = ->(**kw) { Ffitel.task("Job", carrier: carrier, **kw, &:trace_id) }
    assert_equal PRODUCER_TRACE, trace.call(attempt: 1)
    refute_equal PRODUCER_TRACE, trace.call(attempt: 2), "auto: a retry starts a new trace"
    assert_equal PRODUCER_TRACE, trace.call(attempt: 2, propagation: :child)
    refute_equal PRODUCER_TRACE, trace.call(attempt: 1, propagation: :link)
    refute_equal PRODUCER_TRACE, trace.call(attempt: 1, propagation: :none)
    assert_equal PRODUCER_TRACE, trace.call(attempt: 1, propagation: :auto)
    assert_equal PRODUCER_TRACE, trace.call(attempt: 1, propagation: "child")
    assert_equal PRODUCER_TRACE, Ffitel.task("Job", carrier: { traceparent: PRODUCER_TP }, &:trace_id),
                 "Symbol keys (a carrier parsed with symbolize_names) work too"
    assert_raises(ArgumentError) { Ffitel.task("Job", propagation: :sideways) { nil } }
    assert_raises(ArgumentError) { Ffitel.task("Job") }
  end

  def test_inject_returns_the_whole_carrier_hash_with_tracestate
    assert_equal({}, Ffitel.inject)
    carrier = { "traceparent" => PRODUCER_TP, "tracestate" => "vendor=abc,other=1" }
    Ffitel.task("SendReport", carrier: carrier) do |task|
      headers = Ffitel.inject
      assert_kind_of Hash, headers
      assert_equal({ "traceparent" => task.traceparent, "tracestate" => "vendor=abc,other=1" }, headers)
      filled = { "x-request-id" => "r-1" }
      assert_same filled, Ffitel.inject(filled)
      assert_equal({ "x-request-id" => "r-1" }.merge(headers), filled)
    end
    assert_equal({}, Ffitel.inject)
  end

  def test_task_inside_an_open_span_takes_the_carrier_as_its_parent
    # The link to the open span only shows in the export: see the Collector
    # test ("poll queue"). Here: the carrier still gives the parent.
    Ffitel.span("poll queue") do |poll|
      refute_equal PRODUCER_TRACE, poll.trace_id
      Ffitel.task("SendReport", attempt: 1, carrier: { "traceparent" => PRODUCER_TP }) do |task|
        assert_equal PRODUCER_TRACE, task.trace_id
        assert_same task, Ffitel.current_span
      end
      assert_same poll, Ffitel.current_span
      linked = Ffitel.task("SendReport", carrier: { "traceparent" => PRODUCER_TP }, propagation: :link, &:trace_id)
      refute_includes [PRODUCER_TRACE, poll.trace_id], linked
    end
  end

  def test_malformed_or_missing_carrier_starts_a_new_trace_and_is_no_error
    [nil, {}, { "traceparent" => "garbage" }, { "traceparent" => "" }].each do |carrier|
      value = Ffitel.task("Job", carrier: carrier) do |task|
        assert_match(/\A\h{32}\z/, task.trace_id)
        refute_equal PRODUCER_TRACE, task.trace_id
        :ran
      end
      assert_equal :ran, value, carrier.inspect
    end
  end

  def test_send_task_is_a_producer_span_whose_carrier_joins_the_task
    value = Ffitel.send_task("SendReport", "app.report.kind" => "weekly") do |span|
      assert_kind_of Ffitel::Span, span
      assert_same span, Ffitel.current_span
      assert_equal "send SendReport", span.name
      carrier = Ffitel.inject
      assert_equal({ "traceparent" => span.traceparent }, carrier)
      Ffitel.task("SendReport", carrier: carrier) do |task|
        assert_equal span.trace_id, task.trace_id
        refute_equal span.span_id, task.span_id
      end
      :enqueued
    end
    assert_equal :enqueued, value
    assert_raises(ArgumentError) { Ffitel.send_task("SendReport") }
  end

  def test_forked_child_and_missing_library_just_run_the_block
    out, err, status = run_ruby(<<~RUBY, timeout: 30)
      require "ffitel"
      $stdout.sync = true
      Ffitel.init_console
      pid = fork do
        v = Ffitel.task("Job", carrier: { "traceparent" => "#{PRODUCER_TP}" }) do |t|
          t.set_attribute("a", 1).add_event("e")
          "child recording=\#{t.recording?} tp=\#{t.traceparent.inspect}"
        end
        puts v
        s = Ffitel.send_task("Job") { Ffitel.inject }
        puts "child send=\#{s}"
        begin
          Ffitel.task("Job") { raise ArgumentError, "boom" }
        rescue ArgumentError => e
          puts "child raised=\#{e.message}"
        end
      end
      Process.wait(pid)
      puts "child exit=\#{$?.exitstatus}"
    RUBY
    assert_success(out, err, status)
    assert_includes out, "child recording=false tp=nil"
    assert_includes out, "child send={}"
    assert_includes out, "child raised=boom"
    assert_includes out, "child exit=0"

    out, err, status = run_ruby(<<~RUBY, env: { "FFITEL_LIBRARY" => "/nonexistent/libffitel.so" }, timeout: 30)
      require "ffitel"
      puts Ffitel.task("Job", worker: "w") { |t| "no library recording=\#{t.recording?}" }
      puts Ffitel.send_task("Job") { "no library send" }
    RUBY
    assert_success(out, err, status)
    assert_includes out, "no library recording=false"
    assert_includes out, "no library send"
  end

  # ---- real processes, real Collector --------------------------------------

  def test_producer_and_consumer_processes_join_in_the_collector
    id = rand(1 << 30)
    producer_service = "rb-task-producer-#{id}"
    consumer_service = "rb-task-consumer-#{id}"
    carrier_path = File.join(TEST_TMP, "carrier-#{id}.json")

    out, err, status = run_ruby(<<~RUBY, env: collector.env(producer_service), args: [carrier_path])
      require "ffitel"
      require "json"
      Ffitel.init_telemetry
      Ffitel.span("request", kind: :server) do
        Ffitel.send_task("SendReport") do
          carrier = Ffitel.inject
          raise "inject: \#{carrier.inspect}" unless carrier.is_a?(Hash) && carrier["traceparent"].to_s.start_with?("00-")
          File.write(ARGV[0] + ".tmp", JSON.generate(carrier))
          File.rename(ARGV[0] + ".tmp", ARGV[0]) # the durable hand-off
        end
      end
      puts Ffitel.shutdown(timeout: 5.0)
    RUBY
    assert_success(out, err, status)
    assert_equal "true", out.strip

    out, err, status = run_ruby(<<~RUBY, env: collector.env(consumer_service), args: [carrier_path])
      require "ffitel"
      require "json"
      Ffitel.init_telemetry
      carrier = JSON.parse(File.read(ARGV[0]))
      ids = {}
      [1, 2].each do |attempt|
        Ffitel.task("SendReport", worker: "report-worker", task_id: "t-1", attempt: attempt, carrier: carrier) do |task|
          Ffitel.info("working", attempt: attempt)
          ids[attempt] = [task.trace_id, task.span_id]
        end
      end
      begin
        Ffitel.task("SendReport", worker: "report-worker", task_id: "t-2", attempt: 1, carrier: carrier) do |task|
          ids[:failed] = [task.trace_id, task.span_id]
          raise ArgumentError, "no such report"
        end
      rescue ArgumentError => e
        ids[:reraised] = e.message
      end
      # Polled inside a span of the consumer's own: the task's parent is still
      # the send span, and the poll span becomes a link.
      Ffitel.span("poll queue") do |poll|
        ids[:poll] = [poll.trace_id, poll.span_id]
        Ffitel.task("SendReport", worker: "report-worker", task_id: "t-3", attempt: 1, carrier: carrier) do |task|
          ids[:polled] = [task.trace_id, task.span_id]
        end
      end
      puts JSON.generate(ids)
      puts Ffitel.shutdown(timeout: 5.0)
    RUBY
    assert_success(out, err, status)
    ids = JSON.parse(out.lines.first)
    assert_equal "true", out.lines.last.strip
    assert_equal "no such report", ids["reraised"]

    # Spans: the first attempt is a child of the send span in the request's
    # trace; the retry is a new trace linked to the send span.
    spans = nil
    assert wait_for { (spans = collector.spans.select { |s| [producer_service, consumer_service].include?(s["service"]) }).size >= 7 },
           "spans: #{spans}"
    request = spans.find { |s| s["name"] == "request" }
    send_span = spans.find { |s| s["name"] == "send SendReport" }
    refute_nil request
    refute_nil send_span
    assert_equal 4, send_span["kind"], "SPAN_KIND_PRODUCER"
    assert_equal request["span_id"], send_span["parent_span_id"]
    assert_equal({ "messaging.system" => "ffitel", "messaging.operation.name" => "send",
                   "messaging.operation.type" => "send", "messaging.destination.name" => "SendReport" },
                 send_span["attrs"].slice("messaging.system", "messaging.operation.name",
                                          "messaging.operation.type", "messaging.destination.name"))

    process = spans.select { |s| s["name"] == "process SendReport" && s["service"] == consumer_service }
    by_span = process.to_h { |s| [s["span_id"], s] }
    first, retry_, failed = ids.values_at("1", "2", "failed").map { |(_, span_id)| by_span.fetch(span_id) }
    assert_equal [5, 5, 5], [first, retry_, failed].map { |s| s["kind"] }, "SPAN_KIND_CONSUMER"
    assert_equal send_span["trace_id"], first["trace_id"], "attempt 1 is in the producer's trace"
    assert_equal send_span["span_id"], first["parent_span_id"], "attempt 1 is a child of the send span"
    assert_equal [1, "t-1", "report-worker"],
                 first["attrs"].values_at("ffitel.task.attempt", "messaging.message.id", "messaging.consumer.group.name")
    refute_equal send_span["trace_id"], retry_["trace_id"], "a retry starts a new trace"
    assert_equal "", retry_["parent_span_id"]
    assert_includes retry_["links"].map { |l| [l["trace_id"], l["span_id"]] }, [send_span["trace_id"], send_span["span_id"]],
                    "the retry links to the send span"
    assert_equal 2, retry_["attrs"]["ffitel.task.attempt"]
    # The task started inside "poll queue": a child of the send span, linked
    # to the poll span (issue 6's link-to-ambient rule).
    poll = spans.find { |s| s["name"] == "poll queue" && s["service"] == consumer_service }
    refute_nil poll
    assert_equal ids["poll"], [poll["trace_id"], poll["span_id"]]
    refute_equal send_span["trace_id"], poll["trace_id"]
    polled = by_span.fetch(ids["polled"][1])
    assert_equal 5, polled["kind"], "SPAN_KIND_CONSUMER"
    assert_equal send_span["trace_id"], polled["trace_id"], "still in the producer's trace"
    assert_equal send_span["span_id"], polled["parent_span_id"], "still a child of the send span"
    link = polled["links"].find { |l| [l["trace_id"], l["span_id"]] == [poll["trace_id"], poll["span_id"]] }
    refute_nil link, "the task links to the poll queue span: #{polled['links']}"
    assert_includes polled["links"].map { |l| l["span_id"] }, poll["span_id"]
    assert_equal({ "ffitel.link" => "ambient" }, link["attrs"])
    assert_empty first["links"], "no current span: no ambient link"
    assert_equal 2, failed.dig("status", "code"), "STATUS_CODE_ERROR"
    assert_equal "ArgumentError", failed.dig("attrs", "error.type")
    exception = failed["events"].map { |e| e["attributes"].to_h { |kv| [kv["key"], kv["value"].values.first] } }
                                .find { |a| a["exception.message"] == "no such report" }
    refute_nil exception, "an exception event with the message: #{failed['events']}"
    assert_equal "ArgumentError", exception["exception.type"]
    assert_includes exception["exception.stacktrace"], "no such report (ArgumentError)"

    # Logs inside the task carry its ids.
    logs = nil
    assert wait_for { (logs = collector.logs.select { |r| r["service"] == consumer_service && r["body"] == "working" }).size >= 2 },
           "logs: #{logs}"
    [1, 2].each do |attempt|
      rec = logs.find { |r| r.dig("attrs", "attempt") == attempt }
      assert_equal ids[attempt.to_s], [rec["trace_id"], rec["span_id"]], "attempt #{attempt}'s log"
    end

    # Metrics: the messaging attributes, never the task id; apalis's buckets;
    # error.type on the failed attempt.
    names = %w[messaging.client.consumed.messages messaging.process.duration]
    points = nil
    assert wait_for {
      points = collector.metric_points.select { |p| p["service"] == consumer_service && names.include?(p["name"]) }
      latest(points, "messaging.client.consumed.messages", nil)&.fetch("value") == 3.0 &&
        latest(points, "messaging.process.duration", "ArgumentError")
    }, "metric points: #{points}"
    want = { "messaging.system" => "ffitel", "messaging.operation.name" => "process",
             "messaging.destination.name" => "SendReport", "messaging.consumer.group.name" => "report-worker" }
    points.each do |p|
      assert_equal want, p["attrs"].except("error.type"), "#{p['name']} attributes"
      refute p["attrs"].key?("messaging.message.id"), "never the task id"
    end
    ok_count = latest(points, "messaging.client.consumed.messages", nil)
    assert_equal "{message}", ok_count["unit"]
    assert_equal 1.0, latest(points, "messaging.client.consumed.messages", "ArgumentError")["value"]
    ok_duration = latest(points, "messaging.process.duration", nil)
    failed_duration = latest(points, "messaging.process.duration", "ArgumentError")
    assert_equal ["s", 3, BUCKETS], ok_duration.values_at("unit", "count", "bounds")
    assert_equal [1, BUCKETS], failed_duration.values_at("count", "bounds")
  end

  private

  # The newest point of +name+ whose error.type is +error_type+ (nil: none).
  def latest(points, name, error_type)
    points.reverse.find { |p| p["name"] == name && p.dig("attrs", "error.type") == error_type }
  end
end
