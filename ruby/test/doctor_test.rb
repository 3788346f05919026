# frozen_string_literal: true

require_relative "test_helper"

# The ABI check when the library loads, and the `ffitel doctor` executable,
# in real processes.
class DoctorTest < Minitest::Test
  include FfitelTestHelpers

  FAKE_LIB_C = <<~C
    const char *ffitel_version(void) { return "9.9.9"; }
    int ffitel_abi_version(void) { return 999; }
  C

  # A shared library that exports ffitel_version and ffitel_abi_version
  # (returning 999) and nothing else.
  def fake_library
    dir = Dir.mktmpdir("ffitel-fake", TEST_TMP)
    File.write(File.join(dir, "fake.c"), FAKE_LIB_C)
    out = File.join(dir, "libffitel.so")
    assert system("cc", "-shared", "-fPIC", "-o", out, File.join(dir, "fake.c")), "cc failed"
    out
  end

  def test_a_library_of_another_abi_version_is_refused_with_one_clear_error
    fake = fake_library
    out, err, status = run_ruby(<<~RUBY, env: { "FFITEL_LIBRARY" => fake })
      require "ffitel"
      begin
        Ffitel.init_console
      rescue Ffitel::Error => e
        puts "Error: \#{e.message}"
      end
      Ffitel.info("still logs")
    RUBY
    assert_success(out, err, status)
    errors = out.lines.grep(/\AError:/)
    assert_equal 1, errors.size, out
    msg = errors.first
    assert_includes msg, fake
    assert_includes msg, "ABI version 999"
    assert_includes msg, "needs ABI version 1"
    assert_includes msg, "9.9.9"
    assert_includes err, "still logs"
  end

  def test_the_real_library_passes_the_abi_check
    Ffitel::Runtime.load!
    assert_equal Ffitel::Native::ABI_VERSION, Ffitel::Native.ffitel_abi_version
  end

  SECRET = "SECRET123"
  EXE = File.expand_path("../exe/ffitel", __dir__)

  # `ffitel doctor` (the gem executable) in a fresh process, outside the
  # checkout. Returns [stdout, stderr, status].
  def run_doctor(env, timeout: 60)
    run_ruby("load #{EXE.dump}", env: env.merge("FFITEL_LOG_FORMAT" => "text"), timeout: timeout, args: ["doctor"])
  end

  def closed_port
    s = TCPServer.new("127.0.0.1", 0)
    port = s.addr[1]
    s.close # nothing listens there now
    port
  end

  def signal_line(out, signal)
    out.lines.find { |l| l.strip.start_with?("#{signal} ") } || flunk("no #{signal} line in:\n#{out}")
  end

  def test_doctor_against_a_live_collector_reports_ok_for_every_signal
    service = "rb-doctor-#{rand(1 << 30)}"
    env = collector.env(service).merge("OTEL_EXPORTER_OTLP_HEADERS" => "authorization=Bearer #{SECRET}")
    out, err, status = run_doctor(env)
    assert_equal 0, status.exitstatus, out + err[-3000..].to_s
    %w[logs traces metrics].each do |signal|
      line = signal_line(out, signal)
      assert_match(/ ok \(\d+ ms\)/, line)
      assert_includes line, env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    end
    assert_includes out, "library: #{File.realpath(ENV.fetch('FFITEL_LIBRARY'))} (version #{Ffitel::VERSION}, ABI 1)"
    assert_includes out, "result: ok"
    assert_includes out, service
    assert_includes out, "pipeline stats:"
    assert_includes out, "authorization=REDACTED"
    refute_includes out + err, SECRET
    assert wait_for { collector.logs.any? { |r| r["service"] == service && r["body"] == "ffitel doctor: test log record" } },
           "the test log record did not arrive"
    assert wait_for { collector.spans.any? { |s| s["service"] == service && s["name"] == "ffitel doctor" } },
           "the test span did not arrive"
    assert wait_for { collector.metric_points.any? { |m| m["service"] == service && m["name"] == "ffitel.doctor.checks" } },
           "the test metric point did not arrive"
  end

  def test_doctor_against_a_closed_port_exits_1_within_the_bound_naming_the_endpoint
    endpoint = "http://127.0.0.1:#{closed_port}"
    # The export timeout is far longer than the bound: the doctor must stop at
    # FFITEL_SHUTDOWN_TIMEOUT_MS, not at the exporter's own timeout (the 50 s
    # guard of run_ruby would then fail the test).
    out, err, status = run_doctor({ "TELEMETRY_ENABLED" => "true", "OTEL_EXPORTER_OTLP_ENDPOINT" => endpoint,
                                    "OTEL_EXPORTER_OTLP_TIMEOUT" => "120000", "FFITEL_SHUTDOWN_TIMEOUT_MS" => "1500",
                                    "OTEL_EXPORTER_OTLP_HEADERS" => "x-api-key=#{SECRET}" }, timeout: 50)
    assert_equal 1, status.exitstatus, out + err[-3000..].to_s
    assert_includes out, "each bounded by 1500 ms"
    %w[logs traces metrics].each do |signal|
      line = signal_line(out, signal)
      assert_includes line, "FAILED"
      assert_includes line, endpoint
    end
    assert_includes out, "did not reach #{endpoint}"
    assert_includes out, "connection refused"
    refute_includes out + err, SECRET
  end

  def test_doctor_with_telemetry_disabled_exits_2_and_says_why
    out, err, status = run_doctor({ "OTEL_EXPORTER_OTLP_HEADERS" => "authorization=Bearer #{SECRET}" })
    assert_equal 2, status.exitstatus, out + err[-3000..].to_s
    assert_includes out, "export is off: TELEMETRY_ENABLED is not true"
    refute_includes out + err, SECRET
  end

  def test_the_gemspec_ships_the_executable
    spec = Gem::Specification.load(File.expand_path("../ffitel.gemspec", __dir__))
    assert_equal ["ffitel"], spec.executables
    assert_includes spec.files, "exe/ffitel"
    assert_includes spec.files, "lib/ffitel/doctor.rb"
  end
end
