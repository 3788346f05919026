# frozen_string_literal: true

require "json"
require "socket"
require "timeout"
require_relative "child_process"
require "tmpdir"

# The real OpenTelemetry Collector (built by `make collector`) on free
# loopback ports, writing OTLP JSON lines into a temporary directory.
class Collector
  ROOT = File.expand_path("../../..", __dir__)
  BINARY = ENV["FFITEL_OTELCOL"] || File.join(ROOT, ".cache", "otelcol", "otelcol-ffitel")
  CONFIG = File.join(ROOT, "e2e", "collector", "config.yaml")

  attr_reader :dir, :grpc_port, :http_port

  def self.free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  # Raises (so the test fails, never skips) when the binary is missing.
  def initialize(parent_dir = Dir.tmpdir)
    unless File.executable?(BINARY)
      raise "the OpenTelemetry Collector is missing at #{BINARY}: run `make collector` (make test does it)"
    end

    @dir = Dir.mktmpdir("collector", parent_dir)
    @grpc_port = Collector.free_port
    @http_port = Collector.free_port
    @log = File.join(@dir, "collector.log")
    env = { "FFITEL_COLLECTOR_OUT" => @dir, "FFITEL_COLLECTOR_GRPC_PORT" => @grpc_port.to_s,
            "FFITEL_COLLECTOR_HTTP_PORT" => @http_port.to_s }
    @pid = Process.spawn(env, BINARY, "--config", CONFIG, out: @log, err: @log)
    wait_listening
  end

  def wait_listening
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
    [@grpc_port, @http_port].each do |port|
      loop do
        TCPSocket.new("127.0.0.1", port).close
        break
      rescue SystemCallError
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          stop
          raise "collector did not listen on #{port} within 30s: #{File.read(@log)}"
        end
        sleep 0.05
      end
    end
  end

  # The environment that points a worker at this Collector.
  def env(service = "rbtest")
    { "TELEMETRY_ENABLED" => "true", "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://127.0.0.1:#{@grpc_port}",
      "OTEL_METRIC_EXPORT_INTERVAL" => "500", "OTEL_BLRP_SCHEDULE_DELAY" => "100",
      "OTEL_BSP_SCHEDULE_DELAY" => "100", "OTEL_SERVICE_NAME" => service }
  end

  # SIGINT flushes the file exporters and stops the Collector. Idempotent.
  def stop
    ChildProcess.stop(@pid, "INT")
    @pid = nil
  end

  def docs(file)
    path = File.join(@dir, file)
    return [] unless File.exist?(path)

    File.readlines(path).filter_map do |l|
      JSON.parse(l)
    rescue JSON::ParserError
      nil # a line being written
    end
  end

  # Log records: Hashes with "body", "severity", "attrs", "trace_id",
  # "span_id", "service".
  def logs
    items("logs.jsonl", "Logs", "logRecords") do |r, service|
      { "body" => value(r["body"]), "severity" => r["severityNumber"], "attrs" => attr_hash(r["attributes"]),
        "trace_id" => r["traceId"].to_s, "span_id" => r["spanId"].to_s, "service" => service }
    end
  end

  def spans
    items("traces.jsonl", "Spans", "spans") do |s, service|
      { "name" => s["name"], "trace_id" => s["traceId"], "span_id" => s["spanId"],
        "parent_span_id" => s["parentSpanId"].to_s, "kind" => s["kind"], "attrs" => attr_hash(s["attributes"]),
        "status" => s["status"] || {}, "events" => s["events"] || [], "service" => service,
        "links" => (s["links"] || []).map do |l|
          { "trace_id" => l["traceId"], "span_id" => l["spanId"], "attrs" => attr_hash(l["attributes"]) }
        end }
    end
  end

  # Metric data points: Hashes with "name", "unit", "value" (sum) or
  # "count"/"sum"/"bounds" (histogram), "attrs", "service".
  def metric_points
    items("metrics.jsonl", "Metrics", "metrics") do |m, service|
      if m["sum"]
        m["sum"].fetch("dataPoints", []).map do |p|
          { "name" => m["name"], "unit" => m["unit"], "value" => (p["asDouble"] || p["asInt"].to_f).to_f,
            "attrs" => attr_hash(p["attributes"]), "service" => service }
        end
      elsif m["histogram"]
        m["histogram"].fetch("dataPoints", []).map do |p|
          { "name" => m["name"], "unit" => m["unit"], "count" => p["count"].to_i, "sum" => p["sum"],
            "bounds" => p["explicitBounds"] || [], "attrs" => attr_hash(p["attributes"]), "service" => service }
        end
      else
        []
      end
    end.flatten(1)
  end

  private

  # Walks the OTLP JSON in +file+ (resource<kind> -> scope<kind> -> +key+)
  # and maps each item with its resource's service.name.
  def items(file, kind, key)
    docs(file).flat_map do |doc|
      doc.fetch("resource#{kind}", []).flat_map do |res|
        service = attr_hash(res.dig("resource", "attributes"))["service.name"]
        res.fetch("scope#{kind}", []).flat_map do |scope|
          scope.fetch(key, []).map { |item| yield item, service }
        end
      end
    end
  end

  def attr_hash(list)
    (list || []).to_h { |kv| [kv["key"], value(kv["value"])] }
  end

  def value(v)
    return nil unless v

    if v.key?("stringValue") then v["stringValue"]
    elsif v.key?("intValue") then v["intValue"].to_i
    elsif v.key?("doubleValue") then v["doubleValue"]
    elsif v.key?("boolValue") then v["boolValue"]
    elsif v.key?("arrayValue") then (v.dig("arrayValue", "values") || []).map { |x| value(x) }
    end
  end
end
