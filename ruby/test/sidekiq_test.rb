# frozen_string_literal: true

require_relative "test_helper"

# Ffitel::Sidekiq against a real redis-server, a real `sidekiq` process
# (concurrency 2) and the real Collector: examples/sidekiq/client.rb
# enqueues three jobs inside a request span (one succeeds, one fails for
# good, one fails once and succeeds on its retry); examples/sidekiq/jobs.rb
# is the server.
class SidekiqTest < Minitest::Test
  include FfitelTestHelpers

  EXAMPLES = File.join(REPO_ROOT, "examples", "sidekiq")

  def setup
    @redis = RedisServer.new(TEST_TMP)
  end

  def teardown
    stop_sidekiq
    @redis&.stop
  end

  def sidekiq_env(service)
    collector.env(service).merge("REDIS_URL" => @redis.url, "FFITEL_LIBRARY" => ENV["FFITEL_LIBRARY"],
                                 "RUBYLIB" => [RUBY_LIB, ENV["RUBYLIB"]].compact.join(":"),
                                 "FFITEL_LOG_FORMAT" => "json", "LOG_LEVEL" => "debug")
  end

  def start_sidekiq(service)
    binary = ENV["FFITEL_SIDEKIQ"] || "sidekiq"
    unless system("command -v #{binary} >/dev/null 2>&1")
      flunk "sidekiq is missing: install Debian's ruby-sidekiq (scripts/install-deps.sh does)"
    end
    @sidekiq_log = File.join(TEST_TMP, "sidekiq-#{service}.log")
    @sidekiq = Process.spawn(sidekiq_env(service), binary, "-r", File.join(EXAMPLES, "jobs.rb"), "-c", "2",
                             "-q", "default", out: @sidekiq_log, err: @sidekiq_log, pgroup: true)
  end

  # TERM: Sidekiq's graceful stop; at_exit then flushes ffitel.
  def stop_sidekiq
    return unless @sidekiq

    Process.kill("TERM", @sidekiq) rescue nil
    waited = wait_for(30) { Process.waitpid(@sidekiq, Process::WNOHANG) }
    Process.kill("KILL", -@sidekiq) rescue nil unless waited
    Process.waitpid(@sidekiq) rescue nil unless waited
    @sidekiq = nil
  end

  def sidekiq_log_tail
    File.exist?(@sidekiq_log.to_s) ? File.read(@sidekiq_log)[-3000..] || File.read(@sidekiq_log) : ""
  end

  def test_jobs_are_traced_from_client_to_server_with_retries_and_logs
    service = "rb-sidekiq-#{rand(1 << 30)}"
    start_sidekiq(service)
    out, err, status = run_ruby("load #{File.join(EXAMPLES, 'client.rb').inspect}", env: sidekiq_env("#{service}-client"))
    assert_success(out, err, status)
    jids = JSON.parse(out.lines.last)

    spans = nil
    done = wait_for(60) do
      spans = collector.spans.select { |s| s["service"]&.start_with?(service) }
      spans.count { |s| s["name"].start_with?("process ") } >= 4
    end
    assert done, "4 attempts expected; spans: #{spans.map { |s| s['name'] }}\nsidekiq log:\n#{sidekiq_log_tail}"
    stop_sidekiq

    request = spans.find { |s| s["name"] == "POST /checkout" }
    sends = spans.select { |s| s["name"].start_with?("send ") }.to_h { |s| [s["name"].delete_prefix("send "), s] }
    assert_equal %w[ChargeJob FlakyJob ReportJob], sends.keys.sort
    sends.each_value do |send|
      assert_equal request["span_id"], send["parent_span_id"], "send spans are children of the request"
      assert_equal 4, send["kind"], "SPAN_KIND_PRODUCER"
      assert_equal %w[sidekiq default send], send["attrs"].values_at("messaging.system", "messaging.destination.name",
                                                                   "messaging.operation.name")
    end

    attempts = spans.select { |s| s["name"].start_with?("process ") }
    by_job = attempts.group_by { |s| s["attrs"]["messaging.message.id"] }
    ok, dead = by_job.fetch(jids["ok"]).first, by_job.fetch(jids["dead"]).first
    flaky1, flaky2 = by_job.fetch(jids["flaky"]).sort_by { |s| s["attrs"]["ffitel.task.attempt"] }

    # each first attempt is a child of its send span, in the request's trace
    [[ok, "ReportJob"], [dead, "ChargeJob"], [flaky1, "FlakyJob"]].each do |span, klass|
      assert_equal sends[klass]["span_id"], span["parent_span_id"], "#{klass} attempt 1"
      assert_equal request["trace_id"], span["trace_id"]
      assert_equal 5, span["kind"], "SPAN_KIND_CONSUMER"
      assert_equal 1, span["attrs"]["ffitel.task.attempt"]
      assert_equal %w[sidekiq default], span["attrs"].values_at("messaging.system", "messaging.destination.name")
    end
    # the retry is a new trace linked to the send span
    assert_equal 2, flaky2["attrs"]["ffitel.task.attempt"]
    refute_equal request["trace_id"], flaky2["trace_id"]
    assert_equal "", flaky2["parent_span_id"]
    assert_equal [[sends["FlakyJob"]["trace_id"], sends["FlakyJob"]["span_id"]]],
                 flaky2["links"].map { |l| l.values_at("trace_id", "span_id") }
    # failures: error status and error.type (the job's exception, not Sidekiq's wrapper)
    assert_equal 2, dead.dig("status", "code")
    assert_equal "ArgumentError", dead["attrs"]["error.type"]
    assert_equal 2, flaky1.dig("status", "code")
    assert_equal "IOError", flaky1["attrs"]["error.type"]
    assert_nil ok["attrs"]["error.type"]
    assert_nil flaky2["attrs"]["error.type"]

    # the messaging metrics: the queue on each, error.type on failures
    points = nil
    assert wait_for(20) {
      points = collector.metric_points.select { |p| p["service"] == service && p["name"].start_with?("messaging.") }
      points.any? { |p| p["name"] == "messaging.process.duration" }
    }, "no messaging metrics"
    consumed = points.select { |p| p["name"] == "messaging.client.consumed.messages" }
    assert_equal 4.0, consumed.group_by { |p| p["attrs"] }.values.sum { |ps| ps.last["value"] }
    durations = points.select { |p| p["name"] == "messaging.process.duration" }
    (consumed + durations).each do |p|
      assert_equal %w[sidekiq default default process],
                   p["attrs"].values_at("messaging.system", "messaging.destination.name",
                                        "messaging.consumer.group.name", "messaging.operation.name"), p.inspect
    end
    assert_equal %w[ArgumentError IOError],
                 consumed.filter_map { |p| p["attrs"]["error.type"] }.uniq.sort

    # the jobs' log lines: their span ids and jid, Sidekiq's JobLogger lines included
    logs = nil
    assert wait_for(20) { (logs = collector.logs.select { |r| r["service"] == service }).any? { |r| r["body"] == "done" } }
    [[ok, jids["ok"], "ReportJob", %w[start building\ report done]],
     [dead, jids["dead"], "ChargeJob", %w[start charging fail]],
     [flaky1, jids["flaky"], "FlakyJob", %w[start flaky\ attempt fail]],
     [flaky2, jids["flaky"], "FlakyJob", %w[start flaky\ attempt done]]].each do |span, jid, klass, bodies|
      mine = logs.select { |r| r["span_id"] == span["span_id"] }
      assert_equal bodies, mine.map { |r| r["body"] }, "#{klass} attempt #{span['attrs']['ffitel.task.attempt']}"
      mine.each do |r|
        assert_equal span["trace_id"], r["trace_id"]
        assert_equal [jid, klass], r["attrs"].values_at("jid", "class"), r.inspect
      end
      assert_kind_of Numeric, mine.last["attrs"]["elapsed"], "Sidekiq's context (elapsed) on the done/fail line"
    end
  end
end
