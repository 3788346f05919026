# frozen_string_literal: true

require "logger"

module Ffitel
  # A ::Logger whose records go through ffitel: to the console in phase 1,
  # and to OTLP as well in phase 2. Hand it to anything that takes a Logger:
  #
  #   Rails.logger = Ffitel.logger          # config.logger = Ffitel.logger
  #   Sidekiq.configure_server { |c| c.logger = Ffitel.logger }
  #
  # Everything ::Logger offers works: debug/info/warn/error/fatal/unknown with
  # a message or a block, add/log, progname, level= with an Integer, Symbol
  # or String, debug? and friends, <<, close. The severity methods also take
  # attributes as keywords: logger.info("charged", order_id: 42). The library formats records, so
  # a formatter is accepted and kept but not called; tags of an
  # ActiveSupport::TaggedLogging formatter become the "tags" attribute.
  # Creating one loads nothing; the first record does.
  class Logger < ::Logger
    # Note: inside this class DEBUG, INFO... would resolve lexically to
    # Ffitel's severity numbers, so ::Logger's are always spelled out.
    # ::Logger severity -> OpenTelemetry SeverityNumber.
    SEVERITY_NUMBERS = [Ffitel::DEBUG, Ffitel::INFO, Ffitel::WARN, Ffitel::ERROR, Ffitel::FATAL, Ffitel::FATAL].freeze

    # Fields bound with #with_fields (no block): sent with every record.
    attr_reader :fields

    def initialize(progname: nil, level: ::Logger::DEBUG, formatter: nil, fields: nil)
      super(nil, progname: progname, level: level, formatter: formatter)
      @fields = fields&.freeze
      @local_level_key = :"__ffitel_logger_level_#{object_id}"
    end

    # The effective level: a #silence / #with_level override in the current
    # fiber, else the level set with level=.
    def level
      Thread.current[@local_level_key] || @level
    end

    def add(severity, message = nil, progname = nil, &block)
      record(severity, message, progname, nil, &block)
    end
    alias log add

    # Beyond ::Logger: attributes as keywords, logger.info("charged", order_id: 42).
    %w[debug info warn error fatal unknown].each_with_index do |name, severity|
      class_eval <<~RUBY, __FILE__, __LINE__ + 1
        def #{name}(progname = nil, **attrs, &block)
          # info(key: v) alone logs the Hash, as ::Logger does.
          return record(#{severity}, nil, attrs, nil, &block) if progname.nil? && !block && !attrs.empty?

          record(#{severity}, nil, progname, attrs.empty? ? nil : attrs, &block)
        end
      RUBY
    end

    private def record(severity, message, progname, extra)
      severity ||= ::Logger::UNKNOWN
      return true if severity < level

      progname ||= @progname
      if message.nil?
        if block_given?
          message = yield
        else
          message = progname
          progname = @progname
        end
      end
      number = SEVERITY_NUMBERS[severity] || Ffitel::FATAL
      attrs = @fields ? @fields.dup : {}
      attrs.merge!(extra) if extra
      attrs[:progname] = progname.to_s if progname
      if @formatter.respond_to?(:current_tags)
        tags = @formatter.current_tags
        attrs[:tags] = tags.map(&:to_s) unless tags.empty?
      end
      case message
      when String
        Logging.emit(number, message, attrs)
      when Exception
        attrs[:"exception.type"] = message.class.name
        attrs[:"exception.message"] = message.message
        attrs[:"exception.stacktrace"] = message.backtrace.join("\n") if message.backtrace
        Logging.emit(number, "#{message.message} (#{message.class})", attrs)
      else
        Logging.emit(number, message.inspect, attrs)
      end
      true
    rescue StandardError
      true # logging never raises into the host
    end

    # debug? info? warn? error? fatal?: this logger's level and LOG_LEVEL.
    %w[debug info warn error fatal].each_with_index do |name, severity|
      define_method(:"#{name}?") { level <= severity && Ffitel.enabled?(SEVERITY_NUMBERS[severity]) }
    end

    # Logs msg as-is at ::Logger::INFO (the library adds the timestamp and level).
    def <<(msg)
      add(::Logger::INFO, msg.to_s.chomp)
      self
    end

    def close; end

    def reopen(_logdev = nil)
      self
    end

    # Runs the block with the level raised to +temporary_level+ in the current
    # fiber only (ActiveSupport's LoggerSilence interface).
    def silence(temporary_level = ::Logger::ERROR)
      with_level(temporary_level) { yield self }
    end

    # Runs the block with +severity+ as the level in the current fiber only.
    def with_level(severity)
      key = @local_level_key
      previous = Thread.current[key]
      Thread.current[key] = level_number(severity)
      yield self
    ensure
      Thread.current[key] = previous
    end

    # With a block: Ffitel.with_fields for the block. Without: a logger that
    # adds +attrs+ to each of its records (like slog's With).
    def with_fields(**attrs, &block)
      return Ffitel.with_fields(**attrs, &block) if block

      child = self.class.new(progname: @progname, level: @level, formatter: @formatter,
                             fields: (@fields || {}).merge(attrs))
      child
    end

    # ActiveSupport::TaggedLogging-style tags, kept in the "tags" attribute.
    # With a block: for the block (fiber-local); without: a tagged logger.
    def tagged(*tags, &block)
      tags = tags.flatten.compact.map(&:to_s)
      if block
        current = Array(Ffitel.current_fields[:tags])
        return Ffitel.with_fields(tags: current + tags) { block.call(self) }
      end
      with_fields(tags: Array(@fields && @fields[:tags]) + tags)
    end

    private

    def level_number(severity)
      return severity if severity.is_a?(Integer)

      case severity.to_s.downcase
      when "debug" then ::Logger::DEBUG
      when "info" then ::Logger::INFO
      when "warn" then ::Logger::WARN
      when "error" then ::Logger::ERROR
      when "fatal" then ::Logger::FATAL
      when "unknown" then ::Logger::UNKNOWN
      else raise ArgumentError, "invalid log level: #{severity}"
      end
    end
  end
end
