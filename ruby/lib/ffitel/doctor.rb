# frozen_string_literal: true

require "json"
require "ffitel"

module Ffitel
  # `ffitel doctor`: is this worker's telemetry getting through? The checks
  # are the library's (ffitel_doctor_json); this module prints them. Exit
  # status: 0 every exported signal got through, 1 one did not (or the
  # library could not be loaded), 2 export is off.
  module Doctor
    EXIT_OK = 0
    EXIT_FAILED = 1
    EXIT_DISABLED = 2

    module_function

    # Runs the doctor, prints the report on +out+ and returns the exit status.
    def run(out = $stdout, timeout_ms: -1)
      out.puts "ffitel doctor (ruby gem #{Ffitel::VERSION})"
      begin
        Runtime.load!
        json = Native.read_string(16_384) { |buf, cap| Native.ffitel_doctor_json(timeout_ms, buf, cap) }
      rescue Ffitel::Error => e
        out.puts "library: #{Runtime.library_path || 'not found'}"
        out.puts "result: FAILED: the library could not be used: #{e.message}"
        return EXIT_FAILED
      end
      if json.nil?
        out.puts "result: FAILED: this process was forked after the library was loaded"
        return EXIT_FAILED
      end
      path = File.realpath(Runtime.library_path) rescue Runtime.library_path
      out.puts "library: #{path} (version #{Native.ffitel_version}, ABI #{Native.ffitel_abi_version})"
      report = JSON.parse(json)
      print_report(report, out)
      code = Integer(report.fetch("exit_code", EXIT_FAILED))
      # Whatever was not sent within the bound is not waited for again.
      Runtime.bounded(:ffitel_shutdown, code == EXIT_FAILED ? 0 : nil)
      code
    end

    # Prints the configuration, the per-signal results, the stats and the verdict.
    def print_report(report, out)
      out.puts "configuration (secrets redacted):"
      settings = report["config"] || []
      width = settings.map { |s| s["key"].size }.max || 0
      settings.each { |s| out.puts "  #{s['key'].ljust(width)}  #{s['value']}" }
      signals = report["signals"] || []
      if report["status"] == "disabled"
        out.puts "export: off (#{report['disabled_reason']})"
      else
        out.puts "export (each bounded by #{report['timeout_ms']} ms):"
        signals.each do |s|
          where = [s["exporter"], s["protocol"], s["endpoint"]].reject { |v| v.nil? || v.empty? }.join(" ")
          result =
            if !s["tested"] then "not pushed"
            elsif s["ok"] then "ok (#{s['ms']} ms)"
            else "FAILED after #{s['ms']} ms: #{s['error']}"
            end
          out.puts "  #{s['signal'].ljust(7)}  #{result}  [#{where}]"
        end
      end
      stats = report["stats"] || {}
      out.puts "pipeline stats:"
      %w[logs spans].each do |sig|
        st = stats[sig] || {}
        out.puts "  #{sig.ljust(7)}  " + %w[emitted exported dropped failed pending].map { |k| "#{k}=#{st[k] || 0}" }.join(" ")
      end
      out.puts "  metrics  exports=#{stats['metric_exports'] || 0} failures=#{stats['metric_export_failures'] || 0}"
      out.puts "  input_errors=#{stats['input_errors'] || 0}"
      case report["status"]
      when "ok"
        out.puts "result: ok: every exported signal got through"
      when "disabled"
        out.puts "result: export is off: #{report['disabled_reason']} " \
                 "(set TELEMETRY_ENABLED=true and leave OTEL_SDK_DISABLED unset to export)"
      else
        failed = signals.select { |s| s["tested"] && !s["ok"] }
        out.puts "result: FAILED: " + failed.map { |s| "#{s['signal']} did not reach #{s['endpoint'] || s['exporter']}" }.join("; ")
      end
    end
  end
end
