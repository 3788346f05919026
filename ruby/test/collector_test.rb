# frozen_string_literal: true

require_relative "test_helper"

# Ruby workers in subprocesses export to the real OpenTelemetry Collector.
class CollectorTest < Minitest::Test
  include FfitelTestHelpers

  def test_records_spans_and_metrics_arrive
    service = "rb-e2e-#{rand(1 << 30)}"
    out, err, status = run_ruby(<<~RUBY, env: collector.env(service))
      require "ffitel"
      Ffitel.init_console
      Ffitel.info("early record", early: true)
      Ffitel.counter_add("rb.e2e.jobs", 1, queue: "warmup")
      Ffitel.init_telemetry
      Ffitel.with_fields(correlation_id: "corr-1") do
        Ffitel.span("process job", kind: :consumer, attributes: { "job.number" => 1 }) do
          Ffitel.info("processing", job: 1)
          Ffitel.span("charge card", kind: :client) { |s| s.add_event("charged", amount_cents: 500) }
          begin
            Ffitel.span("declined") { raise ArgumentError, "card declined" }
          rescue ArgumentError
            nil
          end
        end
      end
      Ffitel.counter_add("rb.e2e.jobs", 2, queue: "main")
      Ffitel.histogram_record("rb.e2e.batch", 12, unit: "{item}", queue: "main")
      Ffitel.logger.warn("via logger")
      puts Ffitel.shutdown(timeout: 5.0)
    RUBY
    assert_success(out, err, status)
    assert_equal "true", out.strip, "shutdown flushed everything"

    logs = nil
    want = ["early record", "processing", "via logger"]
    assert wait_for { (want - (logs = collector.logs.select { |r| r["service"] == service }).map { |r| r["body"] }).empty? }, "records: #{logs}"
    by = logs.to_h { |r| [r["body"], r] }
    assert by.key?("early record"), "the phase-1 record is replayed"
    assert_equal "corr-1", by.dig("processing", "attrs", "correlation_id")
    assert_equal 13, by.dig("via logger", "severity")

    spans = nil
    assert wait_for { (spans = collector.spans.select { |s| s["service"] == service }).size >= 3 }, "spans: #{spans}"
    s = spans.to_h { |x| [x["name"], x] }
    job, charge, declined = s.values_at("process job", "charge card", "declined")
    assert_equal job["span_id"], charge["parent_span_id"]
    assert_equal job["span_id"], declined["parent_span_id"]
    assert_equal [job["trace_id"]] * 2, [charge["trace_id"], declined["trace_id"]]
    assert_equal 5, job["kind"], "SPAN_KIND_CONSUMER"
    assert_equal "corr-1", job.dig("attrs", "correlation_id"), "spans carry with_fields"
    assert_equal 2, declined.dig("status", "code"), "STATUS_CODE_ERROR"
    assert_includes declined.dig("status", "message"), "card declined"
    assert_equal ["charged"], charge["events"].map { |e| e["name"] }
    assert_equal [job["trace_id"], job["span_id"]], by["processing"].values_at("trace_id", "span_id")

    points = nil
    assert wait_for { (points = collector.metric_points.select { |p| p["service"] == service && p["name"].start_with?("rb.e2e") }).any? { |p| p["name"] == "rb.e2e.batch" } }
    latest = points.select { |p| p["name"] == "rb.e2e.jobs" }.to_h { |p| [p.dig("attrs", "queue"), p["value"]] }
    assert_equal({ "warmup" => 1.0, "main" => 2.0 }, latest)
    batch = points.reverse.find { |p| p["name"] == "rb.e2e.batch" }
    assert_equal [1, 12.0, "{item}"], batch.values_at("count", "sum", "unit")
  end

  # The burst outruns the exporter and overflows the default queue; the
  # default queue-full policy (backpressure) makes the threads wait for room
  # while the Collector accepts, so all 400 000 arrive and none is dropped.
  def test_eight_threads_of_fifty_thousand_records_are_all_delivered
    own = Collector.new(TEST_TMP) # a Collector of its own: its file holds only this worker's records
    threads = 8
    per_thread = 50_000
    # a generous per-call wait: one export can be slow on a shared machine
    env = own.env("rb-bulk").merge("FFITEL_QUEUE_FULL_WAIT_MS" => "60000")
    out, err, status = run_ruby(<<~RUBY, env: env, timeout: 240, discard_stderr: true)
      require "ffitel"
      require "json"
      Ffitel.init_telemetry
      #{threads}.times.map do |t|
        Thread.new { #{per_thread}.times { |i| Ffitel.info("bulk-record", thread: t, i: i) } }
      end.each(&:join)
      flushed = Ffitel.shutdown(timeout: 150.0) # the hosts outrun the Collector: give the flush time
      puts JSON.generate(flushed: flushed, logs: Ffitel.stats.dig("pipeline", "logs"))
    RUBY
    assert_success(out, err, status)
    result = JSON.parse(out.lines.last)
    logs = result["logs"]
    total = threads * per_thread
    assert result["flushed"], "shutdown flushed in time: #{result}"
    assert_operator logs["emitted"], :>=, total
    assert_equal logs["emitted"], logs.values_at("exported", "dropped", "failed", "pending").sum,
                 "emitted = exported + dropped + failed + pending: #{logs}"
    assert_equal 0, logs["pending"], "nothing pending after shutdown: #{logs}"
    assert_equal 0, logs["dropped"] + logs["failed"], "nothing dropped or failed with a live Collector: #{logs}"

    path = File.join(own.dir, "logs.jsonl")
    received = 0
    bulk = 0
    settled = wait_for(30) do
      data = File.exist?(path) ? File.read(path) : ""
      received = data.scan('"observedTimeUnixNano"').size
      bulk = data.scan('{"stringValue":"bulk-record"}').size
      received >= logs["exported"]
    end
    own.stop
    assert settled, "the Collector received #{received} of #{logs['exported']} exported records"
    assert_equal logs["exported"], received, "exported records are the ones the Collector received"
    assert_equal total, bulk, "every bulk record reached the Collector"
    $stdout.puts "\n  8x50k: emitted=#{logs['emitted']} exported=#{logs['exported']} dropped=#{logs['dropped']} " \
                 "failed=#{logs['failed']} bulk records at the Collector=#{bulk}/#{total}"
  ensure
    own&.stop
  end
end
