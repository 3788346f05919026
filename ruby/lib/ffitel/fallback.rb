# frozen_string_literal: true

module Ffitel
  # Internal: where records go when the library cannot take them (it is not
  # found, or this is a child forked after it was loaded): Ruby's own Logger
  # on $stderr, in the library's logfmt shape, after one warning per process
  # that says why. Honours LOG_LEVEL as the library reads it.
  module Fallback
    @logger = nil
    @warned = nil # the pid that has had the warning
    @threshold = nil

    class << self
      # Logs one record; writes +reason+ first, once per process. Returns
      # false (the record did not reach the library). Never raises.
      def emit(severity, msg, attrs, reason)
        log = logger
        unless @warned == Process.pid
          @warned = Process.pid
          log.add(::Logger::WARN, reason)
        end
        return false if severity < threshold

        fields = Thread.current[FIELDS_KEY]
        attrs = fields.merge(attrs) if fields
        text = msg.to_s
        unless attrs.empty?
          text = +text
          attrs.each { |k, v| text << " " << k.to_s << "=" << (v.is_a?(String) && !v.match?(/[\s"=]/) ? v : v.inspect) }
        end
        log.add(ruby_severity(severity), text)
        false
      rescue StandardError
        false
      end

      # LOG_LEVEL as the library reads it, for when the library is not loaded.
      def threshold
        @threshold ||=
          case ENV["LOG_LEVEL"].to_s.downcase
          when "trace" then TRACE
          when "debug" then DEBUG
          when "info" then INFO
          when "warn", "warning" then WARN
          when "error" then ERROR
          else
            env = ENV["DEPLOYMENT_ENVIRONMENT"] || ENV["TASKER_ENV"] || ENV["APP_ENV"] || "development"
            env.downcase.start_with?("prod") ? INFO : DEBUG
          end
      end

      private

      def logger
        @logger ||= begin
          require "logger"
          require "time"
          l = ::Logger.new($stderr, progname: "ffitel")
          l.formatter = proc { |sev, time, _prog, m| "time=#{time.utc.iso8601(3)} level=#{sev} pid=#{Process.pid} msg=#{m}\n" }
          l
        end
      end

      def ruby_severity(severity)
        if severity >= FATAL then ::Logger::FATAL
        elsif severity >= ERROR then ::Logger::ERROR
        elsif severity >= WARN then ::Logger::WARN
        elsif severity >= INFO then ::Logger::INFO
        else ::Logger::DEBUG
        end
      end
    end
  end
end
