# frozen_string_literal: true

require_relative "test_helper"

# Domain events from Ruby: Ffitel.publish_event, Ffitel.subscribe and the
# router / in-process bus stats, in process (fast path) and in subprocesses
# (durable path: no sink, and a JSONL file sink with export to the Collector).
class EventsTest < Minitest::Test
  include FfitelTestHelpers

  def corr
    "corr-#{rand(1 << 30)}"
  end

  def test_fast_publish_reaches_the_subscriber_with_payload_metadata_and_id
    cid = corr
    events = Ffitel.subscribe("rbtest.payment.*") do |sub|
      id = Ffitel.publish_event("rbtest.payment.processed", { "amount" => 5, "items" => [1, 2] },
                                namespace: "payments", correlation_id: cid, task_uuid: "task-1",
                                step_uuid: "step-1", step_name: "charge", delivery: :fast)
      assert_match(/\A\h{8}-\h{4}-7\h{3}-[89ab]\h{3}-\h{12}\z/, id, "a UUIDv7")
      got = sub.poll(timeout: 2.0)
      assert_equal [id], got.map { |e| e["event_id"] }
      got
    end
    ev = events.first
    assert_equal %w[event_id event_name event_version payload metadata].sort, ev.keys.sort
    assert_equal ["rbtest.payment.processed", "1.0"], ev.values_at("event_name", "event_version")
    assert_equal({ "amount" => 5, "items" => [1, 2] }, ev["payload"])
    md = ev["metadata"]
    assert_equal ["payments", cid, "task-1", "step-1", "charge"],
                 md.values_at("namespace", "correlation_id", "task_uuid", "step_uuid", "step_name")
    refute_empty md["fired_at"].to_s
    refute_empty md["fired_by"].to_s, "fired_by defaults to the worker id"
    assert_match(/\A00-\h{32}-\h{16}-\h{2}\z/, md["traceparent"], "the publish span's trace context")
  end

  def test_nil_keywords_are_left_out_and_payload_may_be_any_json_value
    Ffitel.subscribe("rbtest.scalar") do |sub|
      Ffitel.publish_event("rbtest.scalar", [1, "two", nil], namespace: "ns", correlation_id: corr,
                                                              fired_by: "rb-worker")
      Ffitel.publish_event("rbtest.scalar", "just a string", namespace: "ns", correlation_id: corr)
      got = sub.poll(timeout: 2.0)
      assert_equal [[1, "two", nil], "just a string"], got.map { |e| e["payload"] }
      md = got.first["metadata"]
      assert_equal "rb-worker", md["fired_by"]
      assert_equal "", md["task_uuid"], "task_uuid defaults to the empty string"
      refute md.key?("step_uuid")
      refute md.key?("step_name")
    end
  end

  def test_ids_sort_in_publish_order_and_poll_drains_the_queue
    Ffitel.subscribe("rbtest.order.*") do |sub|
      ids = 20.times.map do |i|
        Ffitel.publish_event("rbtest.order.step", { "i" => i }, namespace: "orders", correlation_id: "c")
      end
      assert_equal ids, ids.sort, "UUIDv7 ids sort in publish order"
      got = sub.poll(timeout: 2.0)
      assert_equal ids, got.map { |e| e["event_id"] }, "one poll drains everything queued, in order"
      assert_equal (0...20).to_a, got.map { |e| e.dig("payload", "i") }
      assert_equal [], sub.poll(timeout: 0), "nothing left"
    end
  end

  def test_poll_max_bounds_one_call
    Ffitel.subscribe("rbtest.max") do |sub|
      5.times { Ffitel.publish_event("rbtest.max", {}, namespace: "ns", correlation_id: "c") }
      assert_equal 2, sub.poll(timeout: 1.0, max: 2).size
      assert_equal 3, sub.poll(timeout: 1.0).size
    end
  end

  def test_an_event_larger_than_the_buffer_is_received_whole
    big = "x" * (3 * Ffitel::Subscription::BUFFER_BYTES)
    Ffitel.subscribe("rbtest.big") do |sub|
      small_before = Ffitel.publish_event("rbtest.big", { "n" => 1 }, namespace: "ns", correlation_id: "c")
      large = Ffitel.publish_event("rbtest.big", { "blob" => big, "é" => "ü" }, namespace: "ns", correlation_id: "c")
      small_after = Ffitel.publish_event("rbtest.big", { "n" => 2 }, namespace: "ns", correlation_id: "c")
      got = sub.poll(timeout: 2.0)
      assert_equal [small_before, large, small_after], got.map { |e| e["event_id"] }
      assert_equal big, got[1].dig("payload", "blob")
      assert_equal "ü", got[1].dig("payload", "é")
      assert_equal Encoding::UTF_8, got[1].dig("payload", "blob").encoding
    end
  end

  def test_patterns_filter_by_name
    Ffitel.subscribe("rbfilter.payment.*") do |payments|
      Ffitel.subscribe("rbfilter.order.*") do |orders|
        Ffitel.subscribe("*") do |all|
          p1 = Ffitel.publish_event("rbfilter.payment.processed", {}, namespace: "payments", correlation_id: "c")
          o1 = Ffitel.publish_event("rbfilter.order.created", {}, namespace: "orders", correlation_id: "c")
          p2 = Ffitel.publish_event("rbfilter.payment.refunded", {}, namespace: "payments", correlation_id: "c")
          Ffitel.publish_event("rbfilter.paymentx", {}, namespace: "payments", correlation_id: "c")

          assert_equal [p1, p2], payments.poll(timeout: 2.0).map { |e| e["event_id"] }
          assert_equal [o1], orders.poll(timeout: 2.0).map { |e| e["event_id"] }
          names = all.poll(timeout: 2.0).map { |e| e["event_name"] }.grep(/\Arbfilter\./)
          assert_equal %w[rbfilter.payment.processed rbfilter.order.created rbfilter.payment.refunded rbfilter.paymentx],
                       names
        end
      end
    end
  end

  def test_poll_times_out_empty_and_a_closed_subscription_raises
    sub = Ffitel.subscribe("rbtest.nothing")
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_equal [], sub.poll(timeout: 0.2)
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0, :>=, 0.15, "poll waited"
    refute sub.closed?
    assert sub.close
    assert sub.close, "close is idempotent"
    assert sub.closed?
    err = assert_raises(Ffitel::Error) { sub.poll(timeout: 0) }
    assert_match(/closed/, err.message)
  end

  def test_poll_releases_the_gvl_while_waiting
    Ffitel.subscribe("rbtest.gvl") do |sub|
      ticks = 0
      ticker = Thread.new { 20.times { ticks += 1; sleep 0.01 } }
      sub.poll(timeout: 0.5)
      ticker.join
      assert_equal 20, ticks, "another Ruby thread ran during the poll"
      poller = Thread.new { sub.poll(timeout: 5.0) }
      sleep 0.1
      id = Ffitel.publish_event("rbtest.gvl", {}, namespace: "ns", correlation_id: "c")
      assert_equal [id], poller.value.map { |e| e["event_id"] }, "an event published by another thread wakes the poll"
    end
  end

  def test_block_form_closes_on_exit_and_returns_the_block_value
    kept = nil
    value = Ffitel.subscribe("rbtest.block") do |sub|
      kept = sub
      :done
    end
    assert_equal :done, value
    assert kept.closed?
    assert_raises(RuntimeError) { Ffitel.subscribe("rbtest.block") { |sub| kept = sub; raise "boom" } }
    assert kept.closed?, "closed when the block raises"
  end

  def test_missing_correlation_id_and_namespace_raise
    err = assert_raises(Ffitel::Error) do
      Ffitel.publish_event("rbtest.bad", {}, namespace: "payments", correlation_id: nil)
    end
    assert_equal Ffitel::Native::E_INVALID, err.code
    assert_match(/correlation_id/, err.message)
    err = assert_raises(Ffitel::Error) do
      Ffitel.publish_event("rbtest.bad", {}, namespace: "", correlation_id: "c")
    end
    assert_match(/namespace/, err.message)
    err = assert_raises(Ffitel::Error) { Ffitel.publish_event("", {}, namespace: "ns", correlation_id: "c") }
    assert_equal Ffitel::Native::E_INVALID, err.code
  end

  def test_bad_payload_delivery_and_pattern_raise
    cyclic = {}
    cyclic["self"] = cyclic
    err = assert_raises(Ffitel::Error) do
      Ffitel.publish_event("rbtest.bad", cyclic, namespace: "ns", correlation_id: "c")
    end
    assert_equal Ffitel::Native::E_INVALID, err.code
    assert_match(/payload/, err.message)
    assert_raises(ArgumentError) do
      Ffitel.publish_event("rbtest.bad", {}, namespace: "ns", correlation_id: "c", delivery: :carrier_pigeon)
    end
    err = assert_raises(Ffitel::Error) { Ffitel.subscribe("") }
    assert_equal Ffitel::Native::E_INVALID, err.code
    assert_match(/pattern/, err.message)
  end

  def test_stats_count_routing_and_bus_dispatches
    before = Ffitel.stats
    Ffitel.subscribe("rbstats.*") do |sub|
      3.times { Ffitel.publish_event("rbstats.e", {}, namespace: "ns", correlation_id: "c") }
      assert_equal 3, sub.poll(timeout: 2.0).size
    end
    Ffitel.publish_event("rbstats.e", {}, namespace: "ns", correlation_id: "c") # nobody listens
    after = Ffitel.stats
    %w[total_routed durable_routed fast_routed broadcast_routed fast_delivery_errors routing_errors].each do |k|
      assert after["router"].key?(k), "router.#{k}"
    end
    %w[total_events_dispatched go_handler_dispatches ffi_channel_dispatches handler_errors ffi_channel_drops].each do |k|
      assert after["in_process_bus"].key?(k), "in_process_bus.#{k}"
    end
    delta = ->(section, key) { after[section][key] - before[section][key] }
    assert_equal 4, delta.call("router", "total_routed")
    assert_equal 4, delta.call("router", "fast_routed")
    assert_equal 0, delta.call("router", "durable_routed")
    assert_equal 0, delta.call("router", "routing_errors")
    assert_equal 4, delta.call("in_process_bus", "total_events_dispatched")
    assert_operator delta.call("in_process_bus", "ffi_channel_dispatches"), :>=, 3
    assert_equal 0, delta.call("in_process_bus", "ffi_channel_drops")
  end

  def test_durable_without_a_sink_raises_naming_the_variable
    out, err, status = run_ruby(<<~RUBY, env: { "FFITEL_EVENTS_DURABLE_URL" => nil })
      require "ffitel"
      require "json"
      Ffitel.init_telemetry
      begin
        Ffitel.publish_event("payment.processed", {}, namespace: "payments", correlation_id: "c", delivery: :durable)
        puts JSON.generate("raised" => false)
      rescue Ffitel::Error => e
        puts JSON.generate("raised" => true, "code" => e.code, "message" => e.message,
                           "router" => Ffitel.stats["router"])
      end
    RUBY
    assert_success(out, err, status)
    res = JSON.parse(out.lines.last)
    assert res["raised"], "durable publish without a sink raises"
    assert_equal Ffitel::Native::E_UNAVAILABLE, res["code"]
    assert_includes res["message"], "FFITEL_EVENTS_DURABLE_URL"
    assert_equal 1, res.dig("router", "routing_errors")
  end

  def test_broadcast_lands_in_the_jsonl_sink_reaches_the_subscriber_and_spans_reach_the_collector
    service = "rb-events-#{rand(1 << 30)}"
    sink = File.join(TEST_TMP, "events-#{rand(1 << 30)}.jsonl")
    cid = corr
    env = collector.env(service).merge("FFITEL_EVENTS_DURABLE_URL" => "file://#{sink}")
    out, err, status = run_ruby(<<~RUBY, env: env)
      require "ffitel"
      require "json"
      Ffitel.init_telemetry # the durable sink opens here
      res = Ffitel.subscribe("payment.*") do |sub|
        id = Ffitel.publish_event("payment.processed", { "amount" => 5 }, namespace: "payments",
                                  correlation_id: #{cid.inspect}, task_uuid: "t-1", delivery: :broadcast)
        durable = Ffitel.publish_event("payment.settled", { "amount" => 5 }, namespace: "payments",
                                       correlation_id: #{cid.inspect}, delivery: :durable)
        { "id" => id, "durable_id" => durable, "polled" => sub.poll(timeout: 2.0) }
      end
      res["stats"] = Ffitel.stats
      res["flushed"] = Ffitel.shutdown(timeout: 5.0)
      puts JSON.generate(res)
    RUBY
    assert_success(out, err, status)
    res = JSON.parse(out.lines.last)
    id = res["id"]
    assert res["flushed"], "shutdown flushed everything"

    assert_equal [id], res["polled"].map { |e| e["event_id"] }, "broadcast reaches the fast path; durable does not"
    lines = File.readlines(sink).map { |l| JSON.parse(l) }
    assert_equal [id, res["durable_id"]], lines.map { |l| l["event_id"] }, "broadcast and durable land in the file"
    row = lines.first
    assert_equal({ "amount" => 5 }, row["payload"])
    assert_equal [cid, "payments", "t-1"], row["metadata"].values_at("correlation_id", "namespace", "task_uuid")

    router = res.dig("stats", "router")
    assert_equal [2, 1, 0, 1, 0, 0],
                 router.values_at("total_routed", "durable_routed", "fast_routed", "broadcast_routed",
                                  "fast_delivery_errors", "routing_errors"), router.inspect
    bus = res.dig("stats", "in_process_bus")
    assert_equal [1, 1, 0], bus.values_at("total_events_dispatched", "ffi_channel_dispatches", "ffi_channel_drops"),
                 bus.inspect

    spans = nil
    assert wait_for { (spans = collector.spans.select { |s| s["service"] == service }).count { |s| s["name"] == "publish_domain_event" } >= 2 },
           "spans: #{spans}"
    publish = spans.find { |s| s["name"] == "publish_domain_event" && s.dig("attrs", "delivery_mode") == "broadcast" }
    refute_nil publish
    assert_equal 4, publish["kind"], "SPAN_KIND_PRODUCER"
    assert_equal ["payment.processed", "payments", cid, id],
                 publish["attrs"].values_at("event_name", "namespace", "correlation_id", "event_id")
    assert_includes res["polled"].first.dig("metadata", "traceparent"), publish["trace_id"],
                    "the event carries the publish span's trace context"
    children = spans.select { |s| s["trace_id"] == publish["trace_id"] }
    route = children.find { |s| s["name"] == "route_event" }
    refute_nil route, "route_event: #{children.map { |s| s['name'] }}"
    assert_equal publish["span_id"], route["parent_span_id"]
    durable = children.find { |s| s["name"] == "publish_durable" }
    fast = children.find { |s| s["name"] == "publish_fast" }
    assert_equal [route["span_id"]] * 2, [durable["parent_span_id"], fast["parent_span_id"]]
    assert_equal "payments_domain_events", durable.dig("attrs", "queue_name")
    assert_equal 1, fast.dig("attrs", "subscriber_count")
    durable_publish = spans.find { |s| s["name"] == "publish_domain_event" && s.dig("attrs", "delivery_mode") == "durable" }
    assert_equal res["durable_id"], durable_publish.dig("attrs", "event_id")
  end
end

class EventsInSpanTest < Minitest::Test
  def test_publish_inside_a_span_joins_its_trace
    events = nil
    trace_id = nil
    Ffitel.subscribe("step.*") do |sub|
      Ffitel.span("step") do |step|
        trace_id = step.trace_id
        Ffitel.publish_event("step.done", { n: 1 }, namespace: "payments", correlation_id: "corr-step")
      end
      events = sub.poll(timeout: 2.0)
    end
    assert_equal 1, events.size
    assert_equal trace_id, events[0]["metadata"]["traceparent"].split("-")[1]
  end
end
